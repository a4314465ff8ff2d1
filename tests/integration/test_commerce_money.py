"""Amazon's money in Commerce (money.md), through the real steps into each database: hand-made Amazon orders of the
official shape, one per breakdown type and rule, staged as extract would stage them and then validated, transformed
and loaded. Every Commerce order is checked to add up, to be paid and invoiced whole, and to keep Amazon's figures."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import inspect, select, text, update
from sqlalchemy.schema import DropIndex

from amazon_channel.commerce.load import load_orders
from amazon_channel.commerce.schema import (
    DOCUMENT_TOTALS,
    LINE_AMOUNTS,
    base_twin,
    catalog_product,
    channel_amazon_order,
    channel_amazon_order_item,
    channel_amazon_order_note,
    ensure_schema,
    metadata,
    sales_creditmemo,
    sales_creditmemo_item,
    sales_invoice,
    sales_invoice_item,
    sales_order,
    sales_order_item,
    sales_order_payment,
    sales_order_status_history,
)
from amazon_channel.steps import transform_step, validate_step
from tests.integration.commerce_queries import channel_orders, commerce_orders, reservations
from tests.integration.pipeline_steps import DEFAULT, amazon_orders
from tests.support import table_checksums

pytestmark = [pytest.mark.emulator]

US, UK, DE, JP = "ATVPDKIKX0DER", "A1F83G8C2ARO7P", "A1PA6795UKMFR9", "A1VC38T7YXB528"
CURRENCY = {US: "USD", UK: "GBP", DE: "EUR", JP: "JPY"}
D = Decimal


# ---- Amazon orders made by hand ----------------------------------------------------------------------------------

class Amazon:
    """Orders of the official v2026-01-01 shape, built on a real emulator order (buyer, address, times) with the
    amounts each test needs. `item(...)` amounts are Amazon's breakdown subtotals as text."""

    def __init__(self, client):
        orders = amazon_orders(client)
        self.merchant = next(o for o in orders if o["fulfillment"]["fulfilledBy"] == "MERCHANT"
                             and o["fulfillment"]["fulfillmentStatus"] == "UNSHIPPED")
        self.fba = next(o for o in orders if o["fulfillment"]["fulfilledBy"] == "AMAZON"
                        and o["fulfillment"]["fulfillmentStatus"] == "SHIPPED")
        self.skus = sorted({i["product"]["sellerSku"] for o in orders for i in o["orderItems"]})
        self.count = 0

    @staticmethod
    def item(qty: int, unit: str, ITEM: str, tax: dict | None = None, discount: dict | None = None,  # noqa: N803
             detailed: bool = True, promotions: tuple = (), model: str | None = None, scheme: str | None = None,
             sku: int | None = None, **charges: str) -> dict:
        """An item: quantity, Amazon's unitPrice, the ITEM amount, other charges (SHIPPING=..., GIFT_WRAP=...,
        COD_FEE=..., OTHER=...), TAX and DISCOUNT by subtype (without detailedBreakdowns when not `detailed`); the
        catalog's n-th SKU when `sku` is given, else the item's position's."""
        return {"qty": qty, "unit": unit, "charges": {"ITEM": ITEM, **charges}, "tax": tax or {},
                "discount": discount or {}, "detailed": detailed, "promotions": promotions, "model": model,
                "scheme": scheme, "sku": sku}

    def order(self, marketplace: str, items: list[dict], tip: tuple[str, str] | None = None, fba: bool = False,
              po: str | None = None, registration: tuple[str, str] | None = None) -> dict:
        self.count += 1
        currency = CURRENCY[marketplace]
        order = copy.deepcopy(self.fba if fba else self.merchant)
        order["orderId"] = f"902-{self.count:07d}-{len(items):07d}"
        order["salesChannel"]["marketplaceId"] = marketplace
        template, order["orderItems"] = order["orderItems"][0], []
        totals: dict[str, Decimal] = {}
        for n, spec in enumerate(items):
            entry = copy.deepcopy(template)
            entry["orderItemId"] = f"{self.count:06d}{n:08d}"
            entry["quantityOrdered"] = spec["qty"]
            entry["product"]["sellerSku"] = self.skus[n if spec["sku"] is None else spec["sku"]]
            entry["product"]["price"] = {"unitPrice": money(spec["unit"], currency)}
            if fba:
                entry["fulfillment"] = {"quantityFulfilled": spec["qty"], "quantityUnfulfilled": 0}
            else:
                entry["fulfillment"] = {"quantityFulfilled": 0, "quantityUnfulfilled": spec["qty"]}
            breakdowns = [{"type": kind, "subtotal": money(amount, currency)}
                          for kind, amount in spec["charges"].items()]
            for kind in ("TAX", "DISCOUNT"):
                if spec[kind.lower()]:
                    parts = spec[kind.lower()]
                    breakdown = {"type": kind, "subtotal": money(str(sum(D(v) for v in parts.values())), currency)}
                    if spec["detailed"]:
                        breakdown["detailedBreakdowns"] = [{"subtype": subtype, "value": money(value, currency)}
                                                           for subtype, value in parts.items()]
                    breakdowns.append(breakdown)
            item_total = sum(D(b["subtotal"]["amount"]) for b in breakdowns)
            entry["proceeds"] = {"proceedsTotal": money(str(item_total), currency), "breakdowns": breakdowns}
            for b in breakdowns:
                totals[b["type"]] = totals.get(b["type"], D(0)) + D(b["subtotal"]["amount"])
            entry.pop("promotion", None)
            entry.pop("tax", None)
            if spec["promotions"]:
                entry["promotion"] = {"breakdowns": [{"promotionId": p} for p in spec["promotions"]]}
            if spec["model"] or spec["scheme"]:
                entry["tax"] = {}
                if spec["model"]:
                    entry["tax"]["taxCollections"] = [{"model": spec["model"], "responsibleParty": "AMAZON_SERVICES"}]
                if spec["scheme"]:
                    entry["tax"]["taxCalculationBreakdowns"] = [{"reportingScheme": spec["scheme"]}]
            order["orderItems"].append(entry)
        breakdowns = [{"type": kind, "subtotal": money(str(amount), currency)} for kind, amount in totals.items()]
        grand_total = sum(totals.values(), D(0))
        if tip:
            breakdowns.append({"type": "DELIVERY_TIP", "status": tip[1], "subtotal": money(tip[0], currency)})
            grand_total += D(tip[0])
        order["proceeds"] = {"grandTotal": money(str(grand_total), currency), "breakdowns": breakdowns}
        order.pop("tax", None)
        order["buyer"] = {k: v for k, v in order.get("buyer", {}).items() if k != "buyerPurchaseOrderNumber"}
        if po:
            order["buyer"]["buyerPurchaseOrderNumber"] = po
        if registration:
            order["tax"] = {"taxRegistrations": [{"entityType": "BUYER", "taxRegistrationType": registration[0],
                                                  "taxRegistrationNumber": registration[1]}]}
        return order


