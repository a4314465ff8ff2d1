"""The workflow's business rules in one place (workflow.md): Amazon's marketplaces and currencies, order statuses
and what they mean for Commerce, which orders are due a Commerce order, and how a buyer is named when Amazon
shares no name or e-mail.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: the emulator reads the marketplaces without loading pandas or SQLAlchemy
    import pandas as pd

# ---- marketplaces and currencies --------------------------------------------------------------------------


@dataclass(frozen=True)
class Marketplace:
    marketplace_id: str
    name: str
    country: str  # ISO 3166 code of the marketplace's country (UK is GB)
    currency: str  # the currency orders are paid in
    region: str  # the SP-API region that serves it: na, eu or fe


# Amazon's marketplaces (developer docs, "Marketplace IDs"); the Order Settings can add more ids.
MARKETPLACES = (
    Marketplace("ATVPDKIKX0DER", "Amazon.com", "US", "USD", "na"),
    Marketplace("A2EUQ1WTGCTBG2", "Amazon.ca", "CA", "CAD", "na"),
    Marketplace("A1AM78C64UM0Y8", "Amazon.com.mx", "MX", "MXN", "na"),
    Marketplace("A2Q3Y263D00KWC", "Amazon.com.br", "BR", "BRL", "na"),
    Marketplace("A1F83G8C2ARO7P", "Amazon.co.uk", "GB", "GBP", "eu"),
    Marketplace("A1PA6795UKMFR9", "Amazon.de", "DE", "EUR", "eu"),
    Marketplace("A13V1IB3VIYZZH", "Amazon.fr", "FR", "EUR", "eu"),
    Marketplace("APJ6JRA9NG5V4", "Amazon.it", "IT", "EUR", "eu"),
    Marketplace("A1RKKUPIHCS9HS", "Amazon.es", "ES", "EUR", "eu"),
    Marketplace("A1805IZSGTT6HS", "Amazon.nl", "NL", "EUR", "eu"),
    Marketplace("AMEN7PMS3EDWL", "Amazon.com.be", "BE", "EUR", "eu"),
    Marketplace("A28R8C7NBKEWEA", "Amazon.ie", "IE", "EUR", "eu"),
    Marketplace("A2NODRKZP88ZB9", "Amazon.se", "SE", "SEK", "eu"),
    Marketplace("A1C3SOZRARQ6R3", "Amazon.pl", "PL", "PLN", "eu"),
    Marketplace("A33AVAJ2PDY3EV", "Amazon.com.tr", "TR", "TRY", "eu"),
    Marketplace("ARBP9OOSHTCHU", "Amazon.eg", "EG", "EGP", "eu"),
    Marketplace("A2VIGQ35RCS4UG", "Amazon.ae", "AE", "AED", "eu"),
    Marketplace("A17E79C6D8DWNP", "Amazon.sa", "SA", "SAR", "eu"),
    Marketplace("A21TJRUUN4KGV", "Amazon.in", "IN", "INR", "eu"),
    Marketplace("AE08WJ6YKNBMC", "Amazon.co.za", "ZA", "ZAR", "eu"),
    Marketplace("A1VC38T7YXB528", "Amazon.co.jp", "JP", "JPY", "fe"),
    Marketplace("A39IBJ37TRP1C6", "Amazon.com.au", "AU", "AUD", "fe"),
    Marketplace("A19VAU5U5O7RUS", "Amazon.sg", "SG", "SGD", "fe"),
)
MARKETPLACE_BY_ID = {m.marketplace_id: m for m in MARKETPLACES}
KNOWN_MARKETPLACE_IDS = [m.marketplace_id for m in MARKETPLACES]
MARKETPLACE_NAMES = {m.marketplace_id: m.name for m in MARKETPLACES}

def marketplaces_outside_region(region: str, marketplace_ids: list[str]) -> list[str]:
    """Known marketplaces the region's endpoint does not serve (Amazon answers 400 InvalidInput for them)."""
    return [m for m in marketplace_ids if m in MARKETPLACE_BY_ID and MARKETPLACE_BY_ID[m].region != region]


# ISO 4217 currencies Amazon marketplaces use, with their minor-unit digits (JPY has none).
CURRENCY_DECIMALS = {"USD": 2, "CAD": 2, "MXN": 2, "BRL": 2, "GBP": 2, "EUR": 2, "SEK": 2, "PLN": 2, "TRY": 2,
                     "EGP": 2, "AED": 2, "SAR": 2, "INR": 2, "JPY": 0, "AUD": 2, "SGD": 2, "ZAR": 2, "CNY": 2}

