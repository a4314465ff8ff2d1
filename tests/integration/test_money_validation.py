"""Amazon's money rules (money.md) end to end: hand-made orders, staged where extract stages Amazon's pages, through
the real validate step (Great Expectations) into each database's quarantine, one test per rule: the order that
breaks it is quarantined with that reason alone, and the good orders beside it pass. The valid orders' money then
goes through the real transform step. (Commerce amounts: test_commerce_money.py.)"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable

import pandas as pd
import pytest
from sqlalchemy import select

from amazon_channel.commerce.schema import channel_amazon_quarantine
from amazon_channel.settings import parse_settings
from amazon_channel.staging import Staging
from amazon_channel.steps import transform_step, validate_step
from tests.integration.pipeline_steps import Steps
from tests.unit.test_money_frames import amazon_item, amazon_order, breakdown, every_category, sample

# One bad order among six is above the default share of bad orders that fails a run.
TOLERANT = parse_settings({"max_bad_share": 0.5})
BAD_ID = "111-0000000-0000099"


@pytest.fixture
def pipeline(commerce, tmp_path) -> Steps:
    """The DAG's steps on real staging and this test's Commerce DB (no Amazon needed: orders are staged by hand)."""
    return Steps(commerce, Staging(f"file://{tmp_path}/staging"))


def validate(pipeline: Steps, orders: list[dict], run_id: str = "run-1") -> tuple[dict, dict[str, list[str]]]:
    """Stage `orders`, run the validate step; its summary and the quarantine's reasons by Amazon order id."""
    pipeline.stage(run_id, orders)
    run = pipeline.run(run_id)
    summary = validate_step(pipeline.engine, run, run.path("extract"), TOLERANT)
    with pipeline.engine.connect() as conn:
        rows = conn.execute(select(channel_amazon_quarantine)).mappings().all()
    return summary, {row["amazon_order_id"]: json.loads(row["reasons"]) for row in rows}


def bad_order(build: Callable[[], dict] = every_category) -> dict:
    return {**copy.deepcopy(build()), "orderId": BAD_ID}


def item(order: dict, index: int) -> dict:
    return order["orderItems"][index]


def breakdowns(order: dict, index: int) -> list[dict]:
    return item(order, index)["proceeds"]["breakdowns"]


def set_amount(money: dict, amount: str) -> None:
    money["amount"] = amount


# every_category(): item B = ITEM 40.00, SHIPPING 5.00, GIFT_WRAP 3.00, COD_FEE 2.00, OTHER 1.00, TAX 4.90 (detailed),
# DISCOUNT -7.00 (detailed) = 48.90; item C = ITEM 10.00, TAX 0.80, DISCOUNT -1.00 = 9.80; tip 2.00; grand 60.70.
def not_a_decimal(order: dict) -> None:
    set_amount(breakdowns(order, 0)[1]["subtotal"], "5,00")


def more_digits_than_the_dollar_has(order: dict) -> None:  # 3.205 + 0.695 keep the TAX at 4.90
    tax = breakdowns(order, 0)[5]["detailedBreakdowns"]
    set_amount(tax[0]["value"], "3.205")
    set_amount(tax[4]["value"], "0.695")


def another_currency(order: dict) -> None:
    breakdowns(order, 1)[1]["subtotal"]["currencyCode"] = "EUR"


def unknown_category(order: dict) -> None:
    breakdowns(order, 1).append(breakdown("LOYALTY_POINTS", "0.00"))


def item_total_off(order: dict) -> None:  # the grand total follows, so only the item is off
    set_amount(item(order, 1)["proceeds"]["proceedsTotal"], "9.90")
    set_amount(order["proceeds"]["grandTotal"], "60.80")


def detailed_discount_off(order: dict) -> None:
    set_amount(breakdowns(order, 0)[6]["detailedBreakdowns"][1]["value"], "-1.00")


def grand_total_off(order: dict) -> None:
    set_amount(order["proceeds"]["grandTotal"], "60.71")


def order_shipping_off(order: dict) -> None:
    set_amount(order["proceeds"]["breakdowns"][1]["subtotal"], "6.00")


def priced_item_without_proceeds(_: dict) -> dict:  # Amazon's totals are those of the priced item alone
    return amazon_order(BAD_ID, [amazon_item("B", [breakdown("ITEM", "40.00")], unit_price="40.00"),
                                 amazon_item("C", None, unit_price="10.00")])


