"""Reading Amazon's money: the proceeds breakdowns (with detailed breakdowns), promotions, tax collection, delivery
tips and Amazon Business fields, the same on the typed and the tolerant decoding path, exactly to the last digit.

`amazon_order` and its helpers build orders as Orders API v2026-01-01 sends them, with totals that add up (as
Amazon's do): other money tests stage them and break one rule at a time.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec
import pandas as pd
import pytest

from amazon_channel.frames import batch_from_orders, batches_from_pages

pytestmark = pytest.mark.unit

US, UK, JP = "ATVPDKIKX0DER", "A1F83G8C2ARO7P", "A1VC38T7YXB528"


def money(amount, currency: str = "USD") -> dict:
    return {"amount": str(amount), "currencyCode": currency}


def breakdown(kind: str, subtotal: str, currency: str = "USD", detailed: dict[str, str] | None = None) -> dict:
    """An item breakdown; `detailed` maps subtypes to values (TAX and DISCOUNT)."""
    entry = {"type": kind, "subtotal": money(subtotal, currency)}
    if detailed is not None:
        entry["detailedBreakdowns"] = [{"subtype": s, "value": money(v, currency)} for s, v in detailed.items()]
    return entry


def amazon_item(item_id: str, breakdowns: list[dict] | None, *, quantity: int = 1, unit_price: str | None = None,
                currency: str = "USD", promotions: tuple[str, ...] = (), collection: str | None = None,
                scheme: str | None = None) -> dict:
    """An order item; `breakdowns` None: no proceeds (an order not priced yet). Its proceedsTotal is their sum."""
    product = {"sellerSku": f"SKU-{item_id}", "title": f"Thing {item_id}"}
    if unit_price is not None:
        product["price"] = {"unitPrice": money(unit_price, currency)}
    item = {"orderItemId": item_id, "quantityOrdered": quantity, "product": product}
    if breakdowns is not None:
        total = sum((Decimal(b["subtotal"]["amount"]) for b in breakdowns), Decimal(0))
        item["proceeds"] = {"proceedsTotal": money(total, currency), "breakdowns": breakdowns}
    if promotions:
        item["promotion"] = {"breakdowns": [{"promotionId": p} for p in promotions]}
    if collection or scheme:
        item["tax"] = {}
        if collection:
            item["tax"]["taxCollections"] = [{"model": collection, "responsibleParty": "Amazon Services, Inc."}]
        if scheme:
            item["tax"]["taxCalculationBreakdowns"] = [{"reportingScheme": scheme}]
    return item


def amazon_order(order_id: str, items: list[dict], *, currency: str = "USD", marketplace: str = US,
                 status: str = "UNSHIPPED", tip: str | None = None, tip_status: str = "PENDING",
                 purchase_order: str | None = None, registration: tuple[str, str] | None = None) -> dict:
    """An order whose proceeds are its items' summed per category, plus the delivery tip, as Amazon sends them."""
    order = {
        "orderId": order_id, "createdTime": "2026-03-09T10:00:00Z", "lastUpdatedTime": "2026-03-09T11:00:00Z",
        "salesChannel": {"channelName": "AMAZON", "marketplaceId": marketplace},
        "orderItems": items,
        "fulfillment": {"fulfillmentStatus": status, "fulfilledBy": "MERCHANT",
                        "shipByWindow": {"latestDateTime": "2026-03-11T10:00:00Z"}},
        "buyer": {"buyerName": "Ann Smith", "buyerEmail": "ann@example.com"},
        "recipient": {"deliveryAddress": {"name": "Ann Smith", "addressLine1": "1 Main St", "city": "Springfield",
                                          "postalCode": "12345", "countryCode": "US"}},
    }
    if purchase_order:
        order["buyer"]["buyerPurchaseOrderNumber"] = purchase_order
    if registration:
        order["tax"] = {"taxRegistrations": [
            {"entityType": "MARKETPLACE", "taxRegistrationType": "VAT", "taxRegistrationNumber": "GB000000000"},
            {"entityType": "BUYER", "taxRegistrationType": registration[0], "taxRegistrationNumber": registration[1]}]}
    priced = [i for i in items if "proceeds" in i]
    if priced:
        sums: dict[str, Decimal] = {}
        for item in priced:
            for b in item["proceeds"]["breakdowns"]:
                sums[b["type"]] = sums.get(b["type"], Decimal(0)) + Decimal(b["subtotal"]["amount"])
        breakdowns = [{"type": kind, "subtotal": money(total, currency)} for kind, total in sums.items()]
        grand = sum((Decimal(i["proceeds"]["proceedsTotal"]["amount"]) for i in priced), Decimal(0))
        if tip is not None:
            breakdowns.append({"type": "DELIVERY_TIP", "status": tip_status, "subtotal": money(tip, currency)})
            grand += Decimal(tip)
        order["proceeds"] = {"grandTotal": money(grand, currency), "breakdowns": breakdowns}
    return order


