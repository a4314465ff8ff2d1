"""A Commerce DB with something of everything the Amazon Orders view shows, made by the real pipeline steps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from amazon_channel.commerce.schema import catalog_product
from amazon_channel.commerce.shipments import create_shipment
from amazon_channel.shipping import carrier_mapping, push_tracking, reconcile_shipments
from tests.integration.commerce_queries import channel_orders, commerce_orders

START = datetime(2026, 3, 9, 0, tzinfo=UTC)
HOURS = 6
BLOCKED_SKU = "SKU-0001"


def populate(steps, emulator) -> dict:
    """Six hourly runs (one with a disabled product), one order shipped and confirmed, one tracking rejected."""
    with steps.engine.begin() as conn:
        conn.execute(update(catalog_product).where(catalog_product.c.sku == BLOCKED_SKU).values(enabled=False))
    for hour in range(HOURS):
        start = START + timedelta(hours=hour)
        run_id = f"scheduled__{start.isoformat()}"
        steps.after_extract(run_id, extracted=steps.extract(run_id, start, start + timedelta(hours=1)))
    channel = channel_orders(steps.engine)
    merchant = sorted((o for o in commerce_orders(steps.engine).values()
                       if o["state"] == "processing" and channel[o["ext_order_id"]]["fulfillment_channel"] == "MFN"
                       and not channel[o["ext_order_id"]]["cancel_requested"]),  # those would be held
                      key=lambda o: o["increment_id"])
    now = datetime.fromisoformat(emulator.get("health")["now"].replace("Z", "+00:00"))
    shipped, rejected = merchant[0], merchant[1]
    create_shipment(steps.engine, shipped["increment_id"], "ups", "1Z999AA10123456784", now=now)
    create_shipment(steps.engine, rejected["increment_id"], "ups", "bad tracking!", now=now)
    reconcile_shipments(steps.engine, carrier_mapping(None))
    push_tracking(steps.engine, steps.client)
    return {"shipped": shipped["ext_order_id"], "rejected": rejected["ext_order_id"],
            "window_end": START + timedelta(hours=HOURS)}
