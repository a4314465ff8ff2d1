"""Shipments in Commerce, recorded as staff or an ERP/WMS would (the `ship` CLI and the demo warehouse use it).

The pipeline never ships: it reads these shipments and confirms them to Amazon (`amazon_channel.shipping`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Engine

from ..timeutil import utcnow
from .schema import sales_order, sales_order_item, sales_shipment, sales_shipment_item, sales_shipment_track


def create_shipment(engine: Engine, order: str, carrier: str, tracking: str, items: dict[str, int] | None = None,
                    title: str | None = None, now: datetime | None = None) -> dict:
    """Ship items of a Commerce order (by increment id or Amazon order id); all remaining items by default."""
    now = now or utcnow()
    so, soi = sales_order.c, sales_order_item.c
    with engine.begin() as conn:
        row = conn.execute(select(so.entity_id, so.increment_id, so.state).where(
            (so.increment_id == order) | (so.ext_order_id == order))).first()
        if row is None:
            raise ValueError(f"no Commerce order {order}")
        if row.state != "processing":
            raise ValueError(f"order {row.increment_id} is {row.state}; only processing orders can be shipped")
        lines = conn.execute(select(soi.item_id, soi.sku, soi.qty_ordered, soi.qty_shipped, soi.qty_canceled)
                             .where(soi.order_id == row.entity_id)).all()
        open_qty = {line.sku: line.qty_ordered - line.qty_shipped - line.qty_canceled for line in lines}
        wanted = items or {sku: qty for sku, qty in open_qty.items() if qty > 0}
        for sku, qty in wanted.items():
            if sku not in open_qty:
                raise ValueError(f"order {row.increment_id} has no item {sku}")
            if not 0 < qty <= open_qty[sku]:
                raise ValueError(f"cannot ship {qty} x {sku}: {open_qty[sku]} left to ship")
        if not wanted:
            raise ValueError(f"order {row.increment_id} has nothing left to ship")
        count = conn.execute(select(func.count()).select_from(sales_shipment)
                             .where(sales_shipment.c.order_id == row.entity_id)).scalar_one()
        shipment_id = conn.execute(insert(sales_shipment).values(
            order_id=row.entity_id, increment_id=f"{row.increment_id}-{count + 1}", total_qty=sum(wanted.values()),
            email_sent=False, created_at=now)).inserted_primary_key[0]
        by_sku = {line.sku: line.item_id for line in lines}
        conn.execute(insert(sales_shipment_item), [
            {"parent_id": shipment_id, "order_item_id": by_sku[sku], "sku": sku, "qty": qty}
            for sku, qty in wanted.items()])
        for sku, qty in wanted.items():
            conn.execute(update(sales_order_item).where(soi.item_id == by_sku[sku])
                         .values(qty_shipped=soi.qty_shipped + qty))
        track_id = conn.execute(insert(sales_shipment_track).values(
            parent_id=shipment_id, order_id=row.entity_id, carrier_code=carrier, title=title or carrier,
            track_number=tracking, created_at=now)).inserted_primary_key[0]
    return {"order": row.increment_id, "shipment_id": shipment_id, "track_id": track_id, "items": wanted}
