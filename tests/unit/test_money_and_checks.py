"""Exact money, newest-version-wins, and the amount and quantity checks of validation."""

from __future__ import annotations

import pandas as pd
import pytest

from amazon_channel.transform import money_e4, newest_versions
from amazon_channel.validate import decimals_ok, quantity_ok

pytestmark = [pytest.mark.unit]


@pytest.mark.parametrize(("amount", "expected"), [
    ("12.5", 125000),
    ("0", 0),
    ("1234.5678", 12345678),
    ("19.99", 199900),
    ("0.0001", 1),
    ("99999999999999.9999", 999999999999999999),  # 14 digits and 4 decimals, as validation allows: no float loss
    ("-1", -10000),  # a DISCOUNT is negative
    ("-7.5", -75000),
    ("-0.0001", -1),
    ("-99999999999999.9999", -999999999999999999),
    ("-0", 0),
    (None, None),
    ("1.23456", None),  # more than Commerce's 4 decimals
    ("123456789012345", None),  # more than 14 digits: ten-thousandths would not fit an int64
    ("12.", None),  # not a JSON (RFC 7159) decimal
    (".5", None),
    ("+1", None),
    ("- 1", None),
    ("--1", None),
    ("1e3", None),
    (" 1", None),
    ("1\n", None),
    ("١٢", None),  # digits of another script
    ("abc", None),
])
def test_money_e4(amount, expected):
    # Arrange
    amounts = pd.Series([amount], dtype="string")

    # Act
    result = money_e4(amounts)

    # Assert
    assert (None if pd.isna(result[0]) else int(result[0])) == expected


def test_money_e4_is_nullable_integer():
    # Act
    result = money_e4(pd.Series(["1.5", None]))

    # Assert
    assert str(result.dtype) == "Int64" and result.isna().tolist() == [False, True]


def test_money_e4_keeps_the_index_and_reads_json_numbers_as_their_text():
    # Arrange: the tolerant decoder hands on whatever JSON held (a number, a flag, a list)
    amounts = pd.Series(["-2.50", 3, 1.25, True, ["1"], None], index=[10, 3, 7, 8, 9, 1], dtype=object)

    # Act
    result = money_e4(amounts)

    # Assert
    assert result.index.tolist() == [10, 3, 7, 8, 9, 1]
    assert [None if pd.isna(v) else int(v) for v in result] == [-25000, 30000, 12500, None, None, None]


def _versions(*versions: tuple[str, str, list[str]]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Orders and items of a batch from (order id, last updated, its item ids), in arrival order."""
    frame = pd.DataFrame({"amazon_order_id": [v[0] for v in versions],
                          "last_updated": pd.to_datetime([v[1] for v in versions], utc=True)})
    items = pd.DataFrame([(v[0], pd.Timestamp(v[1]), item) for v in versions for item in v[2]],
                         columns=["amazon_order_id", "last_updated", "order_item_id"])
    return frame, items


OLD = ("111-0000000-0000001", "2026-03-10T10:00:00Z", ["item-a", "item-b"])
NEW = ("111-0000000-0000001", "2026-03-10T11:00:00Z", ["item-a", "item-c"])
OTHER = ("222-0000000-0000002", "2026-03-10T09:00:00Z", ["item-x"])


@pytest.mark.parametrize("batch", [
    pytest.param((OLD, NEW, OTHER), id="newest arrives last"),
    pytest.param((NEW, OTHER, OLD), id="newest arrives first"),
])
def test_newest_version_wins_with_its_items_only(batch):
    # Arrange
    frame, items = _versions(*batch)

    # Act
    orders, order_items = newest_versions(frame, items)

    # Assert
    newest = dict(zip(orders["amazon_order_id"], orders["last_updated"], strict=True))
    assert newest == {NEW[0]: pd.Timestamp(NEW[1]), OTHER[0]: pd.Timestamp(OTHER[1])}
    assert sorted(zip(order_items["amazon_order_id"], order_items["order_item_id"], strict=True)) == [
        (NEW[0], "item-a"), (NEW[0], "item-c"), (OTHER[0], "item-x")]


def test_newest_versions_drops_a_repeated_page():
    # Arrange
    frame, items = _versions(OLD, OLD)

    # Act
    orders, order_items = newest_versions(frame, items)

    # Assert
    assert len(orders) == 1 and sorted(order_items["order_item_id"]) == ["item-a", "item-b"]


@pytest.mark.parametrize(("amount", "currency", "expected"), [
    ("19.99", "USD", True),
    ("19.9", "USD", True),
    ("19", "USD", True),
    ("19.995", "USD", False),
    ("19.9900", "USD", True),  # trailing zeros are tolerated
    ("1500", "JPY", True),
    ("1500.0", "JPY", True),
    ("1500.5", "JPY", False),
    ("-0.01", "USD", True),
    ("-0.005", "USD", False),
    ("-100", "JPY", True),
    (None, "USD", True),  # a missing amount is another check's business
    ("1.2345", "XXX", True),  # an unknown currency is another check's business
])
def test_decimals_ok(amount, currency, expected):
    # Arrange
    amounts, currencies = pd.Series([amount], dtype="string"), pd.Series([currency], dtype="string")

    # Act
    ok = decimals_ok(amounts, currencies)

    # Assert
    assert ok.tolist() == [expected]


@pytest.mark.parametrize(("quantity", "expected"), [
    (1, True),
    (12, True),
    (2.0, True),
    ("3", True),
    (0, False),
    (-1, False),
    (2.5, False),
    ("2.5", False),
    ("two", False),
    (True, False),  # JSON true is not a quantity
    (None, False),
])
def test_quantity_ok(quantity, expected):
    # Arrange
    values = pd.Series([quantity], dtype=object)

    # Act
    ok = quantity_ok(values)

    # Assert
    assert ok.tolist() == [expected]
