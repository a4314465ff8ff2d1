"""Validate: Great Expectations 1.x suites over the raw orders and items; failures go to quarantine, not away.

An order fails as a whole if it or any of its items breaks an expectation. Quarantined orders keep their raw
payload and reasons and are validated again on every later run: a newer valid version from Amazon, or a fix
of the cause (e.g. a marketplace added to the settings), releases them into the pipeline.

Money (money.md) is checked exactly: every amount of the proceeds is parsed once into integer ten-thousandths
(`OrderBatch.proceeds`), the rules that need sums are computed with numpy over all orders at once, and GX gets one
boolean column per rule (like the `*_decimals_ok` columns). Every GX expectation has a fixed cost per chunk (about
30 ms, as much as checking 25,000 rows), so the rule columns share one expectation (they must all be true) whose
reasons name each rule an order breaks.
"""

from __future__ import annotations

import functools
import logging

import numpy as np
import pandas as pd

from .frames import (
    CURRENCY_CODES,
    ITEM_CATEGORIES,
    ORDER_ID,
    TIP_CODE,
    OrderBatch,
    as_text,
    breakdown_ids,
    delivery_tips,
    lookup,
    money_e4,
)
from .rules import AMAZON_STATUSES, CANCEL_REQUESTERS, CANCELLED_BY, CURRENCY_DECIMALS, PRICED_AMAZON_STATUSES
from .transform import UNSAFE_TEXT

log = logging.getLogger(__name__)

UTC_TIME = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?Z$"
MONEY = r"^[0-9]{1,14}(?:\.[0-9]{1,4})?$"  # a non-negative decimal, as Amazon writes prices and grand totals
SHORT_TEXT = ["buyer_email", "buyer_name", "buyer_company", "ship_name", "ship_city", "ship_region"]
# The most each other stored text may hold (its Commerce column; a longer value would fail the whole load). Text the
# transform cleans is checked before cleaning, which only ever shortens it.
MAX_LENGTHS = {"ship_postcode": 32, "ship_country": 2, "ship_phone": 64, "package_refs": 1024,
               "purchase_order_number": 64, "buyer_tax_registration": 128, "delivery_tip_status": 16}
ITEM_MAX_LENGTHS = {"promotion_ids": 1024, "tax_collection_model": 64, "tax_reporting_scheme": 16,
                    "cancel_request_reason": 255, "cancel_reason": 255}
MISSING = "(missing)"  # shown in a reason for a value Amazon's model requires but the order lacks
GIFT_MESSAGE_MAX = 16_383  # a MariaDB TEXT holds 65,535 bytes: 4 per character at most in UTF-8
# Identifiers are stored as sent, never cleaned (a cleaned SKU could name another product): one holding a control,
# bidi or line-break character is quarantined instead.
IDENTIFIERS = {"orders": ["order_id"], "items": ["order_item_id", "sku"]}


# The money rules, one column per order each (true: the order keeps the rule), and the column naming unknown
# proceeds categories (null: none). An amount that is not a decimal breaks the first rule only: the sums it is part
# of are not checked.
MONEY_RULES = (
    "amounts_well_formed",  # every amount of the proceeds is a decimal
    "amounts_fit_currency_digits",  # ... with no more digits than its currency has
    "currencies_match_grand_total",  # every currency of the order is the grand total's
    "item_breakdowns_sum_to_proceeds_total",  # per item
    "detailed_breakdowns_sum_to_subtotal",  # per TAX or DISCOUNT breakdown that has detailed breakdowns
    "items_and_tip_sum_to_grand_total",  # Σ item proceedsTotal + DELIVERY_TIP = grandTotal
    "order_breakdowns_sum_items",  # each order-level category = the items' sum of it
    "priced_items_have_proceeds",  # no item without proceeds when the order is priced or has any proceeds
)
UNKNOWN_CATEGORIES = "unknown_proceeds_categories"
# GX meta of an expectation whose reasons say more than "column: expectation": "values" adds the unexpected value;
# "false columns" gives one reason per column of the expectation that is false on the row.
REASONS = "reasons"
# An order whose amounts add up (in absolute value) to more than this could overflow an int64 sum: it cannot be
# checked exactly, so it does not add up. Far beyond any real order (4.6e14 in currency units).
EXACT_SUM_LIMIT = 2.0 ** 62
CURRENCY_DIGITS = np.array(list(CURRENCY_DECIMALS.values()))  # by CURRENCY_CODES


