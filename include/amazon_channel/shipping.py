"""Ship from Commerce (workflow.md, merchant step 5): shipments become package confirmations for Amazon.

Shipments themselves are made in Commerce, by staff or an ERP/WMS (`commerce.shipments.create_shipment`); this
module only takes them to Amazon. The channel order's status is Amazon's alone: it becomes Shipped when an extract
brings Amazon's SHIPPED, never because we sent a package.

- `reconcile_shipments`: every new (shipment, track) of a merchant Amazon order becomes one outbox row in
  `channel_amazon_package` with its items, never more than ordered minus canceled minus already packaged; a
  rejected package whose track, carrier or items were corrected goes out again; packages of an order with an open
  buyer cancellation request are held, and those of a cancelled order are canceled; completes the Commerce orders
  of the channel whose items are all shipped (nothing held); marks packages `confirmed` once Amazon lists them.
- `push_tracking`: sends pending packages with confirmShipment. The state is committed before and after each
  call; the packageReferenceId is the track id, so a re-send after a crash edits the package at Amazon.
  A 400 is final until the shipment is corrected; 429/5xx/timeouts stay pending for the next run.
- `release_hold`: staff decided to ship despite the buyer's request (the `hold release` command).
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine

from .accounts import DEFAULT_ACCOUNT_ID
from .commerce.db import in_transaction, insert_missing
from .commerce.notes import set_notes
from .commerce.schema import (
    catalog_product,
    channel_amazon_order,
    channel_amazon_package,
    inventory_reservation,
    sales_order,
    sales_order_item,
    sales_shipment,
    sales_shipment_item,
    sales_shipment_track,
)
from .spapi import SpApiClient, SpApiError
from .summaries import PushSummary, ReconcileSummary
from .timeutil import iso_z, utcnow

log = logging.getLogger(__name__)

CARRIER_VARIABLE = "amazon_channel_carrier_mapping"
# Commerce carrier code -> Amazon carrierCode; anything else is sent as "Other" with the carrier's name.
DEFAULT_CARRIERS = {"ups": "UPS", "usps": "USPS", "fedex": "FedEx", "dhl": "DHL", "dhlint": "DHL",
                    "dhl_express": "DHL", "ontrac": "OnTrac", "royal_mail": "Royal Mail", "dpd": "DPD",
                    "hermes": "Hermes", "gls": "GLS", "japan_post": "Japan Post", "yamato": "Yamato Transport",
                    "canada_post": "Canada Post", "amzl": "Amazon Shipping"}
SENDABLE = ("pending", "sending")  # held, canceled, failed, empty ones never go out
MAX_ATTEMPTS = 8  # transient failures before a package is given up (and shown as such)


def carrier_mapping(raw: str | dict | None) -> dict[str, str]:
    """Defaults plus the Variable's JSON object {commerce_code: amazon_code}; a clear error when malformed."""
    if raw in (None, ""):
        return dict(DEFAULT_CARRIERS)
    try:
        extra = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError as exc:
        raise ValueError(f"{CARRIER_VARIABLE} is not valid JSON: {exc}") from None
    if not isinstance(extra, dict) or not all(isinstance(k, str) and isinstance(v, str) and v
                                              for k, v in extra.items()):
        raise ValueError(f'{CARRIER_VARIABLE} must be a JSON object of strings, e.g. {{"ups": "UPS"}}')
    return {**DEFAULT_CARRIERS, **{k.lower(): v for k, v in extra.items()}}


def amazon_carrier(code: str, title: str | None, mapping: dict[str, str]) -> tuple[str, str | None]:
    amazon = mapping.get(code.lower())
    return (amazon, None) if amazon else ("Other", title or code)


# ---- reconcile -------------------------------------------------------------------------------------------