def money(amount: str, currency: str) -> dict:
    return {"amount": amount, "currencyCode": currency}


def later(order: dict, minutes: int = 30, **fulfillment) -> dict:
    """The same order as Amazon sends it later (with the given fulfillment fields changed)."""
    updated = datetime.fromisoformat(order["lastUpdatedTime"].replace("Z", "+00:00")) + timedelta(minutes=minutes)
    newer = copy.deepcopy(order)
    newer["lastUpdatedTime"] = updated.strftime("%Y-%m-%dT%H:%M:%SZ")
    newer["fulfillment"].update(fulfillment)
    return newer


@pytest.fixture
def amazon(client):
    return Amazon(client)


def load(steps, run_id: str, *orders: dict) -> dict:
    """Stage the orders as extract would and run every step after it; returns the load summary."""
    steps.stage(run_id, list(orders))
    validated, loaded = steps.after_extract(run_id)
    assert validated["quarantined"] == 0, validated
    return loaded


# ---- what Commerce holds ---------------------------------------------------------------------------------------

def rows(conn, table, **where) -> list[dict]:
    query = select(table).where(*(table.c[k] == v for k, v in where.items())).order_by(*table.primary_key.columns)
    return [dict(r) for r in conn.execute(query).mappings()]


def booked(engine, amazon_order_id: str) -> dict:
    """The Commerce order of an Amazon order with everything attached, after checking what holds for every order:
    the totals add up to the grand total, the base twins equal the amounts (rate 1), the payment and the one
    invoice hold the order's amounts to the last digit, and Amazon's own figures add up in the channel tables."""
    with engine.connect() as conn:
        [order] = rows(conn, sales_order, ext_order_id=amazon_order_id)
        items = rows(conn, sales_order_item, order_id=order["entity_id"])
        [payment] = rows(conn, sales_order_payment, parent_id=order["entity_id"])
        [invoice] = rows(conn, sales_invoice, order_id=order["entity_id"])
        invoice_items = rows(conn, sales_invoice_item, parent_id=invoice["entity_id"])
        history = rows(conn, sales_order_status_history, parent_id=order["entity_id"])
        memos = rows(conn, sales_creditmemo, order_id=order["entity_id"])
        memo_items = [i for m in memos for i in rows(conn, sales_creditmemo_item, parent_id=m["entity_id"])]
        [channel] = rows(conn, channel_amazon_order, amazon_order_id=amazon_order_id)
        channel_items = rows(conn, channel_amazon_order_item, amazon_order_id=amazon_order_id)
    assert order["grand_total"] == (order["subtotal"] + order["shipping_amount"] + order["gw_price"]
                                    + order["amazon_cod_fee"] + order["amazon_other_charges"] + order["tax_amount"]
                                    + order["discount_amount"] + order["amazon_delivery_tip"])
    assert channel["grand_total"] == sum((i["proceeds_total"] for i in channel_items), D(0)) + channel["delivery_tip"]
    assert order["subtotal"] == sum(i["row_total"] for i in items)
    assert (order["base_currency_code"], order["base_to_order_rate"]) == (order["order_currency_code"], 1)
    for row, names in [(order, DOCUMENT_TOTALS), (invoice, DOCUMENT_TOTALS),
                       *((item, LINE_AMOUNTS) for item in items + invoice_items)]:
        assert all(row[base_twin(n)] == row[n] for n in names)
    assert {n: invoice[n] for n in DOCUMENT_TOTALS} == {n: order[n] for n in DOCUMENT_TOTALS}
    assert (invoice["state"], invoice["increment_id"], invoice["total_qty"]) == (
        2, order["increment_id"], order["total_qty_ordered"])
    assert (payment["method"], payment["amount_ordered"], payment["amount_paid"]) == (
        "amazon", order["grand_total"], order["grand_total"])
    assert order["total_invoiced"] == order["total_paid"] == order["base_total_paid"] == order["grand_total"]
    by_item = {i["item_id"]: i for i in items}
    assert sorted(i["order_item_id"] for i in invoice_items) == sorted(by_item)
    for line in invoice_items:
        item = by_item[line["order_item_id"]]
        assert line["qty"] == item["qty_invoiced"] == item["qty_ordered"]
        assert {n: line[n] for n in LINE_AMOUNTS} == {n: item[n] for n in LINE_AMOUNTS}
    return {"order": order, "items": items, "payment": payment, "invoice": invoice, "history": history,
            "memos": memos, "memo_items": memo_items, "channel": channel, "channel_items": channel_items}