def _currency_codes(currencies: pd.Series) -> np.ndarray:
    """CURRENCY_CODES of raw values."""
    try:
        return lookup(currencies.tolist(), CURRENCY_CODES)
    except TypeError:  # the tolerant decoder handed on a list where a code belongs: compared as its text
        return lookup(currencies.astype("string").tolist(), CURRENCY_CODES)


def digits_fit(e4: pd.Series, currencies: np.ndarray) -> np.ndarray:
    """Each amount (exact ten-thousandths) has no more decimals than its currency (CURRENCY_CODES) allows (JPY
    none); true where the amount or the currency is unknown (other checks' business)."""
    allowed = np.where(currencies < 0, 4, CURRENCY_DIGITS[currencies])
    return (e4.to_numpy(np.int64, na_value=0) % 10 ** (4 - allowed) == 0) | (currencies < 0)


def decimals_ok(amounts: pd.Series, currencies: pd.Series) -> pd.Series:
    """Amount has no more decimals than its currency allows (JPY none); trailing zeros are tolerated."""
    return pd.Series(digits_fit(money_e4(amounts), _currency_codes(currencies)), index=amounts.index)


def quantity_ok(values: pd.Series) -> pd.Series:
    """A positive whole number (bools and '2.5' are not quantities)."""
    is_bool = values.map(lambda v: isinstance(v, bool))
    numbers = pd.to_numeric(values.where(~is_bool), errors="coerce")
    return (numbers.notna() & (numbers >= 1) & (numbers % 1 == 0)).astype(bool)


def _count(values: pd.Series) -> pd.Series:
    """Whole non-negative numbers as floats; 0 where missing, NaN where not such a number (bools, '2.5', -1)."""
    is_bool = values.map(lambda v: isinstance(v, bool))
    numbers = pd.to_numeric(values.where(~is_bool), errors="coerce").astype(float)
    numbers = numbers.where((numbers >= 0) & (numbers % 1 == 0))
    return numbers.where(values.notna(), 0.0)


def cancellation_checks(items: pd.DataFrame) -> pd.DataFrame:
    """Per item, its CANCELLATION block as GX checks it: who asked (a request without a requester shows as
    MISSING) and who cancelled (likewise for an execution), and whether the units an execution cancelled
    (quantityOrdered - quantityFulfilled - quantityUnfulfilled) are whole and within 0..quantityOrdered."""
    requested = items["cancel_requested_by"].notna() | items["cancel_request_reason"].notna()
    executed = items["cancelled_by"].notna() | items["cancel_reason"].notna()
    ordered = pd.to_numeric(items["quantity"].where(quantity_ok(items["quantity"])), errors="coerce")
    cancelled = ordered - _count(items["quantity_shipped"]) - _count(items["quantity_unfulfilled"])
    within = cancelled.notna() & (cancelled >= 0) & (cancelled <= ordered)
    return pd.DataFrame({
        "cancel_requested_by": items["cancel_requested_by"].where(~requested | items["cancel_requested_by"].notna(),
                                                                  MISSING),
        "cancelled_by": items["cancelled_by"].where(~executed | items["cancelled_by"].notna(), MISSING),
        "cancelled_units_within_ordered": (~executed | within).astype(bool),
    }, index=items.index)


def _time_ok(values: pd.Series) -> pd.Series:
    parsed = pd.to_datetime(values.astype("string"), utc=True, errors="coerce", format="ISO8601")
    return (values.isna() | parsed.notna()).astype(bool)


def _flagged(rows: np.ndarray, count: int) -> np.ndarray:
    """Per order row (0..count-1): whether any of `rows` points at it."""
    flags = np.zeros(count, bool)
    flags[rows] = True
    return flags


