"""The emulator's order world: seeded, deterministic, and moving through Amazon's lifecycle on its own clock.

Each order is kept as a compact record (creation time, marketplace, channel, fate); its full JSON is
derived on demand from a per-order seed. Status changes are events on a time line sorted once at start,
so a search is a bisect plus one page of work, however large the world is.

Merchant orders: PENDING -> UNSHIPPED (or CANCELLED), some later CANCELLED by the buyer while unshipped,
then PARTIALLY_SHIPPED / SHIPPED only when the seller confirms packages. FBA orders: PENDING -> SHIPPED
(Amazon ships) or CANCELLED. Pre-orders wait in PENDING_AVAILABILITY first.
"""

from __future__ import annotations

import bisect
import heapq
import random
import string
from dataclasses import dataclass, field
from decimal import Decimal

from ..timeutil import from_epoch, iso_z

PENDING_AVAILABILITY = "PENDING_AVAILABILITY"
PENDING = "PENDING"
UNSHIPPED = "UNSHIPPED"
PARTIALLY_SHIPPED = "PARTIALLY_SHIPPED"
SHIPPED = "SHIPPED"
CANCELLED = "CANCELLED"
UNPRICED_STATUSES = {PENDING, PENDING_AVAILABILITY}


@dataclass(frozen=True)
class Marketplace:
    code: str
    marketplace_id: str
    name: str
    currency: str
    decimals: int
    country: str
    price_factor: Decimal  # catalog prices are in USD; this turns them into the local currency


MARKETPLACES = (
    Marketplace("US", "ATVPDKIKX0DER", "Amazon.com", "USD", 2, "US", Decimal("1")),
    Marketplace("UK", "A1F83G8C2ARO7P", "Amazon.co.uk", "GBP", 2, "GB", Decimal("0.79")),
    Marketplace("DE", "A1PA6795UKMFR9", "Amazon.de", "EUR", 2, "DE", Decimal("0.92")),
    Marketplace("JP", "A1VC38T7YXB528", "Amazon.co.jp", "JPY", 0, "JP", Decimal("150")),
)
MARKETPLACE_BY_ID = {m.marketplace_id: m for m in MARKETPLACES}
MARKETPLACE_WEIGHTS = (55, 20, 15, 10)

CATALOG = tuple(
    (f"SKU-{n:04d}", f"B0{n:08d}", title, Decimal(price))
    for n, (title, price) in enumerate(
        [
            ("Stainless Steel Water Bottle 750 ml", "19.99"),
            ("Bamboo Cutting Board, Large", "24.50"),
            ("USB-C Charging Cable 2 m", "9.99"),
            ("Wireless Ergonomic Mouse", "34.00"),
            ("Cotton Tote Bag", "12.00"),
            ("Cast Iron Skillet 26 cm", "39.95"),
            ("LED Desk Lamp with Dimmer", "45.00"),
            ("Yoga Mat 6 mm", "29.99"),
            ("Ceramic Pour-Over Coffee Dripper", "22.75"),
            ("Noise Cancelling Earbuds", "89.00"),
            ("Hardcover Notebook A5, Dotted", "14.25"),
            ("Kids' Rain Boots", "27.40"),
            ("Garden Hose Nozzle, 8 Patterns", "11.49"),
            ("Silicone Baking Mat Set", "16.80"),
            ("Mechanical Keyboard, Brown Switches", "119.00"),
            ("Merino Wool Hiking Socks (3 pairs)", "32.00"),
        ],
        start=1,
    )
)

