"""Ship from Commerce and confirm to Amazon (merchant step 5) against the emulator, on all three databases."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from amazon_channel.commerce.schema import (
    catalog_product,
    channel_amazon_order,
    channel_amazon_package,
    sales_order,
    sales_order_item,
    sales_shipment_track,
)
from amazon_channel.commerce.shipments import create_shipment
from amazon_channel.shipping import carrier_mapping, push_tracking, reconcile_shipments
from tests.integration.commerce_queries import channel_orders, commerce_orders
from tests.integration.pipeline_steps import amazon_orders
from tests.support import ROOT

pytestmark = [pytest.mark.emulator]
CARRIERS = carrier_mapping(None)


def import_orders(steps, client) -> list[dict]:
    """Import a batch and return its processing merchant Commerce orders (with their items); orders the buyer asked
    to cancel are left out (their packages are held: test_channel_truth)."""
    steps.stage("import", amazon_orders(client))
    steps.after_extract("import")
    channel = channel_orders(steps.engine)
    orders = [o for o in commerce_orders(steps.engine).values()
              if o["state"] == "processing" and channel[o["ext_order_id"]]["fulfillment_channel"] == "MFN"
              and not channel[o["ext_order_id"]]["cancel_requested"]]
    with steps.engine.connect() as conn:
        for order in orders:
            order["items"] = conn.execute(select(sales_order_item.c.sku, sales_order_item.c.qty_ordered).where(
                sales_order_item.c.order_id == order["entity_id"])).all()
    assert orders
    return orders


def packages(engine, amazon_order_id=None) -> list[dict]:
    p = channel_amazon_package.c
    with engine.connect() as conn:
        query = select(channel_amazon_package).order_by(p.id)
        if amazon_order_id:
            query = query.where(p.amazon_order_id == amazon_order_id)
        return [dict(r) for r in conn.execute(query).mappings()]


def ship(steps, emulator, order: dict, carrier: str, tracking: str, items=None, title=None) -> dict:
    """A shipment made in Commerce now, on the emulator's clock (its world lives in March 2026)."""
    now = datetime.fromisoformat(emulator.get("health")["now"].replace("Z", "+00:00"))
    return create_shipment(steps.engine, order["increment_id"], carrier, tracking, items, title, now=now)


def cycle(steps, client) -> tuple[dict, dict]:
    return reconcile_shipments(steps.engine, CARRIERS), push_tracking(steps.engine, client)


def extract_now(steps, emulator, run_id: str) -> None:
    """A later DAG run: the clock moves on and the window brings what changed at Amazon (confirmations included)."""
    now = emulator.advance(180)
    end = datetime.fromisoformat(now.replace("Z", "+00:00")) - timedelta(minutes=2)
    steps.extract(run_id, end - timedelta(minutes=10), end)
    steps.after_extract(run_id)


def notices(emulator, amazon_order_id) -> list[dict]:
    return [n for n in emulator.get("notifications")["notifications"] if n["orderId"] == amazon_order_id]


def test_a_shipped_order_is_confirmed_and_completed(steps, client, emulator):
    order = import_orders(steps, client)[0]
    amazon_id = order["ext_order_id"]
    sku, qty = order["items"][0]
    with steps.engine.connect() as conn:
        stock_before = conn.execute(select(catalog_product.c.qty).where(catalog_product.c.sku == sku)).scalar_one()
    ship(steps, emulator, order, "ups", "1Z999AA10123456784")
    reconciled, pushed = cycle(steps, client)
    assert reconciled["packages_new"] == 1 and reconciled["orders_completed"] == 1 and pushed["sent"] == 1
    truth = emulator.get(f"orders/{amazon_id}")
    assert truth["status"] == "SHIPPED" and len(truth["packages"]) == 1
    assert (truth["packages"][0]["carrier_code"] == "UPS"
            and truth["packages"][0]["tracking_number"] == "1Z999AA10123456784")
    assert len(notices(emulator, amazon_id)) == 1  # the buyer hears from Amazon, once
    assert commerce_orders(steps.engine)[amazon_id]["state"] == "complete"
    assert channel_orders(steps.engine)[amazon_id]["status"] == "Unshipped"  # Amazon's, until an extract says more
    with steps.engine.connect() as conn:
        stock_after = conn.execute(select(catalog_product.c.qty).where(catalog_product.c.sku == sku)).scalar_one()
    assert stock_before - stock_after >= qty

    # The next extract sees Amazon's own Shipped status with our package: the loop is closed.
    extract_now(steps, emulator, "later")
    assert channel_orders(steps.engine)[amazon_id]["status"] == "Shipped"
    assert channel_orders(steps.engine)[amazon_id]["items_unshipped"] == 0
    assert reconcile_shipments(steps.engine, CARRIERS)["packages_confirmed"] == 1
    assert packages(steps.engine, amazon_id)[0]["state"] == "confirmed"


