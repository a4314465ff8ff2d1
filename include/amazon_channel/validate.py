"""Validate: Great Expectations 1.x suites over the raw orders and items; failures go to quarantine, not away.

An order fails as a whole if it or any of its items breaks an expectation. Quarantined orders keep their raw
payload and reasons and are validated again on every later run: a newer valid version from Amazon, or a fix
of the cause (e.g. a marketplace added to the settings), releases them into the pipeline.
"""

from __future__ import annotations

import logging

import pandas as pd

from .frames import ORDER_ID, OrderBatch, as_text
from .rules import AMAZON_STATUSES, CURRENCY_DECIMALS, PRICED_AMAZON_STATUSES
from .transform import UNSAFE_TEXT

log = logging.getLogger(__name__)

UTC_TIME = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?Z$"
MONEY = r"^\d{1,14}(?:\.\d{1,4})?$"  # a non-negative decimal, as Amazon writes amounts
SHORT_TEXT = ["buyer_email", "buyer_name", "buyer_company", "ship_name", "ship_city", "ship_region"]
# The most each other stored text may hold (its Commerce column; a longer value would fail the whole load). Text the
# transform cleans is checked before cleaning, which only ever shortens it.
MAX_LENGTHS = {"ship_postcode": 32, "ship_country": 2, "ship_phone": 64, "package_refs": 1024}
GIFT_MESSAGE_MAX = 16_383  # a MariaDB TEXT holds 65,535 bytes: 4 per character at most in UTF-8
# Identifiers are stored as sent, never cleaned (a cleaned SKU could name another product): one holding a control,
# bidi or line-break character is quarantined instead.
IDENTIFIERS = {"orders": ["order_id"], "items": ["order_item_id", "sku"]}


def decimals_ok(amounts: pd.Series, currencies: pd.Series) -> pd.Series:
    """Amount has no more decimals than its currency allows (JPY none); trailing zeros are tolerated."""
    text = amounts.astype("string")
    fraction = text.str.extract(r"\.(\d+)$", expand=False).str.rstrip("0").str.len().fillna(0)
    allowed = currencies.map(CURRENCY_DECIMALS)
    return (amounts.isna() | allowed.isna() | (fraction <= allowed)).astype(bool)


def quantity_ok(values: pd.Series) -> pd.Series:
    """A positive whole number (bools and '2.5' are not quantities)."""
    is_bool = values.map(lambda v: isinstance(v, bool))
    numbers = pd.to_numeric(values.where(~is_bool), errors="coerce")
    return (numbers.notna() & (numbers >= 1) & (numbers % 1 == 0)).astype(bool)


def _time_ok(values: pd.Series) -> pd.Series:
    parsed = pd.to_datetime(values.astype("string"), utc=True, errors="coerce", format="ISO8601")
    return (values.isna() | parsed.notna()).astype(bool)


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
    ]
    items += [E.ExpectColumnValuesToNotMatchRegex(column=c, regex=UNSAFE_TEXT) for c in IDENTIFIERS["items"]]
    return orders, items


def _definitions(known_marketplaces: tuple[str, ...]):
    """The two GX validation definitions, in a fresh ephemeral context: nothing (no cached batch) carries over
    from one chunk or run to the next."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)  # no bars in task logs
    order_rules, item_rules = _suites(list(known_marketplaces))
    source = context.data_sources.add_or_update_pandas("amazon")
    definitions = []
    for name, expectations in (("amazon_orders", order_rules), ("amazon_order_items", item_rules)):
        batch = source.add_dataframe_asset(name).add_batch_definition_whole_dataframe(f"{name}_batch")
        suite = context.suites.add(gx.ExpectationSuite(name=name, expectations=expectations))
        definitions.append(context.validation_definitions.add(gx.ValidationDefinition(data=batch, suite=suite,
                                                                                       name=name)))
    return definitions


def _run_suite(definition, frame: pd.DataFrame) -> dict[int, list[str]]:
    """Run one suite; return {row index: [reason, ...]} for the rows that failed."""
    result = definition.run(batch_parameters={"dataframe": frame}, result_format={"result_format": "COMPLETE"})
    failures: dict[int, list[str]] = {}
    for outcome in result.results:
        if outcome.success:
            continue
        cfg = outcome.expectation_config
        reason = f"{cfg.kwargs.get('column')}: {cfg.type}"
        for index in outcome.result.get("unexpected_index_list") or []:
            failures.setdefault(int(index), []).append(reason)
    return failures


def validate_batch(batch: OrderBatch, known_marketplaces: list[str], skip: set[int] | frozenset = frozenset()
                   ) -> dict[int, list[str]]:
    """Why orders of the batch fail, by position; orders at positions in `skip` are not checked."""
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    failures = {pos: list(why) for pos, why in batch.problems.items() if pos not in skip}
    checked = [pos for pos in range(len(batch)) if pos not in skip and pos not in failures]
    orders = batch.orders.iloc[checked].reset_index(drop=True)
    items = batch.items[batch.items["order_pos"].isin(checked)].reset_index(drop=True)
    if not len(orders):
        return failures
    orders["times_parse"] = (_time_ok(orders["purchase_date"]) & _time_ok(orders["last_updated"])
                             & _time_ok(orders["latest_ship_date"]))
    orders["grand_total_decimals_ok"] = decimals_ok(orders["grand_total"], orders["currency"])
    orders["has_items"] = pd.Series(checked).isin(items["order_pos"])
    orders["ship_street"] = (orders["ship_line1"].fillna("").astype(str) + " "
                             + orders["ship_line2"].fillna("").astype(str)).str.strip()
    status = pd.Series(orders["status"].to_numpy(), index=checked)
    items["order_status"] = items["order_pos"].map(status)
    items["quantity_ok"] = quantity_ok(items["quantity"])
    items["unit_price_decimals_ok"] = decimals_ok(items["unit_price"], items["item_currency"])
    items["item_key"] = items["order_pos"].astype(str) + "/" + items["order_item_id"].astype(str)
    # As text from here: vectorised string checks, and GX can fingerprint the batch without pickling it.
    orders = as_text(orders, [c for c in orders if orders[c].dtype == object])
    items = as_text(items, [c for c in items if items[c].dtype == object])
    orders_definition, items_definition = _definitions(tuple(known_marketplaces))
    for index, reasons in _run_suite(orders_definition, orders).items():
        failures.setdefault(checked[index], []).extend(reasons)
    item_positions = items["order_pos"].to_numpy()
    for index, reasons in _run_suite(items_definition, items).items():
        failures.setdefault(int(item_positions[index]), []).extend(f"item {r}" for r in reasons)
    return {pos: sorted(set(why)) for pos, why in failures.items()}
