"""The transform's money columns (contract of issue 11): every proceeds category per item, TAX and DISCOUNT by what
they apply to, exact to the last digit, null where Amazon shows no amounts yet; the order's subtotal, delivery tip
and Amazon Business fields."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from amazon_channel.frames import batch_from_orders
from amazon_channel.transform import transform
from tests.unit.test_money_frames import (
    amazon_item,
    amazon_order,
    breakdown,
    every_category,
    jp_no_digits,
    pending,
    uk_vat_inclusive,
    us_example,
)

pytestmark = pytest.mark.unit

ITEM_MONEY = ["item_amount_e4", "shipping_amount_e4", "gift_wrap_amount_e4", "cod_fee_amount_e4", "other_amount_e4",
              "tax_amount_e4", "item_tax_e4", "shipping_tax_e4", "gift_wrap_tax_e4", "cod_fee_tax_e4", "other_tax_e4",
              "discount_amount_e4", "item_discount_e4", "shipping_discount_e4", "other_discount_e4",
              "proceeds_total_e4"]


def parquet(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame as the transform step reads it back from staging."""
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return pd.read_parquet(io.BytesIO(buffer.getvalue()))


def transformed(*orders: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(orders, items) out of the transform, indexed by Amazon order id and by order item id."""
    batch = batch_from_orders(list(orders))
    raw_orders, raw_items = batch.rows(list(range(len(orders))))
    channel_orders, channel_items = transform(parquet(raw_orders), parquet(raw_items))
    return channel_orders.set_index("amazon_order_id"), channel_items.set_index("order_item_id")


def e4(item: pd.Series) -> dict[str, int | None]:
    """The item's money columns as plain ints (None: null), in ITEM_MONEY's order."""
    return {c: None if pd.isna(item[c]) else int(item[c]) for c in ITEM_MONEY}


def test_amazons_us_example_is_item_plus_tax_with_no_shipping():
    # Act
    orders, items = transformed(us_example())

    # Assert: 39.99 + TAX 10.00 = 49.99 (the issue: it was booked as shipping 10.00 and tax 0)
    assert e4(items.loc["A"]) == {**dict.fromkeys(ITEM_MONEY, 0), "item_amount_e4": 399_900, "tax_amount_e4": 100_000,
                                  "item_tax_e4": 100_000, "proceeds_total_e4": 499_900}
    order = orders.loc["111-0000000-0000001"]
    assert (order["subtotal_e4"], order["grand_total_e4"], order["delivery_tip_e4"]) == (399_900, 499_900, 0)
    assert pd.isna(order["delivery_tip_status"])


def test_a_vat_inclusive_uk_order_keeps_the_net_item_and_the_gross_unit_price():
    # Act
    orders, items = transformed(uk_vat_inclusive())

    # Assert
    item = items.loc["D"]
    assert e4(item) == {**dict.fromkeys(ITEM_MONEY, 0), "item_amount_e4": 200_000, "shipping_amount_e4": 25_000,
                        "tax_amount_e4": 45_000, "item_tax_e4": 40_000, "shipping_tax_e4": 5_000,
                        "proceeds_total_e4": 270_000}
    assert (item["unit_price_e4"], item["qty_ordered"]) == (120_000, 2)  # (20.00 + 4.00) / 2, as Amazon sent it
    order = orders.loc["202-0000000-0000003"]
    assert (order["subtotal_e4"], order["grand_total_e4"], order["currency"]) == (200_000, 270_000, "GBP")


def test_every_category_has_its_column_and_tax_and_discount_split_by_what_they_apply_to():
    # Act
    orders, items = transformed(every_category())

    # Assert
    assert e4(items.loc["B"]) == {
        "item_amount_e4": 400_000, "shipping_amount_e4": 50_000, "gift_wrap_amount_e4": 30_000,
        "cod_fee_amount_e4": 20_000, "other_amount_e4": 10_000,
        "tax_amount_e4": 49_000, "item_tax_e4": 32_000, "shipping_tax_e4": 5_000, "gift_wrap_tax_e4": 3_000,
        "cod_fee_tax_e4": 2_000, "other_tax_e4": 7_000,
        "discount_amount_e4": -70_000, "item_discount_e4": -40_000, "shipping_discount_e4": -20_000,
        "other_discount_e4": -10_000, "proceeds_total_e4": 489_000}
    # Item C: a TAX and a DISCOUNT without detailed breakdowns apply to the item.
    assert e4(items.loc["C"]) == {**dict.fromkeys(ITEM_MONEY, 0), "item_amount_e4": 100_000, "tax_amount_e4": 8_000,
                                  "item_tax_e4": 8_000, "discount_amount_e4": -10_000, "item_discount_e4": -10_000,
                                  "proceeds_total_e4": 98_000}
    assert items.loc["B", ["promotion_ids", "tax_collection_model", "tax_reporting_scheme"]].tolist() == [
        "PROMO-1,PROMO-2", "MARKETPLACE_FACILITATOR", "IOSS"]
    order = orders.loc["111-0000000-0000002"]
    assert order[["subtotal_e4", "grand_total_e4", "delivery_tip_e4", "delivery_tip_status", "purchase_order_number",
                  "buyer_tax_registration"]].tolist() == [500_000, 607_000, 20_000, "PENDING", "PO-4711",
                                                          "VAT DE123456789"]


def test_yen_have_no_minor_unit_and_stay_exact():
    # Act
    orders, items = transformed(jp_no_digits())

    # Assert
    assert e4(items.loc["E"]) == {**dict.fromkeys(ITEM_MONEY, 0), "item_amount_e4": 10_000_000,
                                  "cod_fee_amount_e4": 3_300_000, "tax_amount_e4": 1_000_000,
                                  "item_tax_e4": 1_000_000, "proceeds_total_e4": 14_300_000}
    assert orders.loc["503-0000000-0000004", "grand_total_e4"] == 14_300_000


def test_an_order_without_amounts_yet_has_null_money_not_zero():
    # Act
    orders, items = transformed(pending(), us_example())

    # Assert
    assert e4(items.loc["F"]) == dict.fromkeys(ITEM_MONEY)
    order = orders.loc["111-0000000-0000005"]
    assert pd.isna(order["subtotal_e4"]) and pd.isna(order["grand_total_e4"]) and pd.isna(order["delivery_tip_e4"])
    assert [str(items[c].dtype) for c in ITEM_MONEY] == ["Int64"] * len(ITEM_MONEY)


def test_text_from_amazon_is_cleaned_like_any_other():
    # Arrange
    order = amazon_order("111-0000000-0000006", [
        amazon_item("G", [breakdown("ITEM", "5.00")], unit_price="5.00", promotions=("PROMO\x1b[2J-9",))],
        purchase_order="PO\u202e-1\n2", registration=("VAT", "DE\x00999"), tip="1.00", tip_status="FINAL\u200fIZED")

    # Act
    orders, items = transformed(order)

    # Assert
    assert orders.loc["111-0000000-0000006", ["purchase_order_number", "buyer_tax_registration",
                                              "delivery_tip_status"]].tolist() == ["PO-1 2", "VAT DE999", "FINALIZED"]
    assert items.loc["G", "promotion_ids"] == "PROMO[2J-9"


def test_no_valid_orders_make_empty_frames_with_the_money_columns():
    # Act
    orders, items = transform(None, None)

    # Assert
    assert len(orders) == len(items) == 0
    assert {"subtotal_e4", "delivery_tip_e4", "delivery_tip_status", "purchase_order_number",
            "buyer_tax_registration"} <= set(orders.columns)
    assert {*ITEM_MONEY, "promotion_ids", "tax_collection_model", "tax_reporting_scheme"} <= set(items.columns)
