"""The emulator's order world: seeded, deterministic, and moving through Amazon's lifecycle on its own clock.

Each order is kept as a compact record (creation time, marketplace, channel, fate); its contents (buyer,
address, items) and its money (money.py) are derived on demand from a per-order seed, and order_json.py renders
them as Amazon does.
Status changes are events on a time line sorted once at start, so a search is a bisect plus one page of work,
however large the world is.

Merchant orders: PENDING -> UNSHIPPED (or CANCELLED by Amazon), some later CANCELLED by the buyer while
unshipped, some given an open buyer cancellation request hours after UNSHIPPED (it stays open until the seller
cancels or ships), some CANCELLED by Amazon an hour after the ship-by date because nothing was shipped; then
PARTIALLY_SHIPPED / SHIPPED only when the seller confirms packages, or CANCELLED when the seller cancels every
item through the order-acknowledgement feed (feeds.py). FBA orders: PENDING -> SHIPPED (Amazon ships) or
CANCELLED. Pre-orders wait in PENDING_AVAILABILITY first.
"""

from __future__ import annotations

import bisect
import functools
import heapq
import random
import string
from decimal import Decimal

from .marketplaces import MARKETPLACES, Marketplace
from .model import (
    AMAZON,
    BUYER,
    CANCELLED,
    MERCHANT,
    PARTIALLY_SHIPPED,
    PENDING,
    PENDING_AVAILABILITY,
    SHIP_BY_SECONDS,
    SHIPPED,
    UNPRICED_STATUSES,
    UNSHIPPED,
    OrderRecord,
    OrderState,
    Package,
)
from .money import OrderMoney, price_order
from .order_json import render_order
from .seed_data import CATALOG, CITIES, GIFT_MESSAGES, NAMES, STREETS

__all__ = ["CANCELLED", "CATALOG", "PARTIALLY_SHIPPED", "PENDING", "PENDING_AVAILABILITY", "SHIPPED", "UNSHIPPED",
           "OrderRecord", "OrderState", "Package", "World"]

# How orders end up, as (weight, fate); chosen once per order from its seed.
MERCHANT_FATES = ((80, "ship"), (6, "cancel_pending"), (6, "cancel_unshipped"), (8, "preorder"))
FBA_FATES = ((93, "amazon_ships"), (7, "cancel_pending"))
FBA_SHARE = 0.35
# Orders drawn as "ship" may instead meet a buyer who asks to cancel, or never be shipped and be cancelled by
# Amazon after the ship-by date. Drawn from a generator of their own (seeded by the order's seed), so every other
# order, and every order's contents, are what they were before these fates existed.
SHIP_SUBFATES = ((93, "ship"), (5, "buyer_request"), (2, "auto_cancel"))
SUBFATE_SALT, REQUEST_SALT = 0x5EED_CA9C, 0xB0_7E57
AUTO_CANCEL_DELAY = 3600  # after the ship-by date
BUYER_REQUEST_REASONS = ("No longer needed", "Ordered by mistake", "Found a better price elsewhere",
                         "Delivery date is too late", "Need to change the shipping address")
# Who cancelled an order of a cancelling fate, and why (Orders v2026-01-01 cancellationExecution).
FATE_CANCELLATIONS = {"cancel_pending": (AMAZON, "Payment could not be verified"),
                      "auto_cancel": (AMAZON, "Not shipped by the ship-by date")}
# Orders whose derived contents and money are kept: a render asks for an order's contents up to three times
# (status, quantities, the JSON), and a page, its ground truth and a getOrder ask again soon after.
DERIVED_CACHE_ORDERS = 2048


def _weighted(rng: random.Random, table) -> str:
    return rng.choices([v for _, v in table], weights=[w for w, _ in table])[0]


