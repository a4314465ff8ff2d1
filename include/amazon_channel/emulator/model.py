"""The world's vocabulary: Amazon's fulfillment statuses and the records an order is kept as.

An order is an immutable OrderRecord (what Amazon decided: creation, marketplace, channel, fate, scheduled
status changes) plus, once the seller or a buyer acts, a mutable OrderState (confirmed packages, cancellations).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .marketplaces import Marketplace

PENDING_AVAILABILITY = "PENDING_AVAILABILITY"
PENDING = "PENDING"
UNSHIPPED = "UNSHIPPED"
PARTIALLY_SHIPPED = "PARTIALLY_SHIPPED"
SHIPPED = "SHIPPED"
CANCELLED = "CANCELLED"
UNPRICED_STATUSES = {PENDING, PENDING_AVAILABILITY}
SHIP_BY_SECONDS = 2 * 86400  # a merchant order's latest ship date, counted from its creation
# The delivery promise (deliverByWindow), counted from the ship-by date (merchant) or creation (FBA): fixed, not
# drawn, so the seeded world stays as it was (order_json.delivery_promise).
DELIVERY_EARLIEST_SECONDS = 2 * 86400
DELIVERY_PROMISE_SECONDS = 5 * 86400

# Who asks for and who carries out a cancellation (Orders v2026-01-01 ItemCancellation).
BUYER, MERCHANT, AMAZON = "BUYER", "MERCHANT", "AMAZON"


@dataclass
class Package:
    package_reference_id: str
    carrier_code: str
    carrier_name: str | None
    shipping_method: str | None
    tracking_number: str
    ship_date: str
    items: dict[str, int]  # orderItemId -> quantity
    received_at: str
    revision: int = 1


@dataclass
class OrderState:
    """What the seller or a buyer changed on an order; the rest of the order is derived."""

    packages: dict[str, Package] = field(default_factory=dict)
    first_package_at: int | None = None
    change_times: list[int] = field(default_factory=list)
    requests: dict[str, str] = field(default_factory=dict)  # orderItemId -> reason, asked through the admin API
    cancelled: dict[str, str | None] = field(default_factory=dict)  # orderItemId -> CancelReason, by the seller
    closed_at: int | None = None  # when the seller's cancellations covered every item


@dataclass(frozen=True)
class OrderRecord:
    idx: int
    order_id: str
    created: int  # epoch seconds
    marketplace: Marketplace
    fba: bool
    fate: str
    events: tuple[tuple[int, str], ...]  # (time, status) transitions from the static lifecycle
    seed: int
    request_at: int | None = None  # when the buyer of a "buyer_request" order asks to cancel