def money_checks(batch: OrderBatch, checked: list[int], orders: pd.DataFrame) -> pd.DataFrame:
    """The money rules (MONEY_RULES, UNKNOWN_CATEGORIES) for the orders at `checked` (`orders`: their rows, in that
    order) and their delivery tip's status: exact integer sums, vectorised over all orders at once (numpy
    scatter-adds into per-order and per-item totals)."""
    count = len(checked)
    proceeds = batch.proceeds(checked)
    lines, tops = proceeds.items, proceeds.orders
    row_of_order = np.full(len(batch), -1, np.int64)
    row_of_order[checked] = np.arange(count)
    items = batch.items[batch.items["order_pos"].isin(checked)]
    item_row = row_of_order[items["order_pos"].to_numpy()]
    row_of_line = np.full(len(batch.items), -1, np.int64)
    row_of_line[items.index.to_numpy()] = item_row
    line = lines["line"].to_numpy()
    line_row, top_row = row_of_line[line], row_of_order[tops["order_pos"].to_numpy()]
    detailed = lines["detailed"].to_numpy(bool)
    subtotal = ~detailed
    line_category, top_category = lines["category"].to_numpy(), tops["category"].to_numpy()
    tip = top_category == TIP_CODE

    # Every amount of the proceeds: item breakdowns and their detailed breakdowns, order breakdowns, item totals.
    has_total = items["proceeds_total"].notna().to_numpy(bool)
    total_e4 = money_e4(items["proceeds_total"])
    grand_e4 = money_e4(orders["grand_total"])
    amount_row = np.concatenate([line_row, top_row, item_row[has_total]])
    e4 = pd.concat([lines["e4"], tops["e4"], total_e4[has_total]], ignore_index=True)
    currency = np.concatenate([lines["currency"].to_numpy(), tops["currency"].to_numpy(),
                               _currency_codes(items["proceeds_currency"][has_total])])
    malformed = _flagged(amount_row[e4.isna().to_numpy(bool)], count)
    unchecked = malformed | (orders["grand_total"].notna() & grand_e4.isna()).to_numpy(bool)
    digits_off = _flagged(amount_row[~digits_fit(e4, currency)], count)
    # ... and the unit prices, each currency against the grand total's where the order has one (codes: two
    # currencies we do not know compare equal, but the order's own must be known, another rule).
    priced = items["unit_price"].notna().to_numpy(bool)
    money_row = np.concatenate([amount_row, item_row[priced]])
    money_currency = np.concatenate([currency, _currency_codes(items["item_currency"][priced])])
    order_currency = _currency_codes(orders["currency"])[money_row]
    has_currency = orders["currency"].notna().to_numpy(bool)[money_row]
    currency_off = _flagged(money_row[has_currency & (money_currency != order_currency)], count)
    size = np.zeros(count)
    np.add.at(size, amount_row, np.abs(e4.to_numpy(np.float64, na_value=0)))
    too_large = size + np.abs(grand_e4.to_numpy(np.float64, na_value=0)) >= EXACT_SUM_LIMIT

    # Per item: its breakdowns (subtotals) add up to its proceedsTotal.
    line_e4 = lines["e4"].to_numpy(np.int64, na_value=0)
    line_sum = np.zeros(len(batch.items), np.int64)
    np.add.at(line_sum, line[subtotal], line_e4[subtotal])
    item_lines = items.index.to_numpy()
    item_total = total_e4.to_numpy(np.int64, na_value=0)
    has_proceeds = has_total | np.isin(item_lines, line)
    item_off = _flagged(item_row[has_proceeds & (~has_total | (line_sum[item_lines] != item_total))], count)
    # Per breakdown with detailed breakdowns (TAX, DISCOUNT): they add up to its subtotal.
    ids = breakdown_ids(lines)
    detail_sums = pd.Series(line_e4[detailed]).groupby(ids[detailed]).sum()
    subtotals = pd.Series(line_e4[subtotal], index=ids[subtotal]).reindex(detail_sums.index)
    off_ids = detail_sums.index[detail_sums.to_numpy() != subtotals.to_numpy()]
    detail_off = _flagged(line_row[np.isin(ids, off_ids)], count)
    # Per order with proceeds on every item: Σ item proceedsTotal + DELIVERY_TIP = grandTotal.
    lacking = _flagged(item_row[~has_proceeds], count)
    top_e4 = tops["e4"].to_numpy(np.int64, na_value=0)
    expected = np.zeros(count, np.int64)
    np.add.at(expected, item_row, item_total)
    np.add.at(expected, top_row[tip], top_e4[tip])
    grand_off = (_flagged(item_row, count) & ~lacking
                 & (grand_e4.isna().to_numpy(bool) | (expected != grand_e4.to_numpy(np.int64, na_value=0))))
    # Per order with order-level breakdowns: each category (unknown ones together) = the items' sum of it.
    others = len(ITEM_CATEGORIES)
    by_items, by_order = np.zeros((count, others + 1), np.int64), np.zeros((count, others + 1), np.int64)
    np.add.at(by_items, (line_row[subtotal], np.where(line_category < 0, others, line_category)[subtotal]),
              line_e4[subtotal])
    np.add.at(by_order, (top_row[~tip], np.where(top_category < 0, others, top_category)[~tip]), top_e4[~tip])
    categories_off = _flagged(top_row, count) & (by_items != by_order).any(axis=1)

    def adds_up(off: np.ndarray) -> np.ndarray:
        return ~(off | too_large) | unchecked

    names = pd.Series(pd.Series(proceeds.unknown, dtype="string").reindex(checked).array, index=orders.index)
    priced_status = orders["status"].isin(PRICED_AMAZON_STATUSES).to_numpy(bool)
    any_proceeds = _flagged(item_row[has_proceeds], count) | _flagged(top_row, count)
    return pd.DataFrame({
        "amounts_well_formed": ~malformed,
        "amounts_fit_currency_digits": ~digits_off,
        "currencies_match_grand_total": ~currency_off,
        "item_breakdowns_sum_to_proceeds_total": adds_up(item_off),
        "detailed_breakdowns_sum_to_subtotal": adds_up(detail_off),
        "items_and_tip_sum_to_grand_total": adds_up(grand_off),
        "order_breakdowns_sum_items": adds_up(categories_off),
        "priced_items_have_proceeds": ~(lacking & (priced_status | any_proceeds)),
        UNKNOWN_CATEGORIES: names,
        "delivery_tip_status": delivery_tips(tops, checked)["proceeds.DELIVERY_TIP.status"].to_numpy(object),
    }, index=orders.index)


