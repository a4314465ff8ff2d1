"""Demo catalog for `make run` and the tests: the emulator's SKUs, enabled and in stock.

`python -m amazon_channel.commerce.demo sqlite:///commerce.db` creates the schema and seeds the catalog once.
"""

from __future__ import annotations

import sys

from ..emulator.world import CATALOG
from .db import commerce_engine, insert_missing
from .schema import catalog_product, ensure_schema


def seed_catalog(engine, qty: int = 100_000) -> None:
    ensure_schema(engine)
    rows = [{"sku": sku, "name": title, "enabled": True, "qty": qty, "manage_stock": True}
            for sku, _asin, title, _price in CATALOG]
    with engine.begin() as conn:
        insert_missing(conn, catalog_product, rows, ["sku"])


if __name__ == "__main__":
    seed_catalog(commerce_engine(sys.argv[1]))
    print(f"Commerce DB ready with the demo catalog: {sys.argv[1]}")