class World:
    """All orders, their lifecycle, and the seller's changes; time is passed in by the caller."""

    def __init__(self, seed: int | str, orders: int, start: int, end: int,
                 marketplaces: tuple[Marketplace, ...] = MARKETPLACES, id_offset: int = 0):
        """`marketplaces` the world sells in; `id_offset` numbers its orders after other worlds' (`--sellers`),
        so order and item ids are unique across every world of one emulator."""
        self.seed = seed
        self.marketplaces = marketplaces
        self._marketplace_weights = tuple(m.weight for m in marketplaces)
        self.id_offset = id_offset
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
        # Per world, so the caches go with it; bounded, so a world of 100,000 orders does not keep them all.
        self.details = functools.lru_cache(maxsize=DERIVED_CACHE_ORDERS)(self._details)
        self.money = functools.lru_cache(maxsize=DERIVED_CACHE_ORDERS)(self._money)
        self.reset()

    def reset(self) -> None:
        self.states: dict[int, OrderState] = {}
        self._dynamic: list[tuple[int, int]] = []  # (time, idx) of seller-caused changes, kept sorted
        self.notifications: list[dict] = []

    def _make_record(self, idx: int, created: int, rng: random.Random) -> OrderRecord:
        mp = rng.choices(self.marketplaces, weights=self._marketplace_weights)[0]
        fba = rng.random() < FBA_SHARE
        fate = _weighted(rng, FBA_FATES if fba else MERCHANT_FATES)
        order_id = f"{rng.randrange(100, 999)}-{rng.randrange(10**6, 10**7)}-{(self.id_offset + idx) % 10**7:07d}"
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
        seed = rng.getrandbits(48)
        request_at = None
        if fate == "ship":
            sub = random.Random(seed ^ SUBFATE_SALT)
            fate = _weighted(sub, SHIP_SUBFATES)
            if fate == "buyer_request":  # the request changes the order, not its status
                request_at = verify + sub.randrange(1, 24) * 3600
                events.append((request_at, UNSHIPPED))
            elif fate == "auto_cancel":
                events.append((created + SHIP_BY_SECONDS + AUTO_CANCEL_DELAY, CANCELLED))
        return OrderRecord(idx, order_id, created, mp, fba, fate, tuple(events), seed, request_at)

    # ---- status on the clock -------------------------------------------------------------------

    def _static_events(self, idx: int) -> tuple[tuple[int, str], ...]:
        """Static transitions still in force: once the seller ships or cancels the whole order, Amazon's
        scheduled changes (a cancel, a buyer's request) never come."""
        record = self.records[idx]
        state = self.states.get(idx)
        cuts = [t for t in (state.first_package_at, state.closed_at) if t is not None] if state else []
        if cuts:
            return tuple(e for e in record.events if e[0] <= min(cuts))
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
        state = self.states.get(idx)
        if state is None:
            return current
        if state.closed_at is not None:
            return CANCELLED
        if current in (UNSHIPPED, CANCELLED) and state.packages:
            shipped, ordered = self.quantities(idx)
            if sum(shipped.values()) > 0:  # the seller's cancelled items count as done
                done = all(shipped[i] >= q for i, q in ordered.items() if i not in state.cancelled)
                current = SHIPPED if done else PARTIALLY_SHIPPED
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

    def cancellations(self, idx: int, now: int) -> dict[str, dict]:
        """orderItemId -> Amazon's ItemCancellation at `now` ({"cancellationRequest", "cancellationExecution"},
        either may be absent), for the items that have one.

        A buyer's request is shown while the order is unshipped, and kept beside its execution once cancelled;
        once the seller ships, Amazon closes an unexecuted request.
        """
        record = self.records[idx]
        state = self.states.get(idx) or OrderState()
        static = [status for t, status in self._static_events(idx) if t <= now]
        if not static:
            return {}
        item_ids = [item["orderItemId"] for item in self.details(idx)["items"]]
        requests: dict[str, str] = {}
        if record.request_at is not None and record.request_at <= now and (record.request_at, UNSHIPPED) in \
                self._static_events(idx):
            requests.update(self.buyer_request(idx))
        requests.update(state.requests)
        executions = {item_id: (MERCHANT, reason) for item_id, reason in state.cancelled.items()}
        if static[-1] == CANCELLED and state.closed_at is None:
            by, reason = FATE_CANCELLATIONS.get(record.fate, (BUYER, None))
            if by == BUYER:  # the buyer cancelled it: a request and its execution
                reason = random.Random(record.seed ^ REQUEST_SALT).choice(BUYER_REQUEST_REASONS)
                requests = {item_id: reason for item_id in item_ids}
            for item_id in item_ids:
                executions.setdefault(item_id, (by, reason))
        if self.status(idx, now) in (PARTIALLY_SHIPPED, SHIPPED):
            requests = {item_id: r for item_id, r in requests.items() if item_id in executions}
        result: dict[str, dict] = {}
        for item_id in item_ids:
            block: dict = {}
            if item_id in requests:
                block["cancellationRequest"] = {"requester": BUYER, "cancelReason": requests[item_id]}
            if item_id in executions:
                by, reason = executions[item_id]
                block["cancellationExecution"] = {"cancelledBy": by, **({"cancelReason": reason} if reason else {})}
            if block:
                result[item_id] = block
        return result

    def buyer_request(self, idx: int) -> dict[str, str]:
        """orderItemId -> reason of a "buyer_request" order's scheduled request: one or more of its items."""
        rng = random.Random(self.records[idx].seed ^ REQUEST_SALT)
        reason = rng.choice(BUYER_REQUEST_REASONS)
        item_ids = [item["orderItemId"] for item in self.details(idx)["items"]]
        return {item_id: reason for item_id in rng.sample(item_ids, rng.randint(1, len(item_ids)))}

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
        self._changed(idx, now)
        return previous is None

    def request_cancellation(self, idx: int, item_ids: list[str], reason: str, now: int) -> None:
        """The buyer asks Amazon to cancel these items (the admin API's deterministic stand-in for a buyer)."""
        state = self.states.setdefault(idx, OrderState())
        for item_id in item_ids:
            state.requests[item_id] = reason
        self._changed(idx, now)

    def cancel_items(self, idx: int, reasons: dict[str, str | None], now: int) -> None:
        """The seller cancels items, orderItemId -> CancelReason (order-acknowledgement feed); cancelling every
        item cancels the order."""
        state = self.states.setdefault(idx, OrderState())
        state.cancelled.update(reasons)
        if all(item["orderItemId"] in state.cancelled for item in self.details(idx)["items"]):
            state.closed_at = now
        self._changed(idx, now)

    def _changed(self, idx: int, now: int) -> None:
        """Record a seller's or buyer's change: the order's lastUpdatedTime moves to `now`."""
        self.states[idx].change_times.append(now)
        bisect.insort(self._dynamic, (now, idx))

    # ---- order contents (derived from the per-order seed) ------------------------------------------

    def _details(self, idx: int) -> dict:
        """Buyer, address and items of an order; the same every time for the same seed (read it as `details`)."""
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
                "orderItemId": f"{self.id_offset + record.idx:08d}{n:02d}{rng.randrange(10**4):04d}",
                "sku": sku, "asin": asin, "title": title,
                "quantity": rng.choice((1, 1, 1, 2, 3)),
                "unit_price": unit.quantize(Decimal(1).scaleb(-mp.decimals)),
                "gift_message": rng.choice(GIFT_MESSAGES) if rng.random() < 0.08 else None,
            })
        local = "".join(rng.choices(string.ascii_lowercase + string.digits, k=14))
        return {
            "buyer_email": f"{local}-{buyer_no}@marketplace.{mp.site}",
            "buyer_name": name,
            "company": f"{last} Trading Ltd." if business else None,
            "purchase_order": f"PO-{rng.randrange(10**5, 10**6)}" if business else None,
            "prime": prime,
            "street": rng.choice(STREETS[code]),
            "city": city, "region": region, "postal": postal,
            "phone": f"+{rng.randrange(10**9, 10**10)}",
            "service_level": "NEXT_DAY" if prime else "STANDARD",
            "items": items,
        }

    def _money(self, idx: int) -> OrderMoney:
        """What the buyer pays for the order, broken down (read it as `money`)."""
        return price_order(self.records[idx], self.details(idx))

    def order_json(self, idx: int, now: int, included: set[str]) -> dict:
        """The order as Orders API v2026-01-01 returns it at `now`, with only the requested blocks."""
        return render_order(self, idx, now, included)