def breakdown_not_an_object(order: dict) -> None:
    breakdowns(order, 0)[0]["subtotal"] = "40.00"


def purchase_order_number_too_long(order: dict) -> None:  # Commerce keeps 64 characters
    order["buyer"]["buyerPurchaseOrderNumber"] = "PO-" + "9" * 62


MONEY_RULE = "expect_multicolumn_sum_to_equal"


@pytest.mark.parametrize(("break_it", "reason"), [
    (not_a_decimal, f"amounts_well_formed: {MONEY_RULE}"),
    (more_digits_than_the_dollar_has, f"amounts_fit_currency_digits: {MONEY_RULE}"),
    (another_currency, f"currencies_match_grand_total: {MONEY_RULE}"),
    (unknown_category, "unknown_proceeds_categories: expect_column_values_to_be_null (LOYALTY_POINTS)"),
    (item_total_off, f"item_breakdowns_sum_to_proceeds_total: {MONEY_RULE}"),
    (detailed_discount_off, f"detailed_breakdowns_sum_to_subtotal: {MONEY_RULE}"),
    (grand_total_off, f"items_and_tip_sum_to_grand_total: {MONEY_RULE}"),
    (order_shipping_off, f"order_breakdowns_sum_items: {MONEY_RULE}"),
    (priced_item_without_proceeds, f"priced_items_have_proceeds: {MONEY_RULE}"),
    (breakdown_not_an_object, "orderItems[0].proceeds.breakdowns: Expected `object`, got `str` - at `$[0].subtotal`"),
    (purchase_order_number_too_long, "purchase_order_number: expect_column_value_lengths_to_be_between"),
], ids=lambda value: value.__name__ if callable(value) else "")
def test_an_order_breaking_a_money_rule_is_quarantined_with_that_reason(pipeline, break_it, reason):
    # Arrange: the good orders (US tax on top, every category, UK VAT included, yen, not priced yet) and a bad one
    good = sample()
    bad = bad_order()
    bad = break_it(bad) or bad

    # Act
    summary, quarantined = validate(pipeline, [*good, bad])

    # Assert
    assert quarantined == {BAD_ID: [reason]}
    assert (summary["valid"], summary["quarantined"], summary["top_reasons"]) == (len(good), 1, [(reason, 1)])


def test_orders_whose_money_adds_up_pass_and_reach_the_transform_exactly(pipeline):
    # Act
    summary, quarantined = validate(pipeline, sample())
    transformed = transform_step(pipeline.run("run-1"), summary["staging_path"])

    # Assert
    assert (summary["valid"], quarantined) == (5, {})
    items = pipeline.staging.read_frame(transformed["staging_path"], "items.parquet").set_index("order_item_id")
    orders = pipeline.staging.read_frame(transformed["staging_path"], "orders.parquet").set_index("amazon_order_id")
    assert items.loc["A", ["item_amount_e4", "shipping_amount_e4", "tax_amount_e4", "item_tax_e4"]].tolist() == [
        399_900, 0, 100_000, 100_000]  # Amazon's US example: 39.99 + TAX 10.00 = 49.99
    assert orders.loc["111-0000000-0000001", ["subtotal_e4", "grand_total_e4"]].tolist() == [399_900, 499_900]
    assert items.loc["B", ["discount_amount_e4", "item_discount_e4", "shipping_discount_e4"]].tolist() == [
        -70_000, -40_000, -20_000]
    assert orders.loc["111-0000000-0000002", ["delivery_tip_e4", "delivery_tip_status", "purchase_order_number",
                                              "buyer_tax_registration"]].tolist() == [20_000, "PENDING", "PO-4711",
                                                                                      "VAT DE123456789"]
    assert pd.isna(items.loc["F", "item_amount_e4"])  # not priced yet


def test_a_quarantined_order_is_released_when_amazon_sends_amounts_that_add_up(pipeline):
    # Arrange
    bad = bad_order()
    grand_total_off(bad)
    validate(pipeline, [*sample(), bad], "run-1")
    fixed = {**bad_order(), "lastUpdatedTime": "2026-03-09T12:00:00Z"}

    # Act
    summary, quarantined = validate(pipeline, [fixed], "run-2")

    # Assert
    assert (summary["valid"], summary["released_from_quarantine"]) == (1, 1)
    with pipeline.engine.connect() as conn:
        assert conn.execute(select(channel_amazon_quarantine.c.resolved)).scalar_one()
