"""Every Commerce order of a whole emulator world carries Amazon's money exactly (../shared/docs/money.md).

The expectation is computed from the emulator's own model of each order (its ground truth `money`), never from the
JSON the pipeline read, and compared to the last digit with what the pipeline wrote: order and item amounts, the
payment, the invoice and its items. On SQLite, PostgreSQL and MariaDB.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from sqlalchemy import select

from amazon_channel.commerce.schema import (
    sales_invoice,
    sales_invoice_item,
    sales_order,
    sales_order_item,
    sales_order_payment,
    sales_order_status_history,
)
from amazon_channel.timeutil import iso_z
from tests.support import EMULATOR_CLOCK

pytestmark = [pytest.mark.emulator]

FOUR = Decimal("0.0001")
ZERO = Decimal(0)


def _d(value) -> Decimal:
    return ZERO if value is None else Decimal(str(value))


def expected_item(item: dict) -> dict:
    """sales_order_item amounts of one ground-truth item, by money.md's table."""
    amounts, tax, discount = item["amounts"], item["tax"], item["discount"]
    qty = Decimal(item["quantity"])
    row_total, item_tax = _d(amounts["ITEM"]), _d(tax["ITEM"])
    return {
        "row_total": row_total, "price": (row_total / qty).quantize(FOUR, ROUND_HALF_UP),
        "row_total_incl_tax": row_total + item_tax,
        "price_incl_tax": ((row_total + item_tax) / qty).quantize(FOUR, ROUND_HALF_UP),
        "tax_amount": sum((_d(v) for v in tax.values()), ZERO),
        "tax_percent": (item_tax / row_total * 100).quantize(FOUR, ROUND_HALF_UP) if row_total else ZERO,
        "discount_amount": -_d(discount["ITEM"]),
    }


def expected_order(money: dict) -> dict:
    """sales_order amounts of one ground-truth order, by money.md's table."""
    items = money["items"]

    def total(part: str, key: str) -> Decimal:
        return sum((_d(i[part].get(key)) for i in items), ZERO)

    tip = _d((money["deliveryTip"] or {}).get("amount"))
    order = {
        "subtotal": total("amounts", "ITEM"), "subtotal_incl_tax": total("amounts", "ITEM") + total("tax", "ITEM"),
        "tax_amount": sum((_d(v) for i in items for v in i["tax"].values()), ZERO),
        "shipping_amount": total("amounts", "SHIPPING"), "shipping_tax_amount": total("tax", "SHIPPING"),
        "shipping_incl_tax": total("amounts", "SHIPPING") + total("tax", "SHIPPING"),
        "discount_amount": sum((_d(v) for i in items for v in i["discount"].values()), ZERO),
        "shipping_discount_amount": -total("discount", "SHIPPING"),
        "gw_price": total("amounts", "GIFT_WRAP"), "gw_tax_amount": total("tax", "GIFT_WRAP"),
        "amazon_cod_fee": total("amounts", "COD_FEE"), "amazon_other_charges": total("amounts", "OTHER"),
        "amazon_delivery_tip": tip, "grand_total": _d(money["grandTotal"]),
    }
    return order


def _rows(conn, table, key: str) -> dict:
    return {r[key]: dict(r) for r in conn.execute(select(table)).mappings()}


def test_every_commerce_order_of_the_world_carries_amazons_money(steps, emulator):
    clock = datetime.fromisoformat(EMULATOR_CLOCK.replace("Z", "+00:00"))
    start, end = clock - timedelta(days=11), clock - timedelta(minutes=3)  # the whole history of the world
    steps.extract("world", start, end)
    steps.after_extract("world")
    truth = {o["orderId"]: o for o in emulator.truth(iso_z(start), iso_z(end))}

    with steps.engine.connect() as conn:
        orders = _rows(conn, sales_order, "entity_id")
        payments = _rows(conn, sales_order_payment, "parent_id")
        invoices = _rows(conn, sales_invoice, "order_id")
        lines = defaultdict(dict)
        for line in conn.execute(select(sales_order_item)).mappings():
            lines[line["order_id"]][line["ext_order_item_id"]] = dict(line)
        invoiced = defaultdict(dict)
        for line in conn.execute(select(sales_invoice_item)).mappings():
            invoiced[line["parent_id"]][line["order_item_id"]] = dict(line)
        comments = defaultdict(list)
        for row in conn.execute(select(sales_order_status_history)).mappings():
            comments[row["parent_id"]].append(row)

    assert len(orders) > 1500, "a whole world imports thousands of Commerce orders"
    seen = defaultdict(int)
    for entity_id, order in orders.items():
        money = truth[order["ext_order_id"]]["money"]
        want = expected_order(money)
        got = {k: order[k] for k in want}
        assert got == want, order["ext_order_id"]
        # The columns add up to the grand total (discounts are negative; shipping discount is part of them).
        assert sum((want[k] for k in ("subtotal", "shipping_amount", "gw_price", "amazon_cod_fee",
                                      "amazon_other_charges", "tax_amount", "discount_amount",
                                      "amazon_delivery_tip")), ZERO) == want["grand_total"]
        for twin in ("subtotal", "tax_amount", "shipping_amount", "discount_amount", "grand_total"):
            assert order[f"base_{twin}"] == order[twin]
        assert (order["base_currency_code"], order["base_to_order_rate"]) == (money["currency"], Decimal(1))
        assert order["total_invoiced"] == order["total_paid"] == order["grand_total"]

        payment = payments[entity_id]
        assert (payment["method"], payment["amount_ordered"], payment["amount_paid"]) == (
            "amazon", order["grand_total"], order["grand_total"])
        assert payment["po_number"] == money["purchaseOrderNumber"]
        registration = money["buyerTaxRegistration"]
        assert order["customer_taxvat"] == (f"{registration['type']} {registration['number']}" if registration
                                            else None)
        invoice = invoices[entity_id]
        assert {k: invoice[k] for k in want} == want
        assert comments[entity_id], "the order's history says it was imported paid"

        by_item = {i["orderItemId"]: i for i in money["items"]}
        assert set(lines[entity_id]) == set(by_item)
        for item_id, line in lines[entity_id].items():
            want_line = expected_item(by_item[item_id])
            assert {k: line[k] for k in want_line} == want_line, (order["ext_order_id"], item_id)
            assert line["qty_invoiced"] == line["qty_ordered"]
            assert {k: invoiced[invoice["entity_id"]][line["item_id"]][k] for k in
                    ("row_total", "tax_amount", "discount_amount")} == {
                k: want_line[k] for k in ("row_total", "tax_amount", "discount_amount")}

        seen["taxed"] += want["tax_amount"] > 0
        seen["tax included"] += bool(money["taxInclusive"]) and want["tax_amount"] > 0
        seen["shipping tax"] += want["shipping_tax_amount"] > 0
        seen["item discount"] += any(_d(i["discount"]["ITEM"]) < 0 for i in money["items"])
        seen["shipping discount"] += want["shipping_discount_amount"] > 0
        seen["gift wrap"] += want["gw_price"] > 0
        seen["COD fee"] += want["amazon_cod_fee"] > 0
        seen["delivery tip"] += want["amazon_delivery_tip"] > 0
        seen["purchase order"] += payment["po_number"] is not None
        seen["zero-digit currency"] += money["currency"] == "JPY"
    assert {feature: seen[feature] > 0 for feature in seen} == dict.fromkeys(seen, True), dict(seen)
    assert len(seen) == 10