def _suites(known_marketplaces: list[str]):
    from great_expectations import expectations as E

    orders = [E.ExpectColumnValuesToNotBeNull(column=c) for c in
              ("order_id", "purchase_date", "last_updated", "status", "fulfilled_by", "marketplace_id")]
    orders += [
        E.ExpectColumnValuesToMatchRegex(column="order_id", regex=ORDER_ID),
        E.ExpectColumnValuesToMatchRegex(column="purchase_date", regex=UTC_TIME),
        E.ExpectColumnValuesToMatchRegex(column="last_updated", regex=UTC_TIME),
        E.ExpectColumnValuesToBeInSet(column="times_parse", value_set=[True]),
        E.ExpectColumnValuesToBeInSet(column="status", value_set=AMAZON_STATUSES),
        E.ExpectColumnValuesToBeInSet(column="fulfilled_by", value_set=["MERCHANT", "AMAZON"]),
        E.ExpectColumnValuesToBeInSet(column="marketplace_id", value_set=known_marketplaces),
        E.ExpectColumnValuesToBeInSet(column="currency", value_set=list(CURRENCY_DECIMALS)),
        E.ExpectColumnValuesToMatchRegex(column="grand_total", regex=MONEY),
        E.ExpectColumnValuesToBeInSet(column="grand_total_decimals_ok", value_set=[True]),
        E.ExpectColumnValuesToNotBeNull(column="grand_total", row_condition=f"status in {PRICED_AMAZON_STATUSES}",
                                        condition_parser="pandas"),
        E.ExpectColumnValuesToNotBeNull(column="currency", row_condition=f"status in {PRICED_AMAZON_STATUSES}",
                                        condition_parser="pandas"),
        E.ExpectColumnValuesToBeInSet(column="has_items", value_set=[True]),
    ]
    orders += [E.ExpectColumnValueLengthsToBeBetween(column=c, max_value=255) for c in SHORT_TEXT]
    orders += [E.ExpectColumnValueLengthsToBeBetween(column="ship_street", max_value=1024)]
    orders += [E.ExpectColumnValueLengthsToBeBetween(column=c, max_value=n) for c, n in MAX_LENGTHS.items()]
    orders += [E.ExpectColumnValuesToNotMatchRegex(column=c, regex=UNSAFE_TEXT) for c in IDENTIFIERS["orders"]]
    orders += [
        E.ExpectMulticolumnSumToEqual(column_list=list(MONEY_RULES), sum_total=len(MONEY_RULES),
                                      meta={REASONS: "false columns"}),
        E.ExpectColumnValuesToBeNull(column=UNKNOWN_CATEGORIES, meta={REASONS: "values"}),
    ]
    items = [E.ExpectColumnValuesToNotBeNull(column=c) for c in ("order_item_id", "sku", "quantity")]
    items += [
        E.ExpectColumnValueLengthsToBeBetween(column="order_item_id", max_value=64),
        E.ExpectColumnValueLengthsToBeBetween(column="sku", min_value=1, max_value=64),
        E.ExpectColumnValueLengthsToBeBetween(column="title", max_value=1024),
        E.ExpectColumnValuesToBeInSet(column="quantity_ok", value_set=[True]),
        E.ExpectColumnValuesToMatchRegex(column="unit_price", regex=MONEY),
        E.ExpectColumnValuesToBeInSet(column="unit_price_decimals_ok", value_set=[True]),
        E.ExpectColumnValuesToNotBeNull(column="unit_price", row_condition=f"order_status in {PRICED_AMAZON_STATUSES}",
                                        condition_parser="pandas"),
        E.ExpectColumnValuesToBeUnique(column="item_key"),
        E.ExpectColumnValueLengthsToBeBetween(column="gift_message", max_value=GIFT_MESSAGE_MAX),
        E.ExpectColumnValuesToBeInSet(column="cancel_requested_by", value_set=list(CANCEL_REQUESTERS),
                                      meta={REASONS: "values"}),
        E.ExpectColumnValuesToBeInSet(column="cancelled_by", value_set=list(CANCELLED_BY), meta={REASONS: "values"}),
        E.ExpectColumnValuesToBeInSet(column="cancelled_units_within_ordered", value_set=[True]),
    ]
    items += [E.ExpectColumnValueLengthsToBeBetween(column=c, max_value=n) for c, n in ITEM_MAX_LENGTHS.items()]
    items += [E.ExpectColumnValuesToNotMatchRegex(column=c, regex=UNSAFE_TEXT) for c in IDENTIFIERS["items"]]
    return orders, items