def amounts(row: dict, *names: str) -> dict:
    return {n: row[n] for n in names}


def decimals(**values: str) -> dict:
    return {k: D(v) for k, v in values.items()}


ORDER_AMOUNTS = ("subtotal", "subtotal_incl_tax", "tax_amount", "shipping_amount", "shipping_tax_amount",
                 "shipping_incl_tax", "discount_amount", "shipping_discount_amount", "gw_price", "gw_tax_amount",
                 "amazon_cod_fee", "amazon_cod_fee_tax", "amazon_other_charges", "amazon_delivery_tip", "grand_total")
ITEM_AMOUNTS = ("price", "price_incl_tax", "row_total", "row_total_incl_tax", "tax_amount", "tax_percent",
                "discount_amount")


def order_amounts(**values: str) -> dict:
    """Every order amount, 0 unless given."""
    return {n: D(values.pop(n, "0")) for n in ORDER_AMOUNTS} | ({} if not values else {"unknown": values})


# ---- one test per column group of money.md ----------------------------------------------------------------------

def test_us_tax_on_top_of_the_price(steps, amazon):
    """Amazon's own US example (39.99 + TAX 10.00 = 49.99) books tax as tax, not as shipping; a second order has
    item and shipping tax by subtype and a price that does not divide by the quantity."""
    example = amazon.order(US, [amazon.item(1, "39.99", "39.99", tax={"ITEM": "10.00"}, detailed=False)])
    split = amazon.order(US, [amazon.item(3, "3.33", "10.00", SHIPPING="4.99",
                                          tax={"ITEM": "0.83", "SHIPPING": "0.41"})])
    load(steps, "us-tax", example, split)

    got = booked(steps.engine, example["orderId"])
    assert amounts(got["order"], *ORDER_AMOUNTS) == order_amounts(
        subtotal="39.99", subtotal_incl_tax="49.99", tax_amount="10.00", grand_total="49.99")
    assert amounts(got["items"][0], *ITEM_AMOUNTS) == decimals(
        price="39.99", price_incl_tax="49.99", row_total="39.99", row_total_incl_tax="49.99", tax_amount="10.00",
        tax_percent="25.0063", discount_amount="0")

    got = booked(steps.engine, split["orderId"])
    assert amounts(got["order"], *ORDER_AMOUNTS) == order_amounts(
        subtotal="10.00", subtotal_incl_tax="10.83", tax_amount="1.24", shipping_amount="4.99",
        shipping_tax_amount="0.41", shipping_incl_tax="5.40", grand_total="16.23")
    assert amounts(got["items"][0], *ITEM_AMOUNTS) == decimals(
        price="3.3333", price_incl_tax="3.6100", row_total="10.00", row_total_incl_tax="10.83", tax_amount="1.24",
        tax_percent="8.3000", discount_amount="0")
    assert amounts(got["channel_items"][0], "item_amount", "shipping_amount", "tax_amount", "item_tax",
                   "shipping_tax", "other_tax", "proceeds_total", "unit_price") == decimals(
        item_amount="10.00", shipping_amount="4.99", tax_amount="1.24", item_tax="0.83", shipping_tax="0.41",
        other_tax="0", proceeds_total="16.23", unit_price="3.33")