def us_example() -> dict:
    """Amazon's own example of a US order: one item at 39.99 plus TAX 10.00, grand total 49.99, no shipping."""
    return amazon_order("111-0000000-0000001", [
        amazon_item("A", [breakdown("ITEM", "39.99"), breakdown("TAX", "10.00")], unit_price="39.99")])


def every_category() -> dict:
    """A business order with every item category, detailed TAX and DISCOUNT (negative), promotions, tax collected
    by Amazon, a delivery tip, a purchase order number and the buyer's VAT registration."""
    return amazon_order("111-0000000-0000002", [
        amazon_item("B", [
            breakdown("ITEM", "40.00"), breakdown("SHIPPING", "5.00"), breakdown("GIFT_WRAP", "3.00"),
            breakdown("COD_FEE", "2.00"), breakdown("OTHER", "1.00"),
            breakdown("TAX", "4.90", detailed={"ITEM": "3.20", "SHIPPING": "0.50", "GIFT_WRAP": "0.30",
                                               "COD_FEE": "0.20", "OTHER": "0.70"}),
            breakdown("DISCOUNT", "-7.00", detailed={"ITEM": "-4.00", "SHIPPING": "-2.00", "OTHER": "-1.00"})],
            quantity=2, unit_price="20.00", promotions=("PROMO-1", "PROMO-2", "PROMO-1"),
            collection="MARKETPLACE_FACILITATOR", scheme="IOSS"),
        amazon_item("C", [breakdown("ITEM", "10.00"), breakdown("TAX", "0.80"), breakdown("DISCOUNT", "-1.00")],
                    unit_price="10.00")],
        tip="2.00", purchase_order="PO-4711", registration=("VAT", "DE123456789"))


def uk_vat_inclusive() -> dict:
    """A UK order: the shelf price includes VAT (unitPrice 12.00 = (ITEM 20.00 + TAX 4.00) / 2)."""
    return amazon_order("202-0000000-0000003", [
        amazon_item("D", [breakdown("ITEM", "20.00", "GBP"), breakdown("SHIPPING", "2.50", "GBP"),
                          breakdown("TAX", "4.50", "GBP", {"ITEM": "4.00", "SHIPPING": "0.50"})],
                    quantity=2, unit_price="12.00", currency="GBP")], currency="GBP", marketplace=UK)


def jp_no_digits() -> dict:
    """A JP order: yen have no minor unit; consumption tax is in the shelf price."""
    return amazon_order("503-0000000-0000004", [
        amazon_item("E", [breakdown("ITEM", "1000", "JPY"), breakdown("TAX", "100", "JPY", {"ITEM": "100"}),
                          breakdown("COD_FEE", "330", "JPY")], unit_price="1100", currency="JPY")],
        currency="JPY", marketplace=JP)


def pending() -> dict:
    """Amazon shows no amounts before an order is priced."""
    return amazon_order("111-0000000-0000005", [amazon_item("F", None)], status="PENDING")


def sample() -> list[dict]:
    return [us_example(), every_category(), uk_vat_inclusive(), jp_no_digits(), pending()]


def decoded_both_ways(orders: list[dict]):
    """The orders as one clean page (typed path) and beside an order that forces the tolerant path."""
    fast = next(batches_from_pages([msgspec.json.encode({"orders": orders})], size=1000))
    tolerant = next(batches_from_pages([msgspec.json.encode({"orders": [*orders, "not an order"]})], size=1000))
    return fast, tolerant


def test_money_reads_the_same_on_the_typed_and_the_tolerant_path():
    # Arrange
    orders = sample()
    positions = list(range(len(orders)))

    # Act
    fast, tolerant = decoded_both_ways(orders)
    fast_proceeds, tolerant_proceeds = fast.proceeds(positions), tolerant.proceeds(positions)

    # Assert
    pd.testing.assert_frame_equal(fast.orders, tolerant.orders.iloc[:len(orders)])
    pd.testing.assert_frame_equal(fast.items, tolerant.items)
    pd.testing.assert_frame_equal(fast_proceeds.items, tolerant_proceeds.items)
    pd.testing.assert_frame_equal(fast_proceeds.orders, tolerant_proceeds.orders)
    for fast_frame, tolerant_frame in zip(fast.rows(positions), tolerant.rows(positions), strict=True):
        pd.testing.assert_frame_equal(fast_frame, tolerant_frame)
    assert fast.problems == {} and tolerant.problems == {len(orders): ["order: not a JSON object"]}


