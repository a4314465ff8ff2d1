"""Transform: validated Amazon orders to typed channel rows, vectorised with pandas (no per-row Python loops).

Its input is what validation handed on: the valid orders and items as flat text columns (`frames.py`), each item
pointing at its order by `order_pos`, and their proceeds as exact sums per category (`PROCEEDS_COLUMNS`), which
validation already parsed to check that they add up. Money stays exact as integer ten-thousandths (`*_e4`,
Commerce's 4 decimals) until the loader turns it into Decimal. Amazon's status becomes the channel status and the
Commerce state the order should have. FBA orders lack buyer name, street and phone: clearly marked placeholders
fill them.

Money per item (money.md): one column per proceeds category, TAX and DISCOUNT also by what they apply to (a TAX or
DISCOUNT without detailed breakdowns applies to the item); 0 where the item has proceeds but not that category,
null where it has none at all (Amazon shows no amounts before an order is priced).

Cancellations (Amazon's CANCELLATION block, per item): an item with a buyer's request and no execution is an open
request, which flags its order (`cancel_requested`) unless the order is cancelled; an executed item has cancelled
quantityOrdered - quantityFulfilled - quantityUnfulfilled units (`qty_canceled`), and every unshipped unit of a
cancelled order is cancelled.

Every text value bound for Commerce passes through `clean_text` (names, addresses, email, phone, SKU, title, gift
message, package references, cancellation reasons): what Amazon sends is data, never terminal or layout control.
The one newline kept is ours: it joins street line 1 and line 2.
"""

from __future__ import annotations

import pandas as pd

from .frames import DELIVERY_TIP_COLUMNS, ITEM_COLUMNS, ORDER_COLUMNS, PROCEEDS_COLUMNS, money_e4
from .rules import CHANNEL_STATUS, FULFILLMENT_CHANNEL, buyer_identity, commerce_state

# Item money columns: the sum of these proceeds columns (frames.PROCEEDS_SLOTS, "proceeds." + each).
ITEM_MONEY = {
    "item_amount_e4": ["ITEM"], "shipping_amount_e4": ["SHIPPING"], "gift_wrap_amount_e4": ["GIFT_WRAP"],
    "cod_fee_amount_e4": ["COD_FEE"], "other_amount_e4": ["OTHER"],
    "tax_amount_e4": ["TAX"], "item_tax_e4": ["TAX.ITEM", "TAX.undetailed"], "shipping_tax_e4": ["TAX.SHIPPING"],
    "gift_wrap_tax_e4": ["TAX.GIFT_WRAP"], "cod_fee_tax_e4": ["TAX.COD_FEE"],
    "discount_amount_e4": ["DISCOUNT"], "item_discount_e4": ["DISCOUNT.ITEM", "DISCOUNT.undetailed"],
    "shipping_discount_e4": ["DISCOUNT.SHIPPING"],
}
# ... and what is left of a total once its named parts are taken out (TAX on OTHER or DISCOUNT, say).
ITEM_MONEY_REST = {
    "other_tax_e4": ("tax_amount_e4", ["item_tax_e4", "shipping_tax_e4", "gift_wrap_tax_e4", "cod_fee_tax_e4"]),
    "other_discount_e4": ("discount_amount_e4", ["item_discount_e4", "shipping_discount_e4"]),
}


def _utc(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values.astype("string"), utc=True, format="ISO8601")


# Removed from text: the C0 and C1 control characters (NUL, ESC, BEL, DEL, CSI...) that are not whitespace, and the
# Unicode bidirectional controls (Bidi_Control: U+061C, U+200E/F, U+202A-E, U+2066-9) that reorder what a reader
# sees. The patterns hold the characters themselves, not regex escapes (RE2, pyarrow's engine, has no \u), so they
# work the same in Python's re and in RE2.
REMOVED_CHARACTERS = ("\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f"
                      "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069")
# Replaced by one space per run: the line and paragraph breaks and tabs inside a value (TAB, LF, VT, FF, CR, NEL,
# U+2028, U+2029: the control characters Unicode counts as white space).
BREAK_CHARACTERS = "\t\n\x0b\x0c\r\x85\u2028\u2029"
UNSAFE_TEXT = f"[{REMOVED_CHARACTERS}{BREAK_CHARACTERS}]"  # any of them: identifiers must not hold one at all
_REMOVED = f"[{REMOVED_CHARACTERS}]+"
_BREAKS = f"[{BREAK_CHARACTERS}]+"


def clean_text(values: pd.Series) -> pd.Series:
    """Text as it may reach Commerce: control and bidi characters removed, line breaks and tabs inside the value
    one space each run, then stripped; empty is null. Vectorised (two regex passes), not per row."""
    text = values.astype("string").str.replace(_REMOVED, "", regex=True).str.replace(_BREAKS, " ", regex=True)
    return text.str.strip().replace("", pd.NA)