def test_uk_prices_include_vat_and_commerce_keeps_net_and_gross(steps, amazon):
    """UK: unitPrice is the VAT-inclusive shelf price, ITEM the net amount; Commerce keeps both."""
    uk = amazon.order(UK, [amazon.item(2, "12.00", "20.00", SHIPPING="2.50", tax={"ITEM": "4.00", "SHIPPING": "0.50"}),
                           amazon.item(1, "5.99", "4.99", tax={"ITEM": "1.00"})])
    load(steps, "uk-vat", uk)

    got = booked(steps.engine, uk["orderId"])
    assert got["order"]["order_currency_code"] == "GBP"
    assert amounts(got["order"], *ORDER_AMOUNTS) == order_amounts(
        subtotal="24.99", subtotal_incl_tax="29.99", tax_amount="5.50", shipping_amount="2.50",
        shipping_tax_amount="0.50", shipping_incl_tax="3.00", grand_total="32.99")
    first, second = got["items"]
    assert amounts(first, *ITEM_AMOUNTS) == decimals(
        price="10.00", price_incl_tax="12.00", row_total="20.00", row_total_incl_tax="24.00", tax_amount="4.50",
        tax_percent="20.0000", discount_amount="0")
    assert amounts(second, *ITEM_AMOUNTS) == decimals(
        price="4.99", price_incl_tax="5.99", row_total="4.99", row_total_incl_tax="5.99", tax_amount="1.00",
        tax_percent="20.0401", discount_amount="0")


def test_item_and_shipping_discounts(steps, amazon):
    """DISCOUNT is negative at Amazon and on Magento's order, positive on Magento's items; shipping_discount_amount is
    positive; a DISCOUNT without details applies to ITEM. Promotion ids stay with the channel item."""
    order = amazon.order(US, [
        amazon.item(2, "25.00", "50.00", SHIPPING="5.99", tax={"ITEM": "3.60"},
                    discount={"ITEM": "-5.00", "SHIPPING": "-5.99"}, promotions=("PROMO-10", "FREESHIP")),
        amazon.item(1, "8.00", "8.00", discount={"ITEM": "-0.80"}, detailed=False, promotions=("PROMO-10",))])
    load(steps, "discounts", order)

    got = booked(steps.engine, order["orderId"])
    assert amounts(got["order"], *ORDER_AMOUNTS) == order_amounts(
        subtotal="58.00", subtotal_incl_tax="61.60", tax_amount="3.60", shipping_amount="5.99",
        shipping_incl_tax="5.99", discount_amount="-11.79", shipping_discount_amount="5.99", grand_total="55.80")
    assert [i["discount_amount"] for i in got["items"]] == [D("5.00"), D("0.80")]
    assert [amounts(i, "discount_amount", "item_discount", "shipping_discount", "other_discount", "promotion_ids")
            for i in got["channel_items"]] == [
        {**decimals(discount_amount="-10.99", item_discount="-5.00", shipping_discount="-5.99", other_discount="0"),
         "promotion_ids": "PROMO-10,FREESHIP"},
        {**decimals(discount_amount="-0.80", item_discount="-0.80", shipping_discount="0", other_discount="0"),
         "promotion_ids": "PROMO-10"}]


def test_gift_wrap_and_its_tax(steps, amazon):
    order = amazon.order(US, [amazon.item(1, "20.00", "20.00", GIFT_WRAP="3.99",
                                          tax={"ITEM": "1.60", "GIFT_WRAP": "0.32"})])
    load(steps, "gift-wrap", order)

    got = booked(steps.engine, order["orderId"])
    assert amounts(got["order"], *ORDER_AMOUNTS) == order_amounts(
        subtotal="20.00", subtotal_incl_tax="21.60", tax_amount="1.92", gw_price="3.99", gw_tax_amount="0.32",
        grand_total="25.91")
    assert amounts(got["channel_items"][0], "gift_wrap_amount", "gift_wrap_tax") == decimals(
        gift_wrap_amount="3.99", gift_wrap_tax="0.32")