def test_every_amount_is_read_exactly_with_its_sign_and_category():
    # Arrange
    batch = batch_from_orders([every_category(), jp_no_digits()])

    # Act
    proceeds = batch.proceeds([0, 1])

    # Assert: item B's TAX (breakdown 5) and its detailed breakdowns, its negative DISCOUNT, and the yen
    items = proceeds.items
    tax = items[(items["line"] == 0) & (items["part"] == 5)]
    assert tax["e4"].tolist() == [49000, 32000, 5000, 3000, 2000, 7000]
    assert tax["detailed"].tolist() == [False, True, True, True, True, True]
    assert items[(items["line"] == 0) & (items["part"] == 6)]["e4"].tolist() == [-70000, -40000, -20000, -10000]
    jp = items[items["line"] == 2]  # subtotals (ITEM, TAX, COD_FEE), then the detailed TAX
    assert jp[["detailed", "e4"]].values.tolist() == [[False, 10_000_000], [False, 1_000_000], [False, 3_300_000],
                                                      [True, 1_000_000]]
    assert (items["category"] >= 0).all() and (items["currency"] >= 0).all()
    tip = proceeds.orders[proceeds.orders["category"] == 7]  # DELIVERY_TIP, order level only
    assert tip[["order_pos", "status", "e4"]].values.tolist() == [[0, "PENDING", 20000]]
    assert proceeds.unknown == {}


def test_item_and_order_text_read_from_the_money_blocks():
    # Act
    batch = batch_from_orders([every_category(), us_example()])

    # Assert
    assert batch.items[["promotion_ids", "tax_collection_model", "tax_reporting_scheme"]].values.tolist() == [
        ["PROMO-1,PROMO-2", "MARKETPLACE_FACILITATOR", "IOSS"], [None, None, None], [None, None, None]]
    assert batch.orders[["purchase_order_number", "buyer_tax_registration"]].values.tolist() == [
        ["PO-4711", "VAT DE123456789"], [None, None]]  # the BUYER's registration, not the marketplace's
    assert batch.items["proceeds_total"].tolist() == ["48.90", "9.80", "49.99"]


def test_categories_amazon_does_not_know_are_named():
    # Arrange
    order = us_example()
    order["orderItems"][0]["proceeds"]["breakdowns"].append(breakdown("FOO_FEE", "0.00"))
    order["orderItems"][0]["proceeds"]["breakdowns"][1]["detailedBreakdowns"] = [
        {"subtype": "BAR", "value": money("10.00")}]
    order["proceeds"]["breakdowns"].append({"type": 7, "subtotal": money("0.00")})

    # Act
    unknown = [batch.proceeds([0]).unknown for batch in decoded_both_ways([order])]

    # Assert
    assert unknown == [{0: "FOO_FEE, TAX.BAR, order 7"}] * 2


@pytest.mark.parametrize(("where", "value", "problem"), [
    ("item", [{"type": "ITEM", "subtotal": "39.99"}],
     "orderItems[0].proceeds.breakdowns: Expected `object`, got `str` - at `$[0].subtotal`"),
    ("item", {"type": "ITEM"}, "orderItems[0].proceeds.breakdowns: Expected `array | null`, got `object`"),
    ("order", [{"type": "TAX", "subtotal": {"amount": ["1"], "currencyCode": "USD"}}],
     "proceeds.breakdowns: Expected `bool | int | float | str | null`, got `array` - at `$[0].subtotal.amount`"),
])
def test_breakdowns_that_do_not_fit_amazons_shape_are_a_problem_of_their_order(where, value, problem):
    # Arrange
    order = us_example()
    (order["orderItems"][0] if where == "item" else order)["proceeds"]["breakdowns"] = value

    # Act
    batches = decoded_both_ways([order, every_category()])
    for batch in batches:
        batch.proceeds([0, 1])

    # Assert: found when the money is read, on both paths alike; the other order is untouched
    assert batches[0].problems == {0: [problem]}
    assert batches[1].problems == {0: [problem], 2: ["order: not a JSON object"]}