def test_two_packages_for_one_order(steps, client, emulator):
    order = next(o for o in import_orders(steps, client) if len(o["items"]) >= 2)
    amazon_id = order["ext_order_id"]
    first_sku, first_qty = order["items"][0]
    ship(steps, emulator, order, "usps", "9400111899223100001", {first_sku: first_qty})
    cycle(steps, client)
    assert emulator.get(f"orders/{amazon_id}")["status"] == "PARTIALLY_SHIPPED"
    assert channel_orders(steps.engine)[amazon_id]["status"] == "Unshipped"  # not until Amazon's data says so
    extract_now(steps, emulator, "later")
    assert channel_orders(steps.engine)[amazon_id]["status"] == "PartiallyShipped"
    assert commerce_orders(steps.engine)[amazon_id]["state"] == "processing"
    ship(steps, emulator, order, "usps", "9400111899223100002")
    cycle(steps, client)
    truth = emulator.get(f"orders/{amazon_id}")
    assert truth["status"] == "SHIPPED" and len(truth["packages"]) == 2
    assert len(notices(emulator, amazon_id)) == 2
    assert commerce_orders(steps.engine)[amazon_id]["state"] == "complete"
    assert [p["state"] for p in packages(steps.engine, amazon_id)] == ["confirmed", "sent"]  # first one seen


def test_a_rejected_tracking_number_is_visible_and_not_resent_blindly(steps, client, emulator):
    order = import_orders(steps, client)[0]
    amazon_id = order["ext_order_id"]
    ship(steps, emulator, order, "ups", "bad tracking!")
    _, pushed = cycle(steps, client)
    assert pushed["failed"] == 1 and "tracking number is invalid" in pushed["rejected"][0]["error"]
    assert pushed["rejected"][0]["request_id"]
    package = packages(steps.engine, amazon_id)[0]
    assert package["state"] == "failed" and "tracking number is invalid" in package["last_error"]
    assert "rejected by Amazon" in channel_orders(steps.engine)[amazon_id]["note"]
    assert channel_orders(steps.engine)[amazon_id]["status"] == "Unshipped"  # Amazon's own; the view says Error
    calls = emulator.get("stats")["operations"]["confirmShipment"]["requests"]
    cycle(steps, client)
    assert emulator.get("stats")["operations"]["confirmShipment"]["requests"] == calls  # no blind retry
    with steps.engine.begin() as conn:  # staff correct the tracking number in Commerce
        conn.execute(update(sales_shipment_track).values(track_number="1Z999AA10123456784"))
    reconciled, pushed = cycle(steps, client)
    assert reconciled["packages_corrected"] == 1 and pushed["sent"] == 1
    assert len(emulator.get(f"orders/{amazon_id}")["packages"]) == 1


def test_a_throttling_storm_loses_no_package(steps, client, emulator):
    orders = import_orders(steps, client)[:12]
    for n, order in enumerate(orders):
        ship(steps, emulator, order, "fedex", f"7489{n:08d}")
    reconcile_shipments(steps.engine, CARRIERS)
    emulator.configure(throttle_rate=0.6)
    pushed = push_tracking(steps.engine, client)
    assert pushed["sent"] == 12 and client.stats.throttled > 0
    for order in orders:
        assert len(emulator.get(f"orders/{order['ext_order_id']}")["packages"]) == 1
        assert len(notices(emulator, order["ext_order_id"])) == 1


