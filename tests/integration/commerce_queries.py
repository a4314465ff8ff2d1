"""Read helpers for assertions on the Commerce DB."""

from __future__ import annotations

from sqlalchemy import func, select

from amazon_channel.commerce.schema import channel_amazon_order, inventory_reservation, sales_order


def channel_orders(engine) -> dict[str, dict]:
    with engine.connect() as conn:
        return {r["amazon_order_id"]: dict(r) for r in conn.execute(select(channel_amazon_order)).mappings()}


def commerce_orders(engine) -> dict[str, dict]:
    with engine.connect() as conn:
        rows = conn.execute(select(sales_order)).mappings().all()
    by_ext = {r["ext_order_id"]: dict(r) for r in rows}
    assert len(by_ext) == len(rows), "two Commerce orders for one Amazon order"
    return by_ext


def reservations(engine) -> dict[str, int]:
    """Net reserved quantity per Amazon order (negative = stock held)."""
    r = inventory_reservation.c
    with engine.connect() as conn:
        return {e: int(q) for e, q in conn.execute(
            select(r.ext_order_id, func.sum(r.quantity)).group_by(r.ext_order_id))}


def should_have_commerce_order(status: str, fulfilled_by: str) -> str | None:
    """The Commerce state an Amazon order should have under the default settings (workflow.md)."""
    if fulfilled_by == "MERCHANT" and status in ("UNSHIPPED", "PARTIALLY_SHIPPED", "SHIPPED"):
        return "processing"
    if fulfilled_by == "AMAZON" and status == "SHIPPED":
        return "complete"
    return None


def imported(order: dict) -> bool:
    """Whether an Amazon order (emulator ground truth) belongs in the channel tables: FBA only once Shipped."""
    return order["fulfilledBy"] == "MERCHANT" or order["status"] == "SHIPPED"