def test_japanese_cod_fee_in_yen(steps, amazon):
    """JP: no minor unit; prices include consumption tax; the COD fee and its tax have columns of their own."""
    order = amazon.order(JP, [amazon.item(3, "1100", "3000", COD_FEE="300", tax={"ITEM": "300", "COD_FEE": "30"})])
    load(steps, "cod", order)

    got = booked(steps.engine, order["orderId"])
    assert amounts(got["order"], *ORDER_AMOUNTS) == order_amounts(
        subtotal="3000", subtotal_incl_tax="3300", tax_amount="330", amazon_cod_fee="300", amazon_cod_fee_tax="30",
        grand_total="3630")
    assert amounts(got["items"][0], "price", "price_incl_tax", "tax_percent") == decimals(
        price="1000", price_incl_tax="1100", tax_percent="10")
    assert got["history"][0]["comment"].endswith("3630 JPY")


def test_other_charges_and_a_delivery_tip(steps, amazon):
    order = amazon.order(US, [amazon.item(1, "12.00", "12.00", OTHER="1.50", tax={"ITEM": "0.96", "OTHER": "0.12"})],
                         tip=("3.00", "PENDING"))
    load(steps, "tip", order)

    got = booked(steps.engine, order["orderId"])
    assert amounts(got["order"], *ORDER_AMOUNTS) == order_amounts(
        subtotal="12.00", subtotal_incl_tax="12.96", tax_amount="1.08", amazon_other_charges="1.50",
        amazon_delivery_tip="3.00", grand_total="17.58")
    assert got["order"]["amazon_delivery_tip_status"] == "PENDING"
    assert amounts(got["channel"], "delivery_tip", "delivery_tip_status", "subtotal", "grand_total") == {
        **decimals(delivery_tip="3.00", subtotal="12.00", grand_total="17.58"), "delivery_tip_status": "PENDING"}
    assert amounts(got["channel_items"][0], "other_amount", "other_tax") == decimals(other_amount="1.50",
                                                                                     other_tax="0.12")


def test_business_order_keeps_purchase_order_and_tax_registration(steps, amazon):
    """Amazon Business: the PO number goes on the payment, the buyer's VAT registration on the order; an import
    under IOSS, tax collected by Amazon, is flagged on the item."""
    order = amazon.order(DE, [amazon.item(1, "119.00", "100.00", tax={"ITEM": "19.00"},
                                          model="MARKETPLACE_FACILITATOR", scheme="IOSS")],
                         po="PO-2026-0042", registration=("VAT", "DE123456789"))
    load(steps, "business", order)

    got = booked(steps.engine, order["orderId"])
    assert got["payment"]["po_number"] == got["channel"]["purchase_order_number"] == "PO-2026-0042"
    assert got["order"]["customer_taxvat"] == got["channel"]["buyer_tax_registration"] == "VAT DE123456789"
    assert amounts(got["items"][0], "amazon_tax_collection_model", "amazon_tax_reporting_scheme") == {
        "amazon_tax_collection_model": "MARKETPLACE_FACILITATOR", "amazon_tax_reporting_scheme": "IOSS"}
    assert amounts(got["channel_items"][0], "tax_collection_model", "tax_reporting_scheme") == {
        "tax_collection_model": "MARKETPLACE_FACILITATOR", "tax_reporting_scheme": "IOSS"}


# ---- payment, invoice, credit memo, changes, re-runs --------------------------------------------------------------

def test_new_orders_are_paid_and_invoiced_merchant_and_fba(steps, amazon):
    merchant = amazon.order(US, [amazon.item(2, "10.00", "20.00", tax={"ITEM": "1.60"})])
    fba = amazon.order(US, [amazon.item(1, "15.00", "15.00", tax={"ITEM": "1.20"})], fba=True)
    load(steps, "paid", merchant, fba)

    for order, state in ((merchant, "processing"), (fba, "complete")):
        got = booked(steps.engine, order["orderId"])
        assert got["order"]["state"] == state
        [comment] = got["history"]
        assert (comment["entity_name"], comment["status"], comment["is_customer_notified"]) == ("invoice", state, False)
        total = got["order"]["grand_total"].quantize(D("0.01"))
        assert comment["comment"] == (f"Paid at Amazon (order {order['orderId']}): invoice "
                                      f"#{got['order']['increment_id']} captured offline, {total} USD")
        assert got["memos"] == [] and got["order"]["total_refunded"] is None