def test_a_crash_after_amazon_accepted_does_not_create_a_second_package(steps, client, emulator, commerce_url):
    order = import_orders(steps, client)[0]
    amazon_id = order["ext_order_id"]
    ship(steps, emulator, order, "dhl", "JD014600003828471234")
    reconcile_shipments(steps.engine, CARRIERS)
    emulator.configure(slow_rate=1.0, slow_seconds=1.5)  # Amazon takes its time answering
    cfg = emulator.get("config")
    code = ("import json, os; from amazon_channel.spapi import SpApiClient, SpApiConfig; "
            "from amazon_channel.commerce.db import commerce_engine; "
            "from amazon_channel.shipping import push_tracking; "
            "a = json.loads(os.environ['ARGS']); "
            "push_tracking(commerce_engine(a['url']), "
            "SpApiClient(SpApiConfig.from_connection(a['id'], a['secret'], a['extra'])))")
    args = {"url": commerce_url, "id": cfg["client_id"], "secret": cfg["client_secret"],
            "extra": emulator.connection_extra()}
    worker = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "ARGS": json.dumps(args)}, cwd=ROOT)
    deadline = time.monotonic() + 30
    while packages(steps.engine, amazon_id)[0]["state"] != "sending":  # committed just before the call
        assert time.monotonic() < deadline and worker.poll() is None
        time.sleep(0.02)
    time.sleep(0.3)
    worker.kill()  # the process dies while Amazon is accepting the package
    worker.wait()
    time.sleep(1.6)
    assert len(emulator.get(f"orders/{amazon_id}")["packages"]) == 1
    assert packages(steps.engine, amazon_id)[0]["state"] == "sending"  # we never learnt the answer

    emulator.configure(slow_rate=0.0)
    assert push_tracking(steps.engine, client)["sent"] == 1  # the retry re-sends the same packageReferenceId
    truth = emulator.get(f"orders/{amazon_id}")
    assert len(truth["packages"]) == 1 and truth["packages"][0]["revision"] == 2
    assert len(notices(emulator, amazon_id)) == 1


def test_carrier_mapping_and_other_carriers(steps, client, emulator):
    orders = import_orders(steps, client)
    ship(steps, emulator, orders[0], "acme_freight", "ACME-000123", title="ACME Freight")
    ship(steps, emulator, orders[1], "DHL", "JD014600003828471235")
    cycle(steps, client)
    first = emulator.get(f"orders/{orders[0]['ext_order_id']}")["packages"][0]
    second = emulator.get(f"orders/{orders[1]['ext_order_id']}")["packages"][0]
    assert (first["carrier_code"], first["carrier_name"]) == ("Other", "ACME Freight")
    assert second["carrier_code"] == "DHL"


def test_fba_and_canceled_orders_are_never_shipped_from_commerce(steps, client):
    orders = import_orders(steps, client)
    sales = commerce_orders(steps.engine)
    fba = next(o for o in sales.values() if o["state"] == "complete")
    with pytest.raises(ValueError, match="only processing orders"):
        create_shipment(steps.engine, fba["increment_id"], "ups", "1Z999AA10123456784")
    with steps.engine.begin() as conn:
        conn.execute(update(sales_order).where(sales_order.c.entity_id == orders[0]["entity_id"])
                     .values(state="canceled"))
    with pytest.raises(ValueError, match="canceled"):
        create_shipment(steps.engine, orders[0]["increment_id"], "ups", "1Z999AA10123456784")


def test_ship_cli(steps, client, commerce_url):
    order = import_orders(steps, client)[0]
    sku, qty = order["items"][0]
    ship = [sys.executable, "-m", "amazon_channel.ship", "--db", commerce_url, order["increment_id"],
            "--carrier", "ups", "--tracking", "1Z999AA10123456784"]
    too_many = subprocess.run([*ship, "--item", f"{sku}={qty + 1}"], capture_output=True, text=True)
    assert too_many.returncode == 2 and "left to ship" in too_many.stderr
    done = subprocess.run([*ship, "--item", f"{sku}={qty}"], capture_output=True, text=True)
    assert done.returncode == 0 and order["increment_id"] in done.stdout
    assert reconcile_shipments(steps.engine, CARRIERS)["packages_new"] == 1
    with steps.engine.connect() as conn:
        status = conn.execute(select(channel_amazon_order.c.status).where(
            channel_amazon_order.c.amazon_order_id == order["ext_order_id"])).scalar_one()
    assert status == "Unshipped"  # a package in the outbox is not a shipment at Amazon