def _street(line1: pd.Series, line2: pd.Series) -> pd.Series:
    """Street lines 1 and 2, each cleaned, joined by a newline (ours, the only one kept); null when both are."""
    street = clean_text(line1).fillna("") + "\n" + clean_text(line2).fillna("")
    return street.str.strip("\n").replace("", pd.NA)


def _per_item(order_values: pd.Series, positions: pd.Series) -> pd.Series:
    """An order-level column repeated for each item (by the item's order position), keeping its dtype."""
    return pd.Series(order_values.reindex(positions).to_numpy(), index=positions.index, dtype=order_values.dtype)


def newest_versions(frame: pd.DataFrame, items: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The same order can arrive twice in a batch (overlapping pages, repeated pages): the newest version wins."""
    frame = (frame.sort_values(["amazon_order_id", "last_updated"]).drop_duplicates("amazon_order_id", keep="last")
             .reset_index(drop=True))
    items = items.merge(frame[["amazon_order_id", "last_updated"]], on=["amazon_order_id", "last_updated"])
    return frame, items.drop_duplicates(["amazon_order_id", "order_item_id"], keep="last").reset_index(drop=True)


def item_money(raw_items: pd.DataFrame) -> pd.DataFrame:
    """The item money columns (ITEM_MONEY, ITEM_MONEY_REST, proceeds_total_e4) of the handed-on items."""
    proceeds_total = money_e4(raw_items["proceeds_total"])
    no_proceeds = proceeds_total.isna()
    money = {name: sum(raw_items[f"proceeds.{slot}"].astype("Int64") for slot in slots)
             for name, slots in ITEM_MONEY.items()}
    for name, (total, parts) in ITEM_MONEY_REST.items():
        money[name] = money[total] - sum(money[part] for part in parts)
    money["proceeds_total_e4"] = proceeds_total
    return pd.DataFrame({name: values.mask(no_proceeds) for name, values in money.items()})


def cancelled_units(raw_items: pd.DataFrame, items: pd.DataFrame, order_canceled: pd.Series) -> pd.Series:
    """Units Amazon cancelled per item: of an executed item, quantityOrdered - quantityFulfilled -
    quantityUnfulfilled (validation checked they are whole and within the ordered quantity); of an item of a
    cancelled order, everything not shipped."""
    executed = items[["cancelled_by", "cancel_reason"]].notna().any(axis=1)
    unfulfilled = pd.to_numeric(raw_items["quantity_unfulfilled"], errors="coerce").fillna(0).astype("int64")
    left = items["qty_ordered"] - items["qty_shipped"]
    units = (left - unfulfilled).where(executed, 0)
    return units.where(~order_canceled, left).clip(lower=0).astype("int64")


def transform(raw: pd.DataFrame | None, raw_items: pd.DataFrame | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(channel orders, channel items), one row per Amazon order (newest version wins) and per order item."""
    if raw is None:
        raw = pd.DataFrame(columns=[*ORDER_COLUMNS, *DELIVERY_TIP_COLUMNS, "order_pos"], dtype="string")
    if raw_items is None:
        raw_items = pd.DataFrame(columns=[*ITEM_COLUMNS, *PROCEEDS_COLUMNS], dtype="string")
    raw = raw.set_index(raw["order_pos"].astype("int64").rename(None))
    item_pos = raw_items["order_pos"].astype("int64")
    frame = pd.DataFrame({
        "amazon_order_id": raw["order_id"].astype("string"),
        "marketplace_id": raw["marketplace_id"].astype("string"),
        "status": raw["status"].map(CHANNEL_STATUS).astype("string"),
        "fulfillment_channel": raw["fulfilled_by"].map(FULFILLMENT_CHANNEL).astype("string"),
        "purchase_date": _utc(raw["purchase_date"]),
        "last_updated": _utc(raw["last_updated"]),
        "latest_ship_date": _utc(raw["latest_ship_date"]),
        "deliver_by": _utc(raw["deliver_by"]),
        "buyer_email": clean_text(raw["buyer_email"]),
        "buyer_name": clean_text(raw["buyer_name"]),
        "buyer_company": clean_text(raw["buyer_company"]),
        "ship_name": clean_text(raw["ship_name"]),
        "ship_street": _street(raw["ship_line1"], raw["ship_line2"]),
        "ship_city": clean_text(raw["ship_city"]),
        "ship_region": clean_text(raw["ship_region"]),
        "ship_postcode": clean_text(raw["ship_postcode"]),
        "ship_country": clean_text(raw["ship_country"]),
        "ship_phone": clean_text(raw["ship_phone"]),
        "grand_total_e4": money_e4(raw["grand_total"]),
        "currency": raw["currency"].astype("string"),
        "purchase_order_number": clean_text(raw["purchase_order_number"]),
        "buyer_tax_registration": clean_text(raw["buyer_tax_registration"]),
        "delivery_tip_status": clean_text(raw["proceeds.DELIVERY_TIP.status"]),
    }, index=raw.index)
    # A delivery tip is 0 when the order has proceeds but no tip, null when it has none (not priced yet).
    frame["delivery_tip_e4"] = (raw["proceeds.DELIVERY_TIP"].astype("Int64").fillna(0)
                                .mask(frame["grand_total_e4"].isna()))
    programs = raw["programs"].astype("string").fillna("")
    frame["is_prime"] = programs.str.contains("PRIME", regex=False)
    frame["is_business"] = programs.str.contains("AMAZON_BUSINESS", regex=False)
    frame["amazon_package_refs"] = clean_text(raw["package_refs"])

    items = pd.DataFrame({
        "amazon_order_id": _per_item(frame["amazon_order_id"], item_pos),
        "last_updated": _per_item(frame["last_updated"], item_pos),
        "order_item_id": raw_items["order_item_id"].astype("string"),
        "sku": clean_text(raw_items["sku"]),
        "title": clean_text(raw_items["title"]),
        "qty_ordered": pd.to_numeric(raw_items["quantity"]).astype("int64"),
        "qty_shipped": pd.to_numeric(raw_items["quantity_shipped"]).fillna(0).astype("int64"),
        "unit_price_e4": money_e4(raw_items["unit_price"]),
        "gift_message": clean_text(raw_items["gift_message"]),
        "promotion_ids": clean_text(raw_items["promotion_ids"]),
        "tax_collection_model": clean_text(raw_items["tax_collection_model"]),
        "tax_reporting_scheme": clean_text(raw_items["tax_reporting_scheme"]),
        "cancel_requested_by": raw_items["cancel_requested_by"].astype("string"),
        "cancel_request_reason": clean_text(raw_items["cancel_request_reason"]),
        "cancelled_by": raw_items["cancelled_by"].astype("string"),
        "cancel_reason": clean_text(raw_items["cancel_reason"]),
    })
    items = pd.concat([items, item_money(raw_items)], axis=1)
    # FBA orders are shipped by Amazon as a whole once Shipped.
    fba_shipped = _per_item((frame["status"].eq("Shipped") & frame["fulfillment_channel"].eq("AFN")).astype(bool),
                            item_pos)
    items.loc[fba_shipped, "qty_shipped"] = items.loc[fba_shipped, "qty_ordered"]
    order_canceled = _per_item(frame["status"].eq("Canceled").astype(bool), item_pos)
    items["qty_canceled"] = cancelled_units(raw_items, items, order_canceled)
    # Open: asked and not executed, in an order Amazon has not cancelled (its request is closed).
    open_request = (items[["cancel_requested_by", "cancel_request_reason"]].notna().any(axis=1)
                    & items[["cancelled_by", "cancel_reason"]].isna().all(axis=1) & ~order_canceled)

    frame, items = newest_versions(frame, items.assign(open_request=open_request))

    per_order = items.assign(unpriced=items["item_amount_e4"].isna()).groupby("amazon_order_id").agg(
        subtotal_e4=("item_amount_e4", "sum"), unpriced=("unpriced", "any"),
        items_unshipped=("qty_ordered", "sum"), shipped=("qty_shipped", "sum"), canceled=("qty_canceled", "sum"))
    frame = frame.merge(per_order, left_on="amazon_order_id", right_index=True, how="left")
    frame["items_unshipped"] = (frame["items_unshipped"] - frame["shipped"] - frame["canceled"]).clip(lower=0
                                                                                                       ).astype("int64")
    frame["subtotal_e4"] = frame["subtotal_e4"].astype("Int64").mask(frame["unpriced"].astype(bool))
    frame = frame.drop(columns=["shipped", "canceled", "unpriced"])
    requests = items[items["open_request"]]
    frame["cancel_requested"] = frame["amazon_order_id"].isin(requests["amazon_order_id"])
    reasons = requests.dropna(subset=["cancel_request_reason"]).drop_duplicates(
        ["amazon_order_id", "cancel_request_reason"]).groupby("amazon_order_id")["cancel_request_reason"].agg("; ".join)
    frame["cancel_request_reason"] = frame["amazon_order_id"].map(reasons).astype("string").str.slice(0, 255)
    items = items.drop(columns="open_request")

    frame["commerce_state"] = commerce_state(frame["status"], frame["fulfillment_channel"])
    frame["firstname"], frame["lastname"], frame["order_email"] = buyer_identity(frame)
    frame["name_is_placeholder"] = frame["buyer_name"].isna() & frame["ship_name"].isna()
    frame["email_is_placeholder"] = frame["buyer_email"].isna()
    frame["address_is_placeholder"] = frame["ship_street"].isna()
    return frame.reset_index(drop=True), items