def test_amazon_cancels_an_invoiced_order_refunded_by_credit_memo_and_closed(steps, amazon):
    order = amazon.order(US, [amazon.item(2, "10.00", "20.00", SHIPPING="3.00", tax={"ITEM": "1.60"},
                                          discount={"ITEM": "-2.00"}),
                              amazon.item(1, "5.00", "5.00")])
    load(steps, "before-cancel", order)
    assert reservations(steps.engine)[order["orderId"]] == -3
    loaded = load(steps, "cancel", later(order, fulfillmentStatus="CANCELLED"))
    assert loaded["commerce_orders_canceled"] == 1

    got = booked(steps.engine, order["orderId"])
    assert (got["order"]["state"], got["order"]["status"]) == ("closed", "closed")
    assert got["order"]["total_refunded"] == got["order"]["base_total_refunded"] == got["order"]["grand_total"]
    assert got["payment"]["amount_refunded"] == got["order"]["grand_total"]
    assert [i["qty_refunded"] for i in got["items"]] == [2, 1]
    [memo] = got["memos"]
    assert {n: memo[n] for n in DOCUMENT_TOTALS} == {n: got["invoice"][n] for n in DOCUMENT_TOTALS}
    assert (memo["state"], memo["invoice_id"], memo["increment_id"]) == (
        2, got["invoice"]["entity_id"], got["order"]["increment_id"])
    by_item = {i["item_id"]: i for i in got["items"]}
    assert sorted(m["order_item_id"] for m in got["memo_items"]) == sorted(by_item)
    for line in got["memo_items"]:
        assert {n: line[n] for n in LINE_AMOUNTS} == {n: by_item[line["order_item_id"]][n] for n in LINE_AMOUNTS}
    assert [h["entity_name"] for h in got["history"]] == ["invoice", "creditmemo"]
    assert got["history"][1]["comment"] == (f"Canceled by Amazon: credit memo #{got['order']['increment_id']} "
                                            f"refunded offline, 27.60 USD")
    assert got["channel"]["note"].startswith(f"Canceled by Amazon; Commerce order #{got['order']['increment_id']} "
                                             f"closed")
    assert reservations(steps.engine)[order["orderId"]] == 0  # stock released

    before = table_checksums(steps.engine)
    load(steps, "cancel-again", later(order, minutes=60, fulfillmentStatus="CANCELLED"))
    after = table_checksums(steps.engine)
    assert {t for t in before if before[t] != after[t]} == {"channel_amazon_order", "channel_amazon_order_item"}


def test_a_later_change_of_amounts_is_noted_once_and_the_invoice_stays(steps, amazon):
    order = amazon.order(US, [amazon.item(1, "40.00", "40.00", tax={"ITEM": "3.20"})])
    load(steps, "priced", order)
    invoiced = table_checksums(steps.engine)

    adjusted = later(order)
    adjusted["orderItems"][0]["product"]["price"]["unitPrice"]["amount"] = "35.00"
    adjusted["orderItems"][0]["proceeds"] = {"proceedsTotal": money("37.80", "USD"), "breakdowns": [
        {"type": "ITEM", "subtotal": money("35.00", "USD")}, {"type": "TAX", "subtotal": money("2.80", "USD")}]}
    adjusted["proceeds"] = {"grandTotal": money("37.80", "USD"), "breakdowns": [
        {"type": "ITEM", "subtotal": money("35.00", "USD")}, {"type": "TAX", "subtotal": money("2.80", "USD")}]}
    load(steps, "adjusted", adjusted)
    load(steps, "adjusted-later", later(adjusted))  # a later version, same amounts: no second note

    got = booked(steps.engine, order["orderId"])
    assert got["order"]["grand_total"] == D("43.20")
    assert amounts(got["channel"], "subtotal", "grand_total") == decimals(subtotal="35.00", grand_total="37.80")
    assert got["channel_items"][0]["item_amount"] == D("35.00")
    now = table_checksums(steps.engine)
    commerce = [t.name for t in metadata.sorted_tables if t.name.startswith("sales_")]
    assert {t: now[t] for t in commerce} == {t: invoiced[t] for t in commerce}  # not rewritten
    with steps.engine.connect() as conn:
        notes = conn.execute(select(channel_amazon_order_note.c.note).where(
            channel_amazon_order_note.c.amazon_order_id == order["orderId"])
            .order_by(channel_amazon_order_note.c.id)).scalars().all()
    change = (f"Amazon changed the amounts: grand total 43.20 USD in Commerce order #{got['order']['increment_id']}, "
              f"now 37.80 USD at Amazon; the invoiced order is not rewritten")
    assert notes[1:] == [change] and got["channel"]["note"] == change


