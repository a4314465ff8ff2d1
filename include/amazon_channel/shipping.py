"""Ship from Commerce (workflow.md, merchant step 5): shipments become package confirmations for Amazon.

Shipments themselves are made in Commerce, by staff or an ERP/WMS (`commerce.shipments.create_shipment`); this
module only takes them to Amazon:

- `reconcile_shipments`: every new (shipment, track) of a merchant Amazon order becomes one outbox row in
  `channel_amazon_package` with its items, never more than ordered minus already packaged; completes Commerce
  orders whose items are all shipped; moves the channel order to PartiallyShipped / Shipped; marks packages
  `confirmed` once Amazon lists them.
- `push_tracking`: sends pending packages with confirmShipment. The state is committed before and after each
  call; the packageReferenceId is the track id, so a re-send after a crash edits the package at Amazon.
  A 400 is final until the shipment is corrected; 429/5xx/timeouts stay pending for the next run.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Engine

from .commerce.db import insert_missing
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
LIVE_STATES = ("pending", "sending", "sent", "confirmed")  # packages on their way to, or at, Amazon
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

def reconcile_shipments(engine: Engine, carriers: dict[str, str], now: datetime | None = None) -> ReconcileSummary:
    now = now or utcnow()
    t, s, o, c, p = (sales_shipment_track.c, sales_shipment.c, sales_order.c, channel_amazon_order.c,
                     channel_amazon_package.c)
    counts: Counter = Counter()
    with engine.begin() as conn:
        # 1. New tracks of merchant Amazon orders become outbox rows.
        new_tracks = conn.execute(
            select(t.entity_id.label("track_id"), t.parent_id.label("shipment_id"), t.carrier_code, t.title,
                   t.track_number, s.created_at, c.amazon_order_id, c.marketplace_id, o.entity_id.label("order_id"))
            .join(sales_shipment, s.entity_id == t.parent_id).join(sales_order, o.entity_id == t.order_id)
            .join(channel_amazon_order, c.sales_order_id == o.entity_id)
            .where(c.fulfillment_channel == "MFN", ~select(p.id).where(p.track_id == t.entity_id).exists())
            .order_by(t.entity_id)).all()
        for track in new_tracks:
            items = _package_items(conn, track.shipment_id, track.amazon_order_id)
            code, name = amazon_carrier(track.carrier_code, track.title, carriers)
            conn.execute(insert(channel_amazon_package).values(
                amazon_order_id=track.amazon_order_id, marketplace_id=track.marketplace_id,
                shipment_id=track.shipment_id, track_id=track.track_id, package_reference_id=str(track.track_id),
                carrier_code=code, carrier_name=name, tracking_number=track.track_number, ship_date=track.created_at,
                items=json.dumps(items), state="pending" if items else "empty", attempts=0,
                last_error=None if items else "no items left to confirm: the shipment's items are in other packages",
                updated_at=now))
            counts["packages_new" if items else "packages_empty"] += 1

        # 2. A rejected package whose track was corrected is sent again.
        corrected = conn.execute(select(p.id, t.track_number, t.carrier_code, t.title).join(
            sales_shipment_track, t.entity_id == p.track_id).where(
            p.state == "failed", (t.track_number != p.tracking_number))).all()
        for row in corrected:
            code, name = amazon_carrier(row.carrier_code, row.title, carriers)
            conn.execute(update(channel_amazon_package).where(p.id == row.id).values(
                tracking_number=row.track_number, carrier_code=code, carrier_name=name, state="pending", attempts=0,
                last_error=None, updated_at=now))
            counts["packages_corrected"] += 1

        # 3. Packages Amazon lists for the order (seen by the last extract) are confirmed.
        sent = conn.execute(select(p.id, p.package_reference_id, c.amazon_package_refs).join(
            channel_amazon_order, c.amazon_order_id == p.amazon_order_id).where(p.state == "sent")).all()
        confirmed = [row.id for row in sent if row.package_reference_id in (row.amazon_package_refs or "").split(",")]
        if confirmed:
            conn.execute(update(channel_amazon_package).where(p.id.in_(confirmed)).values(state="confirmed",
                                                                                         updated_at=now))
        counts["packages_confirmed"] += len(confirmed)

        counts["orders_completed"] += _complete_shipped_orders(conn, now)
        counts["channel_orders_moved"] += _move_channel_status(conn)
    summary: ReconcileSummary = dict(sorted(counts.items()))
    log.info("reconcile_shipments: %s", summary)
    return summary


def _package_items(conn, shipment_id: int, amazon_order_id: str) -> list[dict]:
    """The shipment's items as Amazon order items, capped at ordered minus what earlier packages hold."""
    si, soi = sales_shipment_item.c, sales_order_item.c
    lines = conn.execute(select(soi.ext_order_item_id, soi.qty_ordered, si.qty).join(
        sales_order_item, soi.item_id == si.order_item_id).where(si.parent_id == shipment_id)).all()
    packaged = _packaged(conn, amazon_order_id)  # failed ones too: they are re-sent once corrected
    items = []
    for line in lines:
        qty = min(line.qty, line.qty_ordered - packaged[line.ext_order_item_id])
        if qty > 0:
            items.append({"orderItemId": line.ext_order_item_id, "quantity": qty})
    return items