def reconcile_shipments(engine: Engine, carriers: dict[str, str], now: datetime | None = None,
                        account_id: str = DEFAULT_ACCOUNT_ID) -> ReconcileSummary:
    """For the account's orders only: its packages (stamped with it) are made, corrected, held and confirmed, and
    its Commerce orders completed; another account's DAG does the same for its own at the same time."""
    now = now or utcnow()
    # Run again from the start if the database aborts it for another account's reconcile (both deduct stock).
    summary: ReconcileSummary = dict(sorted(in_transaction(
        engine, lambda conn: _reconcile(conn, carriers, now, account_id)).items()))
    log.info("reconcile_shipments: %s", summary)
    return summary


def _reconcile(conn, carriers: dict[str, str], now: datetime, account_id: str) -> Counter:
    t, s, o, c, p = (sales_shipment_track.c, sales_shipment.c, sales_order.c, channel_amazon_order.c,
                     channel_amazon_package.c)
    counts: Counter = Counter()
    # 1. New tracks of merchant Amazon orders become outbox rows.
    new_tracks = conn.execute(
        select(t.entity_id.label("track_id"), t.parent_id.label("shipment_id"), t.carrier_code, t.title,
               t.track_number, s.created_at, c.amazon_order_id, c.marketplace_id, o.entity_id.label("order_id"))
        .join(sales_shipment, s.entity_id == t.parent_id).join(sales_order, o.entity_id == t.order_id)
        .join(channel_amazon_order, c.sales_order_id == o.entity_id)
        .where(c.account_id == account_id, c.fulfillment_channel == "MFN",
               ~select(p.id).where(p.track_id == t.entity_id).exists())
        .order_by(t.entity_id)).all()
    for track in new_tracks:
        items = _package_items(conn, track.shipment_id, track.amazon_order_id)
        code, name = amazon_carrier(track.carrier_code, track.title, carriers)
        conn.execute(insert(channel_amazon_package).values(
            amazon_order_id=track.amazon_order_id, account_id=account_id, marketplace_id=track.marketplace_id,
            shipment_id=track.shipment_id, track_id=track.track_id, package_reference_id=str(track.track_id),
            carrier_code=code, carrier_name=name, tracking_number=track.track_number, ship_date=track.created_at,
            items=json.dumps(items), state="pending" if items else "empty", attempts=0,
            last_error=None if items else NO_ITEMS_LEFT, updated_at=now))
        counts["packages_new" if items else "packages_empty"] += 1

    # 2. A rejected package whose track was corrected (number, carrier or items) is sent again.
    counts["packages_corrected"] += _resend_corrected(conn, carriers, now, account_id)

    # 3. Holds (a new package above is held before anyone can send it) and cancelled orders.
    counts.update(_apply_holds(conn, now, account_id))

    # 4. Packages Amazon lists for the order (seen by the last extract) are confirmed.
    sent = conn.execute(select(p.id, p.package_reference_id, c.amazon_package_refs).join(
        channel_amazon_order, c.amazon_order_id == p.amazon_order_id).where(p.account_id == account_id,
                                                                           p.state == "sent")).all()
    confirmed = [row.id for row in sent if row.package_reference_id in (row.amazon_package_refs or "").split(",")]
    if confirmed:
        conn.execute(update(channel_amazon_package).where(p.id.in_(confirmed)).values(state="confirmed",
                                                                                     updated_at=now))
    counts["packages_confirmed"] += len(confirmed)

    counts["orders_completed"] += _complete_shipped_orders(conn, now, account_id)
    return counts


NO_ITEMS_LEFT = "no items left to confirm: the shipment's items are in other packages"


def _package_items(conn, shipment_id: int, amazon_order_id: str, other_than: int | None = None) -> list[dict]:
    """The shipment's items as Amazon order items, capped at ordered minus canceled minus what the order's other
    packages hold (`other_than`: the package being recomputed)."""
    si, soi = sales_shipment_item.c, sales_order_item.c
    lines = conn.execute(select(soi.ext_order_item_id, soi.qty_ordered, soi.qty_canceled, si.qty).join(
        sales_order_item, soi.item_id == si.order_item_id).where(si.parent_id == shipment_id)
        .order_by(soi.ext_order_item_id)).all()
    packaged = _packaged(conn, amazon_order_id, other_than)  # failed ones too: they are re-sent once corrected
    items = []
    for line in lines:
        qty = min(line.qty, line.qty_ordered - (line.qty_canceled or 0) - packaged[line.ext_order_item_id])
        if qty > 0:
            items.append({"orderItemId": line.ext_order_item_id, "quantity": qty})
    return items