def test_loading_the_same_orders_again_changes_no_byte(steps, amazon):
    orders = [amazon.order(US, [amazon.item(2, "10.00", "20.00", SHIPPING="2.00",
                                            tax={"ITEM": "1.60", "SHIPPING": "0.16"}, discount={"SHIPPING": "-2.00"})],
                           tip=("2.00", "FINALIZED")),
              amazon.order(UK, [amazon.item(1, "6.00", "5.00", tax={"ITEM": "1.00"})]),
              amazon.order(US, [amazon.item(1, "9.99", "9.99")], fba=True)]
    load(steps, "first", *orders)
    first = table_checksums(steps.engine)
    load(steps, "again", *orders)  # validation skips what the database already holds at this version
    assert table_checksums(steps.engine) == first
    transformed = steps.run("first").path("transformed")  # and the load itself, given the same rows again
    load_orders(steps.engine, steps.staging.read_frame(transformed, "orders.parquet"),
                steps.staging.read_frame(transformed, "items.parquet"), DEFAULT)
    assert table_checksums(steps.engine) == first


# ---- an existing database --------------------------------------------------------------------------------------

# What the previous release's schema did not have: these tables, and the columns of the others not listed here.
NEW_TABLES = ["sales_creditmemo_item", "sales_creditmemo", "sales_invoice_item", "sales_invoice", "sales_order_payment",
              "sales_order_status_history"]
PREVIOUS_COLUMNS = {
    "sales_order": "entity_id increment_id store_id state status customer_id customer_is_guest customer_email "
                   "customer_firstname customer_lastname subtotal tax_amount shipping_amount grand_total "
                   "order_currency_code total_qty_ordered ext_order_id send_email created_at updated_at",
    "sales_order_item": "item_id order_id ext_order_item_id sku name product_id qty_ordered qty_shipped qty_canceled "
                        "price row_total gift_message",
    "channel_amazon_order": "id amazon_order_id marketplace_id store_id status fulfillment_channel purchase_date "
                            "last_updated latest_ship_date buyer_email buyer_name buyer_company ship_name ship_street "
                            "ship_city ship_region ship_postcode ship_country ship_phone is_prime is_business subtotal "
                            "grand_total currency items_unshipped sales_order_id sales_order_increment_id note "
                            "amazon_package_refs",
    "channel_amazon_order_item": "id amazon_order_id order_item_id sku title qty_ordered qty_shipped unit_price "
                                 "gift_message last_updated",
}


OLD_BUYER_DATA_TYPES = [("channel_amazon_order", "buyer_name", "VARCHAR(255)"),
                        ("channel_amazon_order", "ship_street", "VARCHAR(1024)"),
                        ("channel_amazon_quarantine", "payload", "TEXT")]


