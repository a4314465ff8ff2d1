"""Demo data for `make run` and the tests.

    python -m amazon_channel.tools.demo URL              create the schema, seed the catalog (once)
    python -m amazon_channel.tools.demo URL --warehouse  also ship imported merchant orders, every minute
"""

from __future__ import annotations

import argparse
import time
import zlib

from sqlalchemy import select

from ..commerce.db import commerce_engine, insert_missing
from ..commerce.schema import catalog_product, channel_amazon_order, ensure_schema, sales_order, sales_order_item
from ..commerce.shipments import create_shipment
from ..emulator.seed_data import CATALOG

CARRIERS = [("ups", "UPS"), ("usps", "USPS"), ("dhl", "DHL"), ("acme_freight", "ACME Freight")]  # the last: "Other"


def seed_catalog(engine, qty: int = 100_000) -> None:
    """The emulator's SKUs, enabled and in stock."""
    ensure_schema(engine)
    rows = [{"sku": sku, "name": title, "enabled": True, "qty": qty, "manage_stock": True}
            for sku, _asin, title, _price in CATALOG]
    with engine.begin() as conn:
        insert_missing(conn, catalog_product, rows, ["sku"])


def ship_ready_orders(engine, seen: set[str]) -> int:
    """One warehouse cycle: ship every merchant Amazon order already seen in the previous cycle.

    Carriers vary (one Amazon does not list); every third order with several items leaves in two packages.
    """
    o, c, i = sales_order.c, channel_amazon_order.c, sales_order_item.c
    with engine.connect() as conn:
        ready = conn.execute(select(o.increment_id, o.ext_order_id).join(
            channel_amazon_order, c.sales_order_id == o.entity_id).where(
            o.state == "processing", c.fulfillment_channel == "MFN")).all()
    shipped = 0
    for increment_id, amazon_id in ready:
        if increment_id not in seen:
            seen.add(increment_id)
            continue
        code, title = CARRIERS[zlib.crc32(amazon_id.encode()) % len(CARRIERS)]
        tracking = f"DEMO{zlib.crc32(increment_id.encode()):010d}"
        with engine.connect() as conn:
            open_lines = conn.execute(select(i.sku, i.qty_ordered - i.qty_shipped).join(
                sales_order, o.entity_id == i.order_id).where(o.increment_id == increment_id,
                                                              i.qty_shipped < i.qty_ordered)).all()
        try:
            if len(open_lines) > 1 and zlib.crc32(amazon_id.encode()) % 3 == 0:
                sku, qty = open_lines[0]
                create_shipment(engine, increment_id, code, tracking + "A", {sku: qty}, title)
            if open_lines:
                create_shipment(engine, increment_id, code, tracking, None, title)
                shipped += 1
        except ValueError as exc:  # e.g. canceled by Amazon meanwhile
            print(f"warehouse: order {increment_id} not shipped: {exc}", flush=True)
    return shipped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    parser.add_argument("--warehouse", action="store_true")
    parser.add_argument("--every", type=float, default=60.0)
    args = parser.parse_args()
    engine = commerce_engine(args.url)
    seed_catalog(engine)
    print(f"Commerce DB ready with the demo catalog: {args.url}", flush=True)
    seen: set[str] = set()
    while args.warehouse:
        time.sleep(args.every)
        count = ship_ready_orders(engine, seen)
        if count:
            print(f"warehouse: shipped {count} orders", flush=True)


if __name__ == "__main__":
    main()
