"""The channel order tells Amazon's truth (issue 13), on the three databases, against the emulator over HTTP: it is
Shipped only when Amazon says so; a rejected confirmation shows as Error until a corrected track (number, carrier
or items) is accepted; packages of an order the buyer asked to cancel are held until staff cancel the order or
release the hold; Commerce orders that did not come from Amazon are never touched."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from sqlalchemy import insert, select, update

from amazon_channel.commerce.schema import (
    catalog_product,
    inventory_reservation,
    sales_order,
    sales_order_item,
    sales_shipment_item,
    sales_shipment_track,
)
from amazon_channel.commerce.shipments import create_shipment
from amazon_channel.orders_view import OrderFilter, list_orders, order_detail
from amazon_channel.shipping import carrier_mapping, push_tracking, reconcile_shipments
from tests.integration.commerce_queries import channel_orders, commerce_orders, reservations
from tests.integration.pipeline_steps import amazon_orders
from tests.integration.test_commerce_money import US, Amazon, later, load
from tests.integration.test_shipping import CARRIERS, cycle, extract_now, import_orders, packages, ship

pytestmark = [pytest.mark.emulator]


def confirmations(emulator) -> int:
    return emulator.get("stats")["operations"].get("confirmShipment", {}).get("requests", 0)


def in_error(engine) -> dict[str, dict]:
    with engine.connect() as conn:
        return {r["amazon_order_id"]: r for r in list_orders(conn, OrderFilter(status="Error"), page_size=200)["rows"]}


def stock(engine, skus) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(conn.execute(select(catalog_product.c.sku, catalog_product.c.qty)
                                 .where(catalog_product.c.sku.in_(list(skus)))).all())


# ---- a rejected confirmation ------------------------------------------------------------------------------

def test_a_rejected_tracking_number_keeps_the_order_out_of_shipped_until_fixed(steps, client, emulator):
    order = import_orders(steps, client)[0]
    amazon_id = order["ext_order_id"]
    ship(steps, emulator, order, "ups", "bad tracking!")
    cycle(steps, client)

    rows = in_error(steps.engine)
    assert list(rows) == [amazon_id]
    assert rows[amazon_id]["amazon_status"] == "Unshipped" and "tracking number is invalid" in rows[amazon_id]["error"]
    with steps.engine.connect() as conn:
        detail = order_detail(conn, amazon_id)["order"]
        unshipped = list_orders(conn, OrderFilter(status="Unshipped"), page_size=200)
    assert (detail["shown_status"], detail["status"]) == ("Error", "Unshipped")
    assert amazon_id not in {r["amazon_order_id"] for r in unshipped["rows"]}

    extract_now(steps, emulator, "after-rejection")  # Amazon still waits for the shipment
    assert emulator.get(f"orders/{amazon_id}")["status"] == "UNSHIPPED"
    assert channel_orders(steps.engine)[amazon_id]["status"] == "Unshipped" and amazon_id in in_error(steps.engine)

    with steps.engine.begin() as conn:  # staff correct the tracking number in Commerce
        conn.execute(update(sales_shipment_track).where(sales_shipment_track.c.order_id == order["entity_id"])
                     .values(track_number="1Z999AA10123456784"))
    reconciled, pushed = cycle(steps, client)
    assert reconciled["packages_corrected"] == 1 and pushed["sent"] == 1
    assert in_error(steps.engine) == {}
    assert channel_orders(steps.engine)[amazon_id]["status"] == "Unshipped"  # until Amazon's data says Shipped
    extract_now(steps, emulator, "after-fix")
    assert channel_orders(steps.engine)[amazon_id]["status"] == "Shipped"


def test_a_corrected_carrier_with_the_same_tracking_number_is_sent_again(steps, client, emulator):
    by_mapping, by_track = import_orders(steps, client)[:2]
    wrong = carrier_mapping('{"acme": "ACME", "speedy": "Speedy"}')  # codes Amazon does not know
    ship(steps, emulator, by_mapping, "acme", "ACME000123456", title="ACME Freight")
    ship(steps, emulator, by_track, "speedy", "1Z999AA10123456784")
    reconcile_shipments(steps.engine, wrong)
    pushed = push_tracking(steps.engine, client)
    assert pushed["failed"] == 2 and all("carrier code" in r["error"] for r in pushed["rejected"])
    assert set(in_error(steps.engine)) == {by_mapping["ext_order_id"], by_track["ext_order_id"]}
    calls = confirmations(emulator)
    reconcile_shipments(steps.engine, wrong)
    push_tracking(steps.engine, client)
    assert confirmations(emulator) == calls  # nothing changed, nothing re-sent

    fixed = carrier_mapping('{"speedy": "Speedy"}')  # the Variable fixed: acme goes as Other with its name
    with steps.engine.begin() as conn:  # and the other track's carrier fixed in Commerce
        conn.execute(update(sales_shipment_track).where(sales_shipment_track.c.order_id == by_track["entity_id"])
                     .values(carrier_code="ups", title="UPS"))
    reconciled = reconcile_shipments(steps.engine, fixed)
    pushed = push_tracking(steps.engine, client)
    assert reconciled["packages_corrected"] == 2 and pushed["sent"] == 2
    first = emulator.get(f"orders/{by_mapping['ext_order_id']}")["packages"]
    second = emulator.get(f"orders/{by_track['ext_order_id']}")["packages"]
    assert [(p["carrier_code"], p["carrier_name"], p["tracking_number"]) for p in first] == [
        ("Other", "ACME Freight", "ACME000123456")]
    assert [(p["carrier_code"], p["tracking_number"]) for p in second] == [("UPS", "1Z999AA10123456784")]
    assert in_error(steps.engine) == {}


def test_changed_package_items_are_sent_again(steps, client, emulator):
    order = next(o for o in import_orders(steps, client) if len(o["items"]) >= 2)
    ship(steps, emulator, order, "ups", "bad tracking!")
    cycle(steps, client)
    [package] = packages(steps.engine, order["ext_order_id"])
    assert package["state"] == "failed"
    calls = confirmations(emulator)

    sku = order["items"][0][0]  # staff take the first item out of the shipment
    si, soi = sales_shipment_item.c, sales_order_item.c
    with steps.engine.begin() as conn:
        item_id, removed = conn.execute(select(soi.item_id, soi.ext_order_item_id).where(
            soi.order_id == order["entity_id"], soi.sku == sku)).one()
        conn.execute(sales_shipment_item.delete().where(si.parent_id == package["shipment_id"],
                                                        si.order_item_id == item_id))
        conn.execute(update(sales_order_item).where(soi.item_id == item_id).values(qty_shipped=0))
    reconciled, pushed = cycle(steps, client)
    assert reconciled["packages_corrected"] == 1 and confirmations(emulator) == calls + 1
    assert pushed["failed"] == 1  # the tracking number is still wrong: Amazon says so again
    [resent] = packages(steps.engine, order["ext_order_id"])
    assert [i["orderItemId"] for i in json.loads(resent["items"])] == [
        i["orderItemId"] for i in json.loads(package["items"]) if i["orderItemId"] != removed]
    cycle(steps, client)
    assert confirmations(emulator) == calls + 1


# ---- only the channel's orders -----------------------------------------------------------------------------

def test_a_non_amazon_commerce_order_is_never_touched(steps, client, emulator):
    amazon_order = import_orders(steps, client)[0]
    so, soi = sales_order.c, sales_order_item.c
    with steps.engine.begin() as conn:  # a web-shop order: same shape, no channel order behind it
        template = dict(conn.execute(select(sales_order).where(so.entity_id == amazon_order["entity_id"]))
                        .mappings().one())
        web_id = conn.execute(insert(sales_order).values(
            {**{k: v for k, v in template.items() if k != "entity_id"}, "increment_id": "WEB-000001",
             "ext_order_id": "WEB-000001"})).inserted_primary_key[0]
        lines = conn.execute(select(sales_order_item).where(soi.order_id == amazon_order["entity_id"])).mappings().all()
        conn.execute(insert(sales_order_item), [
            {**{k: v for k, v in line.items() if k != "item_id"}, "order_id": web_id,
             "ext_order_item_id": f"WEB-{n}", "qty_shipped": 0} for n, line in enumerate(lines)])
        conn.execute(insert(inventory_reservation), [
            {"sku": line["sku"], "quantity": -line["qty_ordered"], "ext_order_id": "WEB-000001",
             "event": "order_placed"} for line in lines])
    skus = {line["sku"] for line in lines}
    create_shipment(steps.engine, "WEB-000001", "ups", "1Z999AA10123456785")
    stock_before, reserved_before = stock(steps.engine, skus), reservations(steps.engine)["WEB-000001"]

    reconciled, _ = cycle(steps, client)

    web = commerce_orders(steps.engine)["WEB-000001"]
    assert (web["state"], web["status"]) == ("processing", "processing")
    assert stock(steps.engine, skus) == stock_before
    assert reservations(steps.engine)["WEB-000001"] == reserved_before
    assert packages(steps.engine, "WEB-000001") == [] and reconciled.get("packages_new", 0) == 0


# ---- held packages ------------------------------------------------------------------------------------------

def requested_orders(steps, client) -> list[dict]:
    """Imported merchant orders whose buyer has an open cancellation request at Amazon (the emulator's fate)."""
    steps.stage("import", amazon_orders(client, end="2026-03-10T06:00:00Z"))
    steps.after_extract("import")
    channel = channel_orders(steps.engine)
    found = [o for o in commerce_orders(steps.engine).values()
             if o["state"] == "processing" and channel[o["ext_order_id"]]["cancel_requested"]]
    assert len(found) >= 2
    return found


def test_a_package_the_buyer_asked_to_cancel_is_held_until_staff_release_it(steps, client, emulator, commerce_url):
    order = requested_orders(steps, client)[0]
    amazon_id = order["ext_order_id"]
    ship(steps, emulator, order, "ups", "1Z999AA10123456784")
    reconciled, pushed = cycle(steps, client)
    assert reconciled["packages_held"] == 1 and pushed.get("sent", 0) == 0
    [package] = packages(steps.engine, amazon_id)
    assert package["state"] == "held" and package["last_error"].startswith("held: the buyer asked Amazon to cancel")
    assert emulator.get(f"orders/{amazon_id}")["packages"] == []
    assert commerce_orders(steps.engine)[amazon_id]["state"] == "processing"  # staff may still cancel it

    release = [sys.executable, "-m", "amazon_channel.hold", "release", order["increment_id"], "--db", commerce_url]
    done = subprocess.run(release, capture_output=True, text=True)
    assert done.returncode == 0 and "hold released, 1 package" in done.stdout
    assert packages(steps.engine, amazon_id)[0]["state"] == "pending"
    assert channel_orders(steps.engine)[amazon_id]["hold_released_at"] is not None
    assert channel_orders(steps.engine)[amazon_id]["note"].startswith("Hold released by staff")
    again = subprocess.run(release, capture_output=True, text=True)
    assert again.returncode == 2 and "already released" in again.stderr

    reconciled, pushed = cycle(steps, client)
    assert pushed["sent"] == 1 and not reconciled.get("packages_held")
    assert len(emulator.get(f"orders/{amazon_id}")["packages"]) == 1
    assert commerce_orders(steps.engine)[amazon_id]["state"] == "complete"


def test_a_held_package_of_an_order_cancelled_in_commerce_is_never_sent(steps, client, emulator):
    order = requested_orders(steps, client)[1]
    amazon_id = order["ext_order_id"]
    ship(steps, emulator, order, "ups", "1Z999AA10123456784")
    reconcile_shipments(steps.engine, CARRIERS)
    with steps.engine.begin() as conn:
        skus = set(conn.execute(select(sales_order_item.c.sku).where(
            sales_order_item.c.order_id == order["entity_id"])).scalars())
        # staff (or an ERP) cancel the order in Commerce
        conn.execute(update(sales_order).where(sales_order.c.entity_id == order["entity_id"])
                     .values(state="canceled", status="canceled"))
    before = stock(steps.engine, skus)
    reconciled, pushed = cycle(steps, client)
    assert reconciled["packages_canceled"] == 1 and pushed.get("sent", 0) == 0
    [package] = packages(steps.engine, amazon_id)
    assert package["state"] == "canceled" and "cancelled before" in package["last_error"]
    assert emulator.get(f"orders/{amazon_id}")["packages"] == [] and stock(steps.engine, skus) == before


def test_a_hold_ends_when_amazon_no_longer_lists_the_request(steps, client):
    amazon = Amazon(client)
    order = amazon.order(US, [amazon.item(1, "10.00", "10.00")])
    requested = later(order, 10)
    requested["orderItems"][0]["cancellation"] = {
        "cancellationRequest": {"requester": "BUYER", "cancelReason": "Changed mind about purchase"}}
    load(steps, "requested", requested)
    amazon_id = order["orderId"]
    create_shipment(steps.engine, amazon_id, "ups", "1Z999AA10123456784")
    assert reconcile_shipments(steps.engine, CARRIERS)["packages_held"] == 1
    assert "(Changed mind about purchase)" in packages(steps.engine, amazon_id)[0]["last_error"]

    withdrawn = later(order, 20)
    withdrawn["orderItems"][0].pop("cancellation", None)
    load(steps, "withdrawn", withdrawn)
    assert reconcile_shipments(steps.engine, CARRIERS)["packages_released"] == 1
    package = packages(steps.engine, amazon_id)[0]
    assert (package["state"], package["last_error"]) == ("pending", None)