# ---- order statuses ----------------------------------------------------------------------------------------

# Amazon's fulfillmentStatus (v2026-01-01) -> the channel status the Commerce extension shows.
CHANNEL_STATUS = {"PENDING_AVAILABILITY": "PendingAvailability", "PENDING": "Pending", "UNSHIPPED": "Unshipped",
                  "PARTIALLY_SHIPPED": "PartiallyShipped", "SHIPPED": "Shipped", "CANCELLED": "Canceled",
                  "UNFULFILLABLE": "Unfulfillable"}
AMAZON_STATUSES = list(CHANNEL_STATUS)
PRICED_AMAZON_STATUSES = ["UNSHIPPED", "PARTIALLY_SHIPPED", "SHIPPED"]  # Amazon shows no amounts before these
FULFILLMENT_CHANNEL = {"MERCHANT": "MFN", "AMAZON": "AFN"}  # fulfilledBy -> Commerce extension's code

MERCHANT_ORDER_STATUSES = ("Unshipped", "PartiallyShipped", "Shipped")  # a merchant order gets a Commerce order
PENDING_STATUSES = ("Pending", "PendingAvailability")  # not listed in the Orders view; stock may be reserved


def due_for_commerce_order(merchant_marketplaces: list[str] | None = None, fba_marketplaces: list[str] | None = None):
    """Channel orders whose Amazon status calls for a Commerce order (workflow.md): merchant orders once Unshipped,
    FBA orders once Shipped; optionally only in the given marketplaces."""
    from sqlalchemy import and_, or_

    from .commerce.schema import channel_amazon_order

    o = channel_amazon_order.c
    merchant = and_(o.fulfillment_channel == "MFN", o.status.in_(MERCHANT_ORDER_STATUSES))
    fba = and_(o.fulfillment_channel == "AFN", o.status == "Shipped")
    if merchant_marketplaces is not None:
        merchant = and_(merchant, o.marketplace_id.in_(merchant_marketplaces))
    if fba_marketplaces is not None:
        fba = and_(fba, o.marketplace_id.in_(fba_marketplaces))
    return or_(merchant, fba)


# ---- cancellations -------------------------------------------------------------------------------------------

# The CancelReason values of the order-acknowledgement feed (and the Commerce extension's "Cancel Order").
CANCEL_REASONS = ("NoInventory", "ShippingAddressUndeliverable", "CustomerExchange", "BuyerCanceled",
                  "GeneralAdjustment", "CarrierCreditDecision", "RiskAssessmentInformationNotValid",
                  "CarrierCoverageFailure", "CustomerReturn", "MerchandiseNotReceived")
# Orders v2026-01-01 CancellationRequest.requester and CancellationExecution.cancelledBy.
CANCEL_REQUESTERS = ("BUYER",)
CANCELLED_BY = ("BUYER", "MERCHANT", "AMAZON")


def commerce_state(status: pd.Series, fulfillment_channel: pd.Series) -> pd.Series:
    """The Commerce state an order in this channel status should have (NA: no Commerce order yet)."""
    import pandas as pd

    merchant = fulfillment_channel.eq("MFN")
    state = pd.Series(pd.NA, index=status.index, dtype="string")
    state[merchant & status.isin(MERCHANT_ORDER_STATUSES)] = "processing"
    state[~merchant & status.eq("Shipped")] = "complete"
    state[status.eq("Canceled")] = "canceled"
    return state


# ---- buyer identity ------------------------------------------------------------------------------------------

PLACEHOLDER_NAME = ("Amazon", "Customer")
NOT_SHARED = "[not shared by Amazon]"  # street or phone Amazon withholds (FBA)
PLACEHOLDER_EMAIL_DOMAIN = "buyer.amazon.invalid"  # RFC 2606: can never receive mail


def buyer_identity(frame: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(first name, last name, order email) for Commerce, with marked placeholders where Amazon shares none
    (FBA, or an application without the PII role). The placeholder email is for the order only, never a
    customer key. `frame` has string columns buyer_name, ship_name, buyer_email and amazon_order_id."""
    name = frame["buyer_name"].fillna(frame["ship_name"])
    split = name.str.rsplit(" ", n=1, expand=True).reindex(columns=[0, 1])
    first = split[0].fillna(PLACEHOLDER_NAME[0]).astype("string")
    last = split[1].fillna(split[0]).fillna(PLACEHOLDER_NAME[1]).astype("string")
    email = frame["buyer_email"].fillna(frame["amazon_order_id"] + "@" + PLACEHOLDER_EMAIL_DOMAIN).astype("string")
    return first, last, email