NAMES = {
    "US": (["James", "Mary", "Robert", "Patricia", "Michael", "Linda", "José", "Zoë"],
           ["Smith", "Johnson", "Williams", "García", "O'Brien", "Nguyen", "Miller", "Davis"]),
    "UK": (["Oliver", "Amelia", "George", "Isla", "Siobhán", "Harry", "Aoife", "Noah"],
           ["Jones", "Taylor", "Brown", "Wilson", "Ó Súilleabháin", "Evans", "Thomas", "Roberts"]),
    "DE": (["Jürgen", "Ünal", "Greta", "Lukas", "Mia", "Björn", "Sören", "Anna"],
           ["Müller", "Schäfer", "Weiß", "Groß", "Köhler", "Fischer", "Meyer", "Straßer"]),
    "JP": (["太郎", "花子", "翔太", "さくら", "健", "陽菜", "蓮", "美咲"],
           ["山田", "佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "中村"]),
}
CITIES = {
    "US": [("Seattle", "WA", "98101"), ("Austin", "TX", "73301"), ("Brooklyn", "NY", "11201")],
    "UK": [("London", "England", "SW1A 1AA"), ("Manchester", "England", "M1 1AE"), ("Cardiff", "Wales", "CF10 1EP")],
    "DE": [("München", "Bayern", "80331"), ("Köln", "Nordrhein-Westfalen", "50667"), ("Berlin", "Berlin", "10115")],
    "JP": [("東京都", "東京都", "100-0001"), ("大阪市", "大阪府", "530-0001"), ("札幌市", "北海道", "060-0001")],
}
STREETS = {
    "US": ["123 Main Street", "77 Lakeview Ave", "9 Elm Court"],
    "UK": ["10 Downing Street", "221B Baker Street", "4 Privet Drive"],
    "DE": ["Hauptstraße 5", "Königsallee 12", "Schloßgasse 3"],
    "JP": ["千代田区丸の内1-1", "北区梅田3-1-1", "中央区北1条西2"],
}
GIFT_MESSAGES = ["Happy birthday!", "Alles Gute zum Geburtstag 🎉", "お誕生日おめでとう", "Merry Christmas & a happy new year"]

# How orders end up, as (weight, fate); chosen once per order from its seed.
MERCHANT_FATES = ((80, "ship"), (6, "cancel_pending"), (6, "cancel_unshipped"), (8, "preorder"))
FBA_FATES = ((93, "amazon_ships"), (7, "cancel_pending"))
FBA_SHARE = 0.35


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
    """What the seller changed on an order (confirmed packages); the rest of the order is derived."""

    packages: dict[str, Package] = field(default_factory=dict)
    first_package_at: int | None = None
    change_times: list[int] = field(default_factory=list)


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


def _weighted(rng: random.Random, table) -> str:
    return rng.choices([v for _, v in table], weights=[w for w, _ in table])[0]


def _money(amount: Decimal, mp: Marketplace) -> dict:
    quantum = Decimal(1).scaleb(-mp.decimals)
    return {"amount": str(amount.quantize(quantum)), "currencyCode": mp.currency}


class World:
    """All orders, their lifecycle, and the seller's changes; time is passed in by the caller."""

    def __init__(self, seed: int, orders: int, start: int, end: int):
        self.seed = seed
        self.records: list[OrderRecord] = []
        self.by_id: dict[str, int] = {}
        rng = random.Random(seed)
        span = max(end - start, 1)
        created_times = sorted(start + rng.randrange(span) for _ in range(orders))
        events: list[tuple[int, int]] = []
        for idx, created in enumerate(created_times):
            record = self._make_record(idx, created, rng)
            self.records.append(record)
            self.by_id[record.order_id] = idx
            events.extend((t, idx) for t, _ in record.events)
        events.sort()
        self._event_times = [t for t, _ in events]
        self._event_idx = [i for _, i in events]
        self._created = [r.created for r in self.records]
        self.reset()

    def reset(self) -> None:
        self.states: dict[int, OrderState] = {}
        self._dynamic: list[tuple[int, int]] = []  # (time, idx) of seller-caused changes, kept sorted
        self.notifications: list[dict] = []

    def _make_record(self, idx: int, created: int, rng: random.Random) -> OrderRecord:
        mp = rng.choices(MARKETPLACES, weights=MARKETPLACE_WEIGHTS)[0]
        fba = rng.random() < FBA_SHARE
        fate = _weighted(rng, FBA_FATES if fba else MERCHANT_FATES)
        order_id = f"{rng.randrange(100, 999)}-{rng.randrange(10**6, 10**7)}-{idx % 10**7:07d}"
        verify = created + rng.randrange(5 * 60, 45 * 60)
        first = PENDING_AVAILABILITY if fate == "preorder" else PENDING
        events = [(created, first)]
        if fate == "preorder":
            events.append((created + rng.randrange(6, 48) * 3600, UNSHIPPED))
        elif fate in ("ship", "cancel_unshipped"):
            events.append((verify, UNSHIPPED))
            if fate == "cancel_unshipped":
                events.append((verify + rng.randrange(1, 12) * 3600, CANCELLED))
        elif fate == "cancel_pending":
            events.append((verify, CANCELLED))
        elif fate == "amazon_ships":
            events.append((created + rng.randrange(2, 30) * 3600, SHIPPED))
        return OrderRecord(idx, order_id, created, mp, fba, fate, tuple(events), rng.getrandbits(48))

    # ---- status on the clock -------------------------------------------------------------------

    def _static_events(self, idx: int) -> tuple[tuple[int, str], ...]:
        """Static transitions still in force: once the seller ships, Amazon's scheduled cancel never comes."""
        record = self.records[idx]
        state = self.states.get(idx)
        if state and state.first_package_at is not None:
            return tuple(e for e in record.events if e[0] <= state.first_package_at)
        return record.events

    def last_change(self, idx: int, now: int) -> tuple[int, int] | None:
        """(time, rank) of the order's latest change at `now`: rank 1 for seller changes, 0 for Amazon's."""
        best = None
        for t, _ in self._static_events(idx):
            if t <= now:
                best = (t, 0)
        state = self.states.get(idx)
        if state:
            for change_time in state.change_times:
                if change_time <= now and (best is None or (change_time, 1) > best):
                    best = (change_time, 1)
        return best

    def status(self, idx: int, now: int) -> str | None:
        """Fulfillment status at `now`; None while the order does not exist yet."""
        current = None
        for t, status in self._static_events(idx):
            if t <= now:
                current = status
        if current is None:
            return None
        if current in (UNSHIPPED, CANCELLED) and idx in self.states:
            shipped, ordered = self.quantities(idx)
            if sum(shipped.values()) > 0:
                current = SHIPPED if shipped == ordered else PARTIALLY_SHIPPED
        return current

    def ever_priced(self, idx: int, now: int) -> bool:
        return any(t <= now and s not in UNPRICED_STATUSES for t, s in self._static_events(idx))

    def quantities(self, idx: int) -> tuple[dict[str, int], dict[str, int]]:
        """(shipped, ordered) quantities per orderItemId."""
        ordered = {item["orderItemId"]: item["quantity"] for item in self.details(idx)["items"]}
        shipped = {item_id: 0 for item_id in ordered}
        for pkg in self.states.get(idx, OrderState()).packages.values():
            for item_id, qty in pkg.items.items():
                shipped[item_id] += qty
        return shipped, ordered

    # ---- searches ----------------------------------------------------------------------------

    def changes_between(self, after: int, before: int, now: int, cursor: tuple | None):
        """Yield (position, idx) for orders whose latest change at `now` lies in [after, before].

        Positions are (time, rank, idx) and strictly increase, so a page can resume after one.
        """
        start = bisect.bisect_left(self._event_times, after)
        static = ((self._event_times[k], 0, self._event_idx[k]) for k in range(start, len(self._event_times)))
        dyn_start = bisect.bisect_left(self._dynamic, (after, -1))
        dynamic = ((t, 1, i) for t, i in self._dynamic[dyn_start:])
        for position in heapq.merge(static, dynamic):
            t, rank, idx = position
            if t > before or t > now:
                return
            if cursor is not None and position <= cursor:
                continue
            if self.last_change(idx, now) == (t, rank):
                yield position, idx

    def created_between(self, after: int, before: int, now: int, cursor: tuple | None):
        """Yield (position, idx) for orders created in [after, before] and already existing at `now`."""
        start = bisect.bisect_left(self._created, after)
        for idx in range(start, len(self.records)):
            created = self._created[idx]
            if created > before or created > now:
                return
            position = (created, 0, idx)
            if cursor is None or position > cursor:
                yield position, idx

    # ---- the seller's changes ---------------------------------------------------------------------

    def confirm_package(self, idx: int, package: Package, now: int) -> bool:
        """Store a package (same reference id edits it); return True when it is a new package."""
        state = self.states.setdefault(idx, OrderState())
        previous = state.packages.get(package.package_reference_id)
        if previous is not None:
            package.revision = previous.revision + 1
        state.packages[package.package_reference_id] = package
        if state.first_package_at is None:
            state.first_package_at = now
        state.change_times.append(now)
        bisect.insort(self._dynamic, (now, idx))
        return previous is None

    # ---- order details (derived from the per-order seed) ------------------------------------------

    def details(self, idx: int) -> dict:
        """Buyer, address and items of an order; the same every time for the same seed."""
        record = self.records[idx]
        rng = random.Random(record.seed)
        mp = record.marketplace
        code = mp.code
        buyer_no = rng.randrange(max(len(self.records) // 3, 1))
        first, last = rng.choice(NAMES[code][0]), rng.choice(NAMES[code][1])
        name = f"{last} {first}" if code == "JP" else f"{first} {last}"
        business = rng.random() < 0.1
        prime = rng.random() < 0.4
        city, region, postal = rng.choice(CITIES[code])
        items = []
        for n, (sku, asin, title, usd) in enumerate(rng.sample(CATALOG, rng.randint(1, 5)), start=1):
            unit = usd * mp.price_factor
            items.append({
                "orderItemId": f"{record.idx:08d}{n:02d}{rng.randrange(10**4):04d}",
                "sku": sku, "asin": asin, "title": title,
                "quantity": rng.choice((1, 1, 1, 2, 3)),
                "unit_price": unit.quantize(Decimal(1).scaleb(-mp.decimals)),
                "gift_message": rng.choice(GIFT_MESSAGES) if rng.random() < 0.08 else None,
            })
        local = "".join(rng.choices(string.ascii_lowercase + string.digits, k=14))
        return {
            "buyer_email": f"{local}-{buyer_no}@marketplace.amazon.{ {'US': 'com', 'UK': 'co.uk', 'DE': 'de', 'JP': 'co.jp'}[code]}",
            "buyer_name": name,
            "company": f"{last} Trading Ltd." if business else None,
            "purchase_order": f"PO-{rng.randrange(10**5, 10**6)}" if business else None,
            "prime": prime,
            "street": rng.choice(STREETS[code]),
            "city": city, "region": region, "postal": postal,
            "phone": f"+{rng.randrange(10**9, 10**10)}",
            "service_level": "NEXT_DAY" if prime else "STANDARD",
            "shipping": (Decimal("4.99") * mp.price_factor).quantize(Decimal(1).scaleb(-mp.decimals)),
            "items": items,
        }

    def order_json(self, idx: int, now: int, included: set[str]) -> dict:
        """The order as Orders API v2026-01-01 returns it at `now`, with only the requested blocks."""
        record = self.records[idx]
        mp = record.marketplace
        status = self.status(idx, now)
        last_time, _ = self.last_change(idx, now)
        info = self.details(idx)
        priced = self.ever_priced(idx, now)
        shipped, _ = self.quantities(idx)
        if record.fba and status == SHIPPED:
            shipped = {item["orderItemId"]: item["quantity"] for item in info["items"]}
        programs = []
        if info["prime"]:
            programs.append("PRIME")
        if info["company"]:
            programs.append("AMAZON_BUSINESS")
        if record.fate == "preorder":
            programs.append("PREORDER")

        order: dict = {
            "orderId": record.order_id,
            "createdTime": iso_z(from_epoch(record.created)),
            "lastUpdatedTime": iso_z(from_epoch(last_time)),
            "programs": programs,
            "salesChannel": {"channelName": "AMAZON", "marketplaceId": mp.marketplace_id, "marketplaceName": mp.name},
        }
        items_json = []
        for item in info["items"]:
            product: dict = {"asin": item["asin"], "title": item["title"], "sellerSku": item["sku"],
                             "condition": {"conditionType": "NEW"}}
            if priced:
                product["price"] = {"unitPrice": _money(item["unit_price"], mp)}
            entry: dict = {"orderItemId": item["orderItemId"], "quantityOrdered": item["quantity"], "product": product}
            if "PROCEEDS" in included and priced:
                total = item["unit_price"] * item["quantity"]
                entry["proceeds"] = {"proceedsTotal": _money(total, mp),
                                     "breakdowns": [{"type": "ITEM", "subtotal": _money(total, mp)}]}
            if "FULFILLMENT" in included:
                done = shipped.get(item["orderItemId"], 0)
                fulfillment: dict = {"quantityFulfilled": done, "quantityUnfulfilled": item["quantity"] - done}
                if item["gift_message"]:
                    fulfillment["packing"] = {"giftOption": {"giftMessage": item["gift_message"], "giftWrapLevel": "STANDARD"}}
                entry["fulfillment"] = fulfillment
            items_json.append(entry)
        order["orderItems"] = items_json

        if "BUYER" in included and priced:
            buyer: dict = {}
            if not record.fba:  # Amazon shares no buyer identity for FBA orders
                buyer["buyerEmail"] = info["buyer_email"]
                buyer["buyerName"] = info["buyer_name"]
            if info["company"]:
                buyer["buyerCompanyName"] = info["company"]
                buyer["buyerPurchaseOrderNumber"] = info["purchase_order"]
            order["buyer"] = buyer
        if "RECIPIENT" in included and priced:
            address: dict = {"city": info["city"], "stateOrRegion": info["region"],
                             "postalCode": info["postal"], "countryCode": mp.country}
            if not record.fba:  # FBA: no name, street or phone
                address.update(name=info["buyer_name"], addressLine1=info["street"], phone=info["phone"],
                               addressType="COMMERCIAL" if info["company"] else "RESIDENTIAL")
                if info["company"]:
                    address["companyName"] = info["company"]
            order["recipient"] = {"deliveryAddress": address}
        if "PROCEEDS" in included and priced:
            item_total = sum((i["unit_price"] * i["quantity"] for i in info["items"]), Decimal(0))
            order["proceeds"] = {
                "grandTotal": _money(item_total + info["shipping"], mp),
                "breakdowns": [{"type": "ITEM", "subtotal": _money(item_total, mp)},
                               {"type": "SHIPPING", "subtotal": _money(info["shipping"], mp)}],
            }
        if "FULFILLMENT" in included:
            fulfillment = {"fulfillmentStatus": status, "fulfilledBy": "AMAZON" if record.fba else "MERCHANT",
                           "fulfillmentServiceLevel": info["service_level"]}
            if not record.fba:
                fulfillment["shipByWindow"] = {"latestDateTime": iso_z(from_epoch(record.created + 2 * 86400))}
            order["fulfillment"] = fulfillment
        if "PACKAGES" in included:
            order["packages"] = self._packages_json(idx, info, status, now)
        return order

    def _packages_json(self, idx: int, info: dict, status: str, now: int) -> list[dict]:
        record = self.records[idx]
        if record.fba:
            if status != SHIPPED:
                return []
            shipped_at = iso_z(from_epoch(record.events[-1][0]))
            return [{"packageReferenceId": "1", "createdTime": shipped_at, "shipTime": shipped_at,
                     "packageStatus": {"status": "SHIPPED"}, "carrier": "AMZN", "trackingNumber": f"TBA{record.seed % 10**12:012d}",
                     "packageItems": [{"orderItemId": i["orderItemId"], "quantity": i["quantity"]} for i in info["items"]]}]
        packages = []
        for pkg in self.states.get(idx, OrderState()).packages.values():
            packages.append({
                "packageReferenceId": pkg.package_reference_id, "createdTime": pkg.received_at, "shipTime": pkg.ship_date,
                "packageStatus": {"status": "SHIPPED"}, "carrier": pkg.carrier_name or pkg.carrier_code,
                "shippingService": pkg.shipping_method or "Standard", "trackingNumber": pkg.tracking_number,
                "packageItems": [{"orderItemId": k, "quantity": v} for k, v in pkg.items.items()],
            })
        return packages