def _packaged(conn, amazon_order_id: str, other_than: int | None = None) -> Counter:
    """Units per Amazon orderItemId in the order's outbox packages that may still reach Amazon."""
    p = channel_amazon_package.c
    query = select(p["items"]).where(p.amazon_order_id == amazon_order_id, p.state != "canceled")
    if other_than is not None:
        query = query.where(p.id != other_than)
    packaged: Counter = Counter()
    for (items_json,) in conn.execute(query):
        for item in json.loads(items_json):
            packaged[item["orderItemId"]] += item["quantity"]
    return packaged


def _same_items(a: list[dict], b: list[dict]) -> bool:
    return sorted((i["orderItemId"], i["quantity"]) for i in a) == sorted((i["orderItemId"], i["quantity"]) for i in b)


def _resend_corrected(conn, carriers: dict[str, str], now: datetime, account_id: str) -> int:
    """Failed packages whose track number, Amazon carrier (the track's or the mapping's) or items now differ from
    what Amazon rejected become pending again; unchanged ones stay failed (no blind retry)."""
    p, t = channel_amazon_package.c, sales_shipment_track.c
    failed = conn.execute(select(p.id, p.amazon_order_id, p.shipment_id, p.tracking_number, p.carrier_code,
                                 p.carrier_name, p["items"], t.track_number, t.carrier_code.label("track_carrier"),
                                 t.title).join(sales_shipment_track, t.entity_id == p.track_id)
                          .where(p.account_id == account_id, p.state == "failed").order_by(p.id)).all()
    corrected = 0
    for row in failed:
        code, name = amazon_carrier(row.track_carrier, row.title, carriers)
        items = _package_items(conn, row.shipment_id, row.amazon_order_id, other_than=row.id)
        if ((row.track_number, code, name) == (row.tracking_number, row.carrier_code, row.carrier_name)
                and _same_items(items, json.loads(row.items))):
            continue
        conn.execute(update(channel_amazon_package).where(p.id == row.id).values(
            tracking_number=row.track_number, carrier_code=code, carrier_name=name, items=json.dumps(items),
            state="pending" if items else "empty", attempts=0, last_error=None if items else NO_ITEMS_LEFT,
            updated_at=now))
        corrected += 1
    return corrected


def _apply_holds(conn, now: datetime, account_id: str) -> Counter:
    """Packages not yet at Amazon follow their order: cancelled (in Commerce or at Amazon) -> canceled; an open
    buyer cancellation request not released by staff -> held; a hold whose request ended or was released -> pending.
    `sending` ones are left alone: Amazon may already have them."""
    p, c, o = channel_amazon_package.c, channel_amazon_order.c, sales_order.c
    rows = conn.execute(select(p.id, p.state, c.status, c.cancel_requested, c.cancel_request_reason,
                               c.hold_released_at, o.state.label("commerce_state"))
                        .join(channel_amazon_order, c.amazon_order_id == p.amazon_order_id)
                        .outerjoin(sales_order, o.entity_id == c.sales_order_id)
                        .where(p.account_id == account_id, p.state.in_(["pending", "held"]))).all()
    counts: Counter = Counter()
    for row in rows:
        if row.commerce_state in CANCELED_COMMERCE_STATES or row.status == "Canceled":
            state, why = "canceled", CANCELED_BEFORE_SENT
        elif row.cancel_requested and row.hold_released_at is None:
            state, why = "held", held_reason(row.cancel_request_reason)
        else:
            state, why = "pending", None
        if state == row.state:
            continue
        conn.execute(update(channel_amazon_package).where(p.id == row.id).values(
            state=state, last_error=why, updated_at=now, **({"attempts": 0} if state == "pending" else {})))
        counts[{"canceled": "packages_canceled", "held": "packages_held", "pending": "packages_released"}[state]] += 1
    return counts


