"""Example downstream consumer: export Commerce orders not exported yet as CSV (an ERP feed)."""

from __future__ import annotations

import csv
import io

import fsspec
from sqlalchemy import select
from sqlalchemy.engine import Engine

from .commerce.schema import sales_order
from .staging import Staging

COLUMNS = ["entity_id", "increment_id", "ext_order_id", "store_id", "state", "status", "grand_total",
           "order_currency_code", "created_at"]


def export_orders_since_mark(engine: Engine, staging: Staging) -> dict:
    folder = f"{staging.root}/erp_export"
    mark = f"{folder}/last_entity_id"
    last = 0
    if staging.exists(mark):
        with fsspec.open(mark, "r") as handle:
            last = int(handle.read())
    with engine.connect() as conn:
        rows = conn.execute(select(*(sales_order.c[c] for c in COLUMNS)).where(sales_order.c.entity_id > last)
                            .order_by(sales_order.c.entity_id)).all()
    if not rows:
        return {"exported": 0, "last_entity_id": last}
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    name = f"{folder}/orders-{rows[0].entity_id:09d}-{rows[-1].entity_id:09d}.csv"
    with fsspec.open(name, "w", encoding="utf-8") as handle:
        handle.write(buffer.getvalue())
    with fsspec.open(mark, "w") as handle:
        handle.write(str(rows[-1].entity_id))
    return {"exported": len(rows), "file": name, "last_entity_id": rows[-1].entity_id}
