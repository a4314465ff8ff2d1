"""The marketplaces the emulator sells in, and how the seeded world uses them.

Amazon's facts about a marketplace (id, name, country, currency and its decimals) come from
amazon_channel.rules; only what is the emulator's own is written here: a short code (keys seed_data's names,
cities and streets), the factor turning catalog USD prices into the local currency, and the share of orders.
Searches accept only these marketplaces; any other marketplaceId is answered with a 400.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from ..rules import CURRENCY_DECIMALS
from ..rules import MARKETPLACE_BY_ID as AMAZON_MARKETPLACES


@dataclass(frozen=True)
class Marketplace:
    code: str  # the emulator's short code: US, UK, DE, JP
    marketplace_id: str
    name: str
    currency: str
    decimals: int  # minor-unit digits of the currency
    country: str  # ISO 3166 (the UK is GB)
    price_factor: Decimal  # catalog prices are in USD; this turns them into the local currency
    weight: int  # relative share of the seeded orders

    @property
    def site(self) -> str:
        """The marketplace's web domain, e.g. amazon.co.uk (buyer e-mails are @marketplace.<site>)."""
        return self.name.lower()


def _marketplace(code: str, marketplace_id: str, price_factor: str, weight: int) -> Marketplace:
    amazon = AMAZON_MARKETPLACES[marketplace_id]
    return Marketplace(code, marketplace_id, amazon.name, amazon.currency, CURRENCY_DECIMALS[amazon.currency],
                       amazon.country, Decimal(price_factor), weight)


MARKETPLACES = (
    _marketplace("US", "ATVPDKIKX0DER", "1", 55),
    _marketplace("UK", "A1F83G8C2ARO7P", "0.79", 20),
    _marketplace("DE", "A1PA6795UKMFR9", "0.92", 15),
    _marketplace("JP", "A1VC38T7YXB528", "150", 10),
)
MARKETPLACE_BY_ID = {m.marketplace_id: m for m in MARKETPLACES}
MARKETPLACE_WEIGHTS = tuple(m.weight for m in MARKETPLACES)