CANCELED_COMMERCE_STATES = ("canceled", "closed")  # closed: cancelled after invoicing, with a credit memo
CANCELED_BEFORE_SENT = "not sent: the order was cancelled before its package was confirmed to Amazon"


def held_reason(cancel_request_reason: str | None) -> str:
    why = f" ({cancel_request_reason})" if cancel_request_reason else ""
    return (f"held: the buyer asked Amazon to cancel this order{why}; cancel the order in Commerce, or release the "
            "hold to ship it (python -m amazon_channel.hold release ORDER)")[:1024]


def _complete_shipped_orders(conn, now: datetime, account_id: str) -> int:
    """The account's processing Commerce orders of the channel whose items are all shipped become complete; their
    stock leaves the warehouse. Orders that did not come from Amazon (or came through another account) are not ours
    to touch; an order with a held package waits for staff to cancel it or release the hold."""
    o, soi, c, p = sales_order.c, sales_order_item.c, channel_amazon_order.c, channel_amazon_package.c
    open_items = select(soi.item_id).where(soi.order_id == o.entity_id,
                                           soi.qty_shipped + soi.qty_canceled < soi.qty_ordered)
    has_items = select(soi.item_id).where(soi.order_id == o.entity_id)
    of_channel = select(c.amazon_order_id).where(c.sales_order_id == o.entity_id, c.account_id == account_id)
    held = select(p.id).where(p.amazon_order_id == o.ext_order_id, p.state == "held")
    done = conn.execute(select(o.entity_id, o.ext_order_id).where(
        o.state == "processing", of_channel.exists(), has_items.exists(), ~open_items.exists(),
        ~held.exists())).all()
    shipped: Counter = Counter()  # units leaving the warehouse, per SKU
    for entity_id, ext_order_id in done:
        lines = conn.execute(select(soi.sku, soi.qty_shipped).where(soi.order_id == entity_id)).all()
        reserved = {sku for (sku,) in conn.execute(select(inventory_reservation.c.sku).where(
            inventory_reservation.c.ext_order_id == ext_order_id, inventory_reservation.c.event == "order_placed"))}
        # As Magento MSI does: deduct the source quantity and compensate the reservation, once.
        insert_missing(conn, inventory_reservation, [
            {"sku": sku, "quantity": qty, "ext_order_id": ext_order_id, "event": "order_shipped"}
            for sku, qty in lines if sku in reserved], ["ext_order_id", "sku", "event"])
        for sku, qty in lines:
            shipped[sku] += qty
        conn.execute(update(sales_order).where(o.entity_id == entity_id).values(
            state="complete", status="complete", updated_at=now))
    # One update per SKU, in SKU order: accounts selling the same products then lock their stock rows in the same
    # order and never deadlock on them.
    for sku in sorted(shipped):
        conn.execute(update(catalog_product).where(catalog_product.c.sku == sku,
                                                   catalog_product.c.manage_stock.is_(True))
                     .values(qty=catalog_product.c.qty - shipped[sku]))
    return len(done)


def release_hold(engine: Engine, order: str, now: datetime | None = None) -> dict:
    """Staff ship despite the buyer's cancellation request: the order's held packages go out with the next run."""
    now = now or utcnow()
    c, o, p = channel_amazon_order.c, sales_order.c, channel_amazon_package.c
    with engine.begin() as conn:
        row = conn.execute(select(c.amazon_order_id, c.cancel_requested, c.hold_released_at,
                                  o.increment_id, o.state).outerjoin(sales_order, o.entity_id == c.sales_order_id)
                           .where((c.amazon_order_id == order) | (o.increment_id == order))).first()
        if row is None:
            raise ValueError(f"no Amazon order {order}")
        if row.state in CANCELED_COMMERCE_STATES:
            raise ValueError(f"order {row.amazon_order_id} is {row.state} in Commerce; there is nothing to ship")
        if row.hold_released_at is not None:
            raise ValueError(f"the hold of order {row.amazon_order_id} was already released "
                             f"at {iso_z(row.hold_released_at)}")
        if not row.cancel_requested:
            raise ValueError(f"order {row.amazon_order_id} has no open buyer cancellation request; nothing is held")
        conn.execute(update(channel_amazon_order).where(c.amazon_order_id == row.amazon_order_id)
                     .values(hold_released_at=now))
        released = conn.execute(update(channel_amazon_package).where(
            p.amazon_order_id == row.amazon_order_id, p.state == "held").values(
            state="pending", attempts=0, last_error=None, updated_at=now)).rowcount
        set_notes(conn, {row.amazon_order_id: "Hold released by staff despite the buyer's cancellation request: "
                                              "the packages go to Amazon with the next run"}, now)
    return {"amazon_order_id": row.amazon_order_id, "packages_released": released}