def test_an_existing_database_gains_the_new_columns_and_keeps_its_orders(steps, amazon):
    """A database of the previous release, with an order created then (not invoiced) and one blocked then:
    ensure_schema adds every new table and column and the rows stay; Amazon's later cancellation of the old order
    cancels it as before; the blocked one, whose channel rows have no breakdown, waits for Amazon's next version of
    it instead of being booked without amounts."""
    order = amazon.order(US, [amazon.item(1, "30.00", "30.00", tax={"ITEM": "2.40"})])
    blocked = amazon.order(US, [amazon.item(1, "12.00", "12.00", tax={"ITEM": "0.96"}, sku=5)])
    engine = steps.engine
    with engine.begin() as conn:
        conn.execute(update(catalog_product).where(catalog_product.c.sku == amazon.skus[5]).values(enabled=False))
    load(steps, "old-release", order, blocked)
    new_columns = {table: [c.name for c in metadata.tables[table].columns if c.name not in previous.split()]
                   for table, previous in PREVIOUS_COLUMNS.items()}
    quote = engine.dialect.identifier_preparer.quote
    with engine.begin() as conn:  # back to the previous release's schema, keeping the order it created
        for table in NEW_TABLES:
            conn.execute(text(f"DROP TABLE {quote(table)}"))
        for table, columns in new_columns.items():
            for index in metadata.tables[table].indexes:  # an index over a newer column is newer too
                if set(columns) & set(index.columns.keys()):
                    conn.execute(DropIndex(index))
            for column in columns:
                conn.execute(text(f"ALTER TABLE {quote(table)} DROP COLUMN {quote(column)}"))
        if engine.dialect.name != "sqlite":  # buyer data columns were VARCHAR, the payload a plain TEXT
            for table, column, kind in OLD_BUYER_DATA_TYPES:
                change = (f"ALTER COLUMN {quote(column)} TYPE {kind}" if engine.dialect.name == "postgresql"
                          else f"MODIFY COLUMN {quote(column)} {kind} {'NOT NULL' if column == 'payload' else 'NULL'}")
                conn.execute(text(f"ALTER TABLE {quote(table)} {change}"))
    old = inspect(engine)
    assert not set(NEW_TABLES) & set(old.get_table_names())
    before = {t: old.get_columns(t) for t in new_columns}
    with engine.connect() as conn:
        [kept] = conn.execute(select(*(sales_order.c[c["name"]] for c in before["sales_order"]))).mappings().all()

    ensure_schema(engine)
    ensure_schema(engine)  # and again: nothing left to add

    now = inspect(engine)
    assert set(NEW_TABLES) <= set(now.get_table_names())
    for table, column, _ in OLD_BUYER_DATA_TYPES:  # wide enough for a sealed value
        [kind] = [c["type"] for c in now.get_columns(table) if c["name"] == column]
        wanted = "MEDIUMTEXT" if column == "payload" and engine.dialect.name == "mysql" else "TEXT"
        assert engine.dialect.name == "sqlite" or str(kind.compile(dialect=engine.dialect)) == wanted, (column, kind)
    long_name = "Ω" * 255  # the longest name validation lets through, sealed: about 1,400 characters
    with engine.begin() as conn:
        conn.execute(update(channel_amazon_order).where(channel_amazon_order.c.amazon_order_id == order["orderId"])
                     .values(buyer_name=long_name))
    assert channel_orders(engine)[order["orderId"]]["buyer_name"] == long_name
    for table in new_columns:
        assert {c["name"] for c in now.get_columns(table)} == {c.name for c in metadata.tables[table].columns}
    with engine.connect() as conn:
        [row] = conn.execute(select(sales_order)).mappings().all()
        [item] = conn.execute(select(sales_order_item)).mappings().all()
    assert {k: row[k] for k in kept} == dict(kept)
    assert row["total_invoiced"] is None and row["subtotal_incl_tax"] is None
    assert (item["qty_invoiced"], item["qty_refunded"]) == (0, 0)  # server defaults for the old rows

    load(steps, "old-cancel", later(order, fulfillmentStatus="CANCELLED"))
    with engine.connect() as conn:
        [row] = conn.execute(select(sales_order)).mappings().all()
        assert conn.execute(select(sales_creditmemo)).all() == []
    assert (row["state"], row["status"]) == ("canceled", "canceled")
    assert reservations(engine)[order["orderId"]] == 0

    with engine.begin() as conn:
        conn.execute(update(catalog_product).where(catalog_product.c.sku == amazon.skus[5]).values(enabled=True))
    load(steps, "old-blocked", later(order, minutes=60, fulfillmentStatus="CANCELLED"))  # any load: all due orders
    assert channel_orders(engine)[blocked["orderId"]]["note"] == (
        "Cannot create order: Amazon's amount breakdown is missing (imported before amounts were kept); Amazon's "
        "next update of the order brings it")
    assert blocked["orderId"] not in commerce_orders(engine)
    load(steps, "old-blocked-updated", later(blocked))
    got = booked(engine, blocked["orderId"])
    assert amounts(got["order"], "subtotal", "tax_amount", "grand_total") == decimals(
        subtotal="12.00", tax_amount="0.96", grand_total="12.96")


def test_the_load_books_no_order_whose_amounts_do_not_add_up(steps, amazon):
    """Validation quarantines such orders; the load checks again before booking (money.md: never from amounts that
    do not add up), here given rows whose grand total is one cent off."""
    order = amazon.order(US, [amazon.item(1, "20.00", "20.00", tax={"ITEM": "1.60"})])
    steps.stage("off", [order])
    run = steps.run("off")
    transformed = transform_step(run, validate_step(steps.engine, run, run.path("extract"), DEFAULT)["staging_path"])
    orders = steps.staging.read_frame(transformed["staging_path"], "orders.parquet")
    items = steps.staging.read_frame(transformed["staging_path"], "items.parquet")
    loaded = load_orders(steps.engine, orders.assign(grand_total_e4=orders["grand_total_e4"] + 100), items, DEFAULT)

    assert (loaded["commerce_orders_created"], loaded["orders_blocked"]) == (0, 1)
    assert commerce_orders(steps.engine) == {}
    assert channel_orders(steps.engine)[order["orderId"]]["note"] == (
        "Cannot create order: Amazon's amounts do not add up to its grand total")
