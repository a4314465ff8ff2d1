"""The marketplaces the emulator sells in, and how the seeded world uses them.

Amazon's facts about a marketplace (id, name, country, currency and its decimals) come from
amazon_channel.rules; only what is the emulator's own is written here: a short code (keys seed_data's names,
cities and streets), the factor turning catalog USD prices into the local currency, and the share of orders.
Searches accept only these marketplaces; any other marketplaceId is answered with a 400.
With `--sellers`, each region's worlds sell in REGION_MARKETPLACES instead, and a region's endpoint accepts only the
marketplaces Amazon serves there (amazon_channel.rules).
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

# The marketplaces a seller's world sells in per region (`--sellers`); the first of each is the region's main one.
REGION_MARKETPLACES = {
    "na": (MARKETPLACES[0],
           _marketplace("CA", "A2EUQ1WTGCTBG2", "1.36", 20),
           _marketplace("MX", "A1AM78C64UM0Y8", "17", 15),
           _marketplace("BR", "A2Q3Y263D00KWC", "5", 10)),
    "eu": (MARKETPLACES[1], MARKETPLACES[2],
           _marketplace("FR", "A13V1IB3VIYZZH", "0.92", 15),
           _marketplace("IT", "APJ6JRA9NG5V4", "0.92", 10),
           _marketplace("ES", "A1RKKUPIHCS9HS", "0.92", 10),
           _marketplace("TR", "A33AVAJ2PDY3EV", "32", 5)),
    "fe": (MARKETPLACES[3],
           _marketplace("AU", "A39IBJ37TRP1C6", "1.5", 25),
           _marketplace("SG", "A19VAU5U5O7RUS", "1.35", 10)),
}
REGIONS = tuple(REGION_MARKETPLACES)
MARKETPLACE_BY_ID = {m.marketplace_id: m for m in MARKETPLACES}  # what the single-seller endpoint accepts
# What each region's endpoint accepts: every marketplace Amazon serves there, sold in or not.
REGION_ACCEPTS = {region: frozenset(m.marketplace_id for m in AMAZON_MARKETPLACES.values() if m.region == region)
                  for region in REGIONS}