def _columns(expectations: list, row_conditions: list[str]) -> list[str]:
    """The columns a suite reads, and those its row conditions read: GX is handed these alone."""
    columns = set(row_conditions)
    for expectation in expectations:
        columns.update(getattr(expectation, "column_list", None) or [getattr(expectation, "column", None)])
    return sorted(columns - {None})


@functools.lru_cache(maxsize=8)
def _prepared_suites(known_marketplaces: tuple[str, ...]):
    """The two GX suites, each with the batch definition of the frame it checks and the columns it reads. Built
    once per process and set of marketplaces: building costs as much as validating a small batch, and every run
    hands GX its frame anew (`batch_parameters`), so no data carries over from one chunk or run to the next."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)  # no bars in task logs
    order_rules, item_rules = _suites(list(known_marketplaces))
    source = context.data_sources.add_or_update_pandas("amazon")
    return [(source.add_dataframe_asset(name).add_batch_definition_whole_dataframe(f"{name}_batch"),
             gx.ExpectationSuite(name=name, expectations=expectations), _columns(expectations, conditions))
            for name, expectations, conditions in (("amazon_orders", order_rules, ["status"]),
                                                   ("amazon_order_items", item_rules, ["order_status"]))]


def _run_suite(batch_definition, suite, frame: pd.DataFrame) -> dict[int, list[str]]:
    """Run one suite; return {row index: [reason, ...]} for the rows that failed: "column: expectation", with the
    row's value in parentheses, or per false column, where the expectation's meta (REASONS) asks for it.

    Two passes: pass or fail for every expectation (BOOLEAN_ONLY computes no lists of rows and takes a third of
    COMPLETE's time), then the failing ones alone again to learn which rows failed. Most batches pass whole.
    Batch.validate keeps no results (a validation definition would store every run's in the context)."""
    import copy

    import great_expectations as gx

    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
    verdicts = batch.validate(suite, result_format={"result_format": "BOOLEAN_ONLY"})
    failing = [copy.copy(outcome.expectation_config.to_domain_obj())  # copies: each belongs to one suite
               for outcome in verdicts.results if not outcome.success]
    if not failing:
        return {}
    result = batch.validate(gx.ExpectationSuite(name=f"{suite.name}_failing", expectations=failing),
                            result_format={"result_format": "COMPLETE"})
    failures: dict[int, list[str]] = {}
    for outcome in result.results:
        if outcome.success:
            continue
        cfg = outcome.expectation_config
        indexes = [int(i) for i in outcome.result.get("unexpected_index_list") or []]
        reason = f"{cfg.kwargs.get('column')}: {cfg.type}"
        named = (cfg.meta or {}).get(REASONS)
        if named == "values":
            reasons = [[f"{reason} ({value})"] for value in outcome.result.get("unexpected_list") or []]
        elif named == "false columns":
            columns = cfg.kwargs["column_list"]
            reasons = [[f"{column}: {cfg.type}" for column, ok in zip(columns, row, strict=True) if not ok]
                       for row in frame.loc[indexes, columns].to_numpy(bool)]
        else:
            reasons = [[reason]] * len(indexes)
        for index, why in zip(indexes, reasons, strict=True):
            failures.setdefault(index, []).extend(why)
    return failures


def validate_batch(batch: OrderBatch, known_marketplaces: list[str], skip: set[int] | frozenset = frozenset()
                   ) -> dict[int, list[str]]:
    """Why orders of the batch fail, by position; orders at positions in `skip` are not checked."""
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    batch.proceeds([pos for pos in range(len(batch)) if pos not in skip and pos not in batch.problems])
    failures = {pos: list(why) for pos, why in batch.problems.items() if pos not in skip}  # reading found more
    checked = [pos for pos in range(len(batch)) if pos not in skip and pos not in failures]
    orders = batch.orders.iloc[checked].reset_index(drop=True)
    items = batch.items[batch.items["order_pos"].isin(checked)].reset_index(drop=True)
    if not len(orders):
        return failures
    orders["times_parse"] = (_time_ok(orders["purchase_date"]) & _time_ok(orders["last_updated"])
                             & _time_ok(orders["latest_ship_date"]) & _time_ok(orders["deliver_by"]))
    orders["grand_total_decimals_ok"] = decimals_ok(orders["grand_total"], orders["currency"])
    orders["has_items"] = pd.Series(checked).isin(items["order_pos"])
    orders = pd.concat([orders, money_checks(batch, checked, orders)], axis=1)
    orders["ship_street"] = (orders["ship_line1"].fillna("").astype(str) + " "
                             + orders["ship_line2"].fillna("").astype(str)).str.strip()
    status = pd.Series(orders["status"].to_numpy(), index=checked)
    items["order_status"] = items["order_pos"].map(status)
    items["quantity_ok"] = quantity_ok(items["quantity"])
    items["unit_price_decimals_ok"] = decimals_ok(items["unit_price"], items["item_currency"])
    items["item_key"] = items["order_pos"].astype(str) + "/" + items["order_item_id"].astype(str)
    items[["cancel_requested_by", "cancelled_by", "cancelled_units_within_ordered"]] = cancellation_checks(items)
    (orders_batch, orders_suite, order_columns), (items_batch, items_suite, item_columns) = _prepared_suites(
        tuple(known_marketplaces))
    # As text from here: vectorised string checks, and GX can fingerprint the batch without pickling it.
    orders, item_positions, items = orders[order_columns], items["order_pos"].to_numpy(), items[item_columns]
    orders = as_text(orders, [c for c in orders if orders[c].dtype == object])
    items = as_text(items, [c for c in items if items[c].dtype == object])
    for index, reasons in _run_suite(orders_batch, orders_suite, orders).items():
        failures.setdefault(checked[index], []).extend(reasons)
    for index, reasons in _run_suite(items_batch, items_suite, items).items():
        failures.setdefault(int(item_positions[index]), []).extend(f"item {r}" for r in reasons)
    return {pos: sorted(set(why)) for pos, why in failures.items()}