# ---- push -------------------------------------------------------------------------------------------------

def push_tracking(engine: Engine, client: SpApiClient, time_budget: float = 1500.0,
                  max_attempts: int = MAX_ATTEMPTS, account_id: str = DEFAULT_ACCOUNT_ID) -> PushSummary:
    """Send the account's pending packages with its client (another account's packages are never sent with it),
    within the rate limit; record every outcome; stop at the time budget."""
    p = channel_amazon_package.c
    started = time.monotonic()
    with engine.connect() as conn:
        queue = conn.execute(select(channel_amazon_package).where(p.account_id == account_id, p.state.in_(SENDABLE))
                             .order_by(p.id)).mappings().all()
    counts: Counter = Counter()
    rejected = []
    for package in queue:
        if time.monotonic() - started > time_budget:
            counts["left_for_next_run"] += 1
            continue
        if not _claim(engine, package["id"], package["attempts"] + 1):  # held or canceled meanwhile
            continue
        detail = {"packageReferenceId": package["package_reference_id"], "carrierCode": package["carrier_code"],
                  "trackingNumber": package["tracking_number"], "shipDate": iso_z(package["ship_date"]),
                  "orderItems": json.loads(package["items"])}
        if package["carrier_name"]:
            detail["carrierName"] = package["carrier_name"]
        try:
            client.confirm_shipment(package["amazon_order_id"], package["marketplace_id"], detail)
        except SpApiError as err:
            if err.status is not None and 400 <= err.status < 500 and err.status != 429:
                message = f"{err.code}: {err.amazon_message}"
                _set_state(engine, package["id"], state="failed", last_error=message, amazon_request_id=err.request_id)
                with engine.begin() as conn:
                    set_notes(conn, {package["amazon_order_id"]:
                                     f"Tracking {package['tracking_number']} rejected by Amazon: {message}"}, utcnow())
                counts["failed"] += 1
                rejected.append({"amazon_order_id": package["amazon_order_id"], "error": message,
                                 "request_id": err.request_id})
            else:
                final = package["attempts"] + 1 >= max_attempts
                _set_state(engine, package["id"], state="given_up" if final else "pending", last_error=str(err)[:1000])
                counts["given_up" if final else "retry_next_run"] += 1
            continue
        _set_state(engine, package["id"], state="sent", last_error=None)  # after Amazon accepted it
        counts["sent"] += 1
    summary: PushSummary = {**dict(sorted(counts.items())), "rejected": rejected[:20]}
    log.info("push_tracking: %s", {k: v for k, v in summary.items() if k != "rejected"})
    return summary


def _claim(engine: Engine, package_id: int, attempts: int) -> bool:
    """Mark the package `sending` before the call, unless it stopped being sendable since the queue was read (a
    hold or a cancellation committed by a command meanwhile)."""
    p = channel_amazon_package.c
    with engine.begin() as conn:
        return conn.execute(update(channel_amazon_package).where(p.id == package_id, p.state.in_(SENDABLE))
                            .values(state="sending", attempts=attempts, updated_at=utcnow())).rowcount == 1


def _set_state(engine: Engine, package_id: int, **values) -> None:
    with engine.begin() as conn:
        conn.execute(update(channel_amazon_package).where(channel_amazon_package.c.id == package_id)
                     .values(updated_at=utcnow(), **values))