def _packaged(conn, amazon_order_id: str, states: tuple[str, ...] | None = None) -> Counter:
    """Units per Amazon orderItemId in the order's outbox packages (optionally only those in `states`)."""
    p = channel_amazon_package.c
    query = select(p["items"]).where(p.amazon_order_id == amazon_order_id)
    if states:
        query = query.where(p.state.in_(states))
    packaged: Counter = Counter()
    for (items_json,) in conn.execute(query):
        for item in json.loads(items_json):
            packaged[item["orderItemId"]] += item["quantity"]
    return packaged


def _complete_shipped_orders(conn, now: datetime) -> int:
    """Processing orders whose items are all shipped become complete; their stock leaves the warehouse."""
    o, soi = sales_order.c, sales_order_item.c
    open_items = select(soi.item_id).where(soi.order_id == o.entity_id,
                                           soi.qty_shipped + soi.qty_canceled < soi.qty_ordered)
    has_items = select(soi.item_id).where(soi.order_id == o.entity_id)
    done = conn.execute(select(o.entity_id, o.ext_order_id).where(
        o.state == "processing", has_items.exists(), ~open_items.exists())).all()
    for entity_id, ext_order_id in done:
        lines = conn.execute(select(soi.sku, soi.qty_shipped).where(soi.order_id == entity_id)).all()
        reserved = {sku for (sku,) in conn.execute(select(inventory_reservation.c.sku).where(
            inventory_reservation.c.ext_order_id == ext_order_id, inventory_reservation.c.event == "order_placed"))}
        # As Magento MSI does: deduct the source quantity and compensate the reservation, once.
        insert_missing(conn, inventory_reservation, [
            {"sku": sku, "quantity": qty, "ext_order_id": ext_order_id, "event": "order_shipped"}
            for sku, qty in lines if sku in reserved], ["ext_order_id", "sku", "event"])
        for sku, qty in lines:
            conn.execute(update(catalog_product).where(catalog_product.c.sku == sku,
                                                       catalog_product.c.manage_stock.is_(True))
                         .values(qty=catalog_product.c.qty - qty))
        conn.execute(update(sales_order).where(o.entity_id == entity_id).values(
            state="complete", status="complete", updated_at=now))
    return len(done)


def _move_channel_status(conn) -> int:
    """Channel orders follow what was packaged: PartiallyShipped, or Shipped when every unit is in a package."""
    c, p, soi, o = channel_amazon_order.c, channel_amazon_package.c, sales_order_item.c, sales_order.c
    moved = 0
    rows = conn.execute(select(c.amazon_order_id, c.status, c.sales_order_id).where(
        c.status.in_(["Unshipped", "PartiallyShipped"]), c.fulfillment_channel == "MFN",
        select(p.id).where(p.amazon_order_id == c.amazon_order_id, p.state.in_(LIVE_STATES)).exists())).all()
    for row in rows:
        ordered = conn.execute(select(func.sum(soi.qty_ordered)).join(sales_order, o.entity_id == soi.order_id)
                               .where(o.entity_id == row.sales_order_id)).scalar_one() or 0
        packaged = sum(_packaged(conn, row.amazon_order_id, LIVE_STATES).values())
        status = "Shipped" if packaged >= ordered else "PartiallyShipped"
        if status != row.status:
            conn.execute(update(channel_amazon_order).where(c.amazon_order_id == row.amazon_order_id).values(
                status=status, items_unshipped=max(ordered - packaged, 0)))
            moved += 1
    return moved


# ---- push -------------------------------------------------------------------------------------------------

def push_tracking(engine: Engine, client: SpApiClient, time_budget: float = 1500.0,
                  max_attempts: int = MAX_ATTEMPTS) -> PushSummary:
    """Send pending packages within the rate limit; record every outcome; stop at the time budget."""
    p = channel_amazon_package.c
    started = time.monotonic()
    with engine.connect() as conn:
        queue = conn.execute(select(channel_amazon_package).where(p.state.in_(["pending", "sending"]))
                             .order_by(p.id)).mappings().all()
    counts: Counter = Counter()
    rejected = []
    for package in queue:
        if time.monotonic() - started > time_budget:
            counts["left_for_next_run"] += 1
            continue
        _set_state(engine, package["id"], state="sending", attempts=package["attempts"] + 1)  # before the call
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


def _set_state(engine: Engine, package_id: int, **values) -> None:
    with engine.begin() as conn:
        conn.execute(update(channel_amazon_package).where(channel_amazon_package.c.id == package_id)
                     .values(updated_at=utcnow(), **values))

