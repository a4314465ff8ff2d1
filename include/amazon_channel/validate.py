"""Validate: Great Expectations 1.x suites over the raw orders and items; failures go to quarantine, not away.

An order fails as a whole if it or any of its items breaks an expectation. Quarantined orders keep their raw
payload and reasons and are validated again on every later run: a newer valid version from Amazon, or a fix
of the cause (e.g. a marketplace added to the settings), releases them into the pipeline.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections import Counter
from dataclasses import dataclass, field

import pandas as pd

from .frames import flatten

log = logging.getLogger(__name__)

ORDER_ID = r"^\d{3}-\d{7}-\d{7}$"
UTC_TIME = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?Z$"
MONEY = r"^\d{1,14}(?:\.\d{1,4})?$"  # a non-negative decimal, as Amazon writes amounts
STATUSES = ["PENDING_AVAILABILITY", "PENDING", "UNSHIPPED", "PARTIALLY_SHIPPED", "SHIPPED", "CANCELLED", "UNFULFILLABLE"]
PRICED_STATUSES = ["UNSHIPPED", "PARTIALLY_SHIPPED", "SHIPPED"]
# Amazon's marketplaces (developer docs, "Marketplace IDs"); settings can add more.
KNOWN_MARKETPLACES = [
    "ATVPDKIKX0DER", "A2EUQ1WTGCTBG2", "A1AM78C64UM0Y8", "A2Q3Y263D00KWC", "A1F83G8C2ARO7P", "A1PA6795UKMFR9",
    "A13V1IB3VIYZZH", "APJ6JRA9NG5V4", "A1RKKUPIHCS9HS", "A1805IZSGTT6HS", "A2NODRKZP88ZB9", "A1C3SOZRARQ6R3",
    "AMEN7PMS3EDWL", "A33AVAJ2PDY3EV", "A2VIGQ35RCS4UG", "A17E79C6D8DWNP", "ARBP9OOSHTCHU", "A21TJRUUN4KGV",
    "A1VC38T7YXB528", "A39IBJ37TRP1C6", "A19VAU5U5O7RUS", "AE08WJ6YKNBMC", "A28R8C7NBKEWEA",
]
# ISO 4217 currencies Amazon marketplaces use, with their minor-unit digits.
CURRENCY_DECIMALS = {"USD": 2, "CAD": 2, "MXN": 2, "BRL": 2, "GBP": 2, "EUR": 2, "SEK": 2, "PLN": 2, "TRY": 2,
                     "EGP": 2, "AED": 2, "SAR": 2, "INR": 2, "JPY": 0, "AUD": 2, "SGD": 2, "ZAR": 2, "CNY": 2}
SHORT_TEXT = ["buyer_email", "buyer_name", "buyer_company", "ship_name", "ship_city", "ship_region"]


@dataclass
class ValidationResult:
    valid: list[dict]
    failed: list[tuple[dict, list[str]]]  # (raw order, reasons)
    reasons: Counter = field(default_factory=Counter)


def _decimals_ok(amounts: pd.Series, currencies: pd.Series) -> pd.Series:
    """Amount has no more decimals than its currency allows (JPY none); trailing zeros are tolerated."""
    text = amounts.astype("string")
    fraction = text.str.extract(r"\.(\d+)$", expand=False).str.rstrip("0").str.len().fillna(0)
    allowed = currencies.map(CURRENCY_DECIMALS)
    return (amounts.isna() | allowed.isna() | (fraction <= allowed)).astype(bool)


def _quantity_ok(values: pd.Series) -> pd.Series:
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
        E.ExpectColumnValuesToBeInSet(column="status", value_set=STATUSES),
        E.ExpectColumnValuesToBeInSet(column="fulfilled_by", value_set=["MERCHANT", "AMAZON"]),
        E.ExpectColumnValuesToBeInSet(column="marketplace_id", value_set=known_marketplaces),
        E.ExpectColumnValuesToBeInSet(column="currency", value_set=list(CURRENCY_DECIMALS)),
        E.ExpectColumnValuesToMatchRegex(column="grand_total", regex=MONEY),
        E.ExpectColumnValuesToBeInSet(column="grand_total_decimals_ok", value_set=[True]),
        E.ExpectColumnValuesToNotBeNull(column="grand_total", row_condition=f"status in {PRICED_STATUSES}",
                                        condition_parser="pandas"),
        E.ExpectColumnValuesToNotBeNull(column="currency", row_condition=f"status in {PRICED_STATUSES}",
                                        condition_parser="pandas"),
        E.ExpectColumnValuesToBeInSet(column="has_items", value_set=[True]),
    ]
    orders += [E.ExpectColumnValueLengthsToBeBetween(column=c, max_value=255) for c in SHORT_TEXT]
    orders += [E.ExpectColumnValueLengthsToBeBetween(column="ship_street", max_value=1024)]
    items = [E.ExpectColumnValuesToNotBeNull(column=c) for c in ("order_item_id", "sku", "quantity")]
    items += [
        E.ExpectColumnValueLengthsToBeBetween(column="order_item_id", max_value=64),
        E.ExpectColumnValueLengthsToBeBetween(column="sku", min_value=1, max_value=64),
        E.ExpectColumnValueLengthsToBeBetween(column="title", max_value=1024),
        E.ExpectColumnValuesToBeInSet(column="quantity_ok", value_set=[True]),
        E.ExpectColumnValuesToMatchRegex(column="unit_price", regex=MONEY),
        E.ExpectColumnValuesToBeInSet(column="unit_price_decimals_ok", value_set=[True]),
        E.ExpectColumnValuesToNotBeNull(column="unit_price", row_condition=f"order_status in {PRICED_STATUSES}",
                                        condition_parser="pandas"),
        E.ExpectColumnValuesToBeUnique(column="item_key"),
    ]
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


def _structure_problems(order) -> list[str]:
    if not isinstance(order, dict):
        return ["order: not a JSON object"]
    items = order.get("orderItems")
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        return ["orderItems: not a list of objects"]
    return []


def validate_orders(orders: list, known_marketplaces: list[str]) -> ValidationResult:
    """Split raw orders into valid ones and failed ones with their reasons."""
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    failures: dict[int, list[str]] = {}
    shaped = []
    for position, order in enumerate(orders):
        problems = _structure_problems(order)
        if problems:
            failures[position] = problems
        else:
            shaped.append(position)
    order_frame, items = flatten([orders[p] for p in shaped])
    order_frame.index = shaped
    items["order_pos"] = [shaped[p] for p in items["order_pos"]]
    if len(order_frame):
        order_frame["times_parse"] = (_time_ok(order_frame["purchase_date"]) & _time_ok(order_frame["last_updated"])
                                      & _time_ok(order_frame["latest_ship_date"]))
        order_frame["grand_total_decimals_ok"] = _decimals_ok(order_frame["grand_total"], order_frame["currency"])
        order_frame["has_items"] = order_frame.index.isin(items["order_pos"])
        order_frame["ship_street"] = (order_frame["ship_line1"].fillna("").astype(str) + " "
                                      + order_frame["ship_line2"].fillna("").astype(str)).str.strip()
        items["order_status"] = items["order_pos"].map(order_frame["status"])
        items["quantity_ok"] = _quantity_ok(items["quantity"])
        items["unit_price_decimals_ok"] = _decimals_ok(items["unit_price"], items["item_currency"])
        items["item_key"] = items["order_pos"].astype(str) + "/" + items["order_item_id"].astype(str)
        orders_definition, items_definition = _definitions(tuple(known_marketplaces))
        for index, reasons in _run_suite(orders_definition, order_frame.reset_index(drop=True)).items():
            failures.setdefault(shaped[index], []).extend(reasons)
        for index, reasons in _run_suite(items_definition, items).items():
            failures.setdefault(int(items.at[index, "order_pos"]), []).extend(f"item {r}" for r in reasons)

    result = ValidationResult(valid=[], failed=[])
    for position, order in enumerate(orders):
        if position in failures:
            reasons = sorted(set(failures[position]))
            result.failed.append((order, reasons))
            result.reasons.update(reasons)
        else:
            result.valid.append(order)
    return result


def quarantine_key(order) -> str:
    order_id = order.get("orderId") if isinstance(order, dict) else None
    if isinstance(order_id, str) and re.match(ORDER_ID, order_id):
        return order_id
    return "sha256:" + hashlib.sha256(json.dumps(order, sort_keys=True, default=str).encode()).hexdigest()[:56]
