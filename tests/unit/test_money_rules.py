"""The money rules' columns as validation computes them (before Great Expectations sees them): which rule an order
breaks, and only that one. End to end with GX and the quarantine: tests/integration/test_money_validation.py."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from amazon_channel.frames import batch_from_orders
from amazon_channel.validate import MONEY_RULES, UNKNOWN_CATEGORIES, money_checks
from tests.unit.test_money_frames import amazon_item, amazon_order, breakdown, every_category, pending, sample

pytestmark = pytest.mark.unit


def broken_rules(order: dict) -> list[str]:
    """The money rules `order` breaks, with the unknown categories it uses."""
    batch = batch_from_orders([order])
    checks = money_checks(batch, [0], batch.orders)
    row = checks.iloc[0]
    return [rule for rule in MONEY_RULES if not row[rule]] + ([row[UNKNOWN_CATEGORIES]]
                                                                if isinstance(row[UNKNOWN_CATEGORIES], str) else [])


def item_breakdowns(order: dict, item: int = 0) -> list[dict]:
    return order["orderItems"][item]["proceeds"]["breakdowns"]


def set_amount(money: dict, amount: str) -> None:
    money["amount"] = amount


def add_huge_amounts_that_cancel_out(order: dict) -> None:
    """Exactly they add up to nothing, but their sizes (6e18 ten-thousandths) could overflow an int64 sum."""
    for sign in ("", "-") * 3:
        item_breakdowns(order).append(breakdown("OTHER", f"{sign}99999999999999"))


@pytest.mark.parametrize("order", sample(), ids=lambda o: o["orderId"])
def test_orders_as_amazon_sends_them_keep_every_rule(order):
    assert broken_rules(order) == []


def test_a_tip_the_grand_total_leaves_out_does_not_add_up():
    # Arrange: Σ items 48.90 + 9.80, tip 2.00, but a grand total without the tip
    order = every_category()
    set_amount(order["proceeds"]["grandTotal"], "58.70")

    # Act / Assert
    assert broken_rules(order) == ["items_and_tip_sum_to_grand_total"]


@pytest.mark.parametrize(("break_it", "broken"), [
    pytest.param(lambda o: set_amount(item_breakdowns(o)[0]["subtotal"], "40,00"), ["amounts_well_formed"],
                 id="an amount that is not a decimal breaks that rule alone, not the sums it is part of"),
    pytest.param(lambda o: set_amount(o["orderItems"][0]["proceeds"]["proceedsTotal"], "4890"),
                 ["item_breakdowns_sum_to_proceeds_total", "items_and_tip_sum_to_grand_total"],
                 id="a proceedsTotal off is off for the item and for the order"),
    pytest.param(add_huge_amounts_that_cancel_out,
                 ["item_breakdowns_sum_to_proceeds_total", "detailed_breakdowns_sum_to_subtotal",
                  "items_and_tip_sum_to_grand_total", "order_breakdowns_sum_items"],
                 id="an order too large to sum exactly in 64 bits is not taken to add up"),
    pytest.param(lambda o: o["orderItems"][1].pop("proceeds"),
                 ["order_breakdowns_sum_items", "priced_items_have_proceeds"],
                 id="an item without proceeds beside priced ones (its amounts are still in the order's)"),
    pytest.param(lambda o: item_breakdowns(o)[5]["detailedBreakdowns"].pop(),
                 ["detailed_breakdowns_sum_to_subtotal"], id="a detailed breakdown missing"),
    pytest.param(lambda o: o["orderItems"][1]["product"]["price"]["unitPrice"].update(currencyCode="EUR"),
                 ["currencies_match_grand_total"], id="a unit price in another currency"),
    pytest.param(lambda o: item_breakdowns(o).append({"type": "DELIVERY_TIP", "subtotal": {
                     "amount": "0.00", "currencyCode": "USD"}}), ["DELIVERY_TIP"],
                 id="a delivery tip on an item is no item category"),
])
def test_an_order_breaks_the_rules_its_amounts_break(break_it: Callable[[dict], object], broken: list[str]):
    # Arrange
    order = every_category()
    break_it(order)

    # Act / Assert
    assert broken_rules(order) == broken


def test_an_order_not_priced_yet_needs_no_proceeds_but_a_priced_one_does():
    # Arrange
    not_priced = pending()
    not_priced["proceeds"] = {"grandTotal": {"amount": "10.00", "currencyCode": "USD"}}  # a total, no breakdowns
    unshipped = amazon_order("111-0000000-0000009", [amazon_item("H", None, unit_price="10.00")])

    # Act / Assert
    assert broken_rules(not_priced) == []
    assert broken_rules(unshipped) == ["priced_items_have_proceeds"]
