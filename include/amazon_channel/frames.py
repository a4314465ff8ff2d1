"""Amazon orders (v2026-01-01 JSON) as flat frames of the values Amazon sent, decoded once per run.

Orders and items are two flat text frames; validation checks these raw values and hands the valid rows on as
Parquet; the transform parses them. Each order row keeps its position in the batch (`order_pos` on items) so that
item failures and quarantine rows point back to the whole order, whose raw JSON is decoded again only if it has to
be quarantined.

Money (money.md): the proceeds breakdowns are lists (per item, with detailed breakdowns for TAX and DISCOUNT; per
order, with DELIVERY_TIP) and do not fit flat columns. They are kept as sent (raw JSON, a view into the staged
page) and read only for the orders validation checks (`OrderBatch.proceeds`), into a long frame of one row per
amount, parsed once into exact integer ten-thousandths: validation sums them to check that they add up, and the
hand-off (`rows`) passes the same sums on to the transform as one column per category (`PROCEEDS_COLUMNS`). Orders
skipped as unchanged never have their money read; a batch holds no Python object per amount.

Decoding: a staged page is decoded straight into typed structs holding only the fields we use (msgspec, several
times faster than building dicts and walking them). A page that does not fit those shapes (a field that should be
an object is not, a number where text belongs...) is decoded as plain JSON and flattened by walking each order, so
a malformed order is still read as far as it goes and then quarantined with its reasons, never lost. The lists
read for money are converted to the same structs on both paths: one that does not fit is a structural problem of
its order, with msgspec's account of where (money is never read half-way).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain, repeat
from operator import attrgetter, length_hint

import msgspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .rules import CURRENCY_DECIMALS

# ASCII digits only (\d would take any script's digits); matched whole (fullmatch: "$" alone would let a trailing
# newline through in Python's re).
ORDER_ID = r"^[0-9]{3}-[0-9]{7}-[0-9]{7}$"
ORDER_ID_PATTERN = re.compile(ORDER_ID)


def is_order_id(value) -> bool:
    """Whether `value` is a well-formed Amazon order id (safe to use as a key and to store as is)."""
    return isinstance(value, str) and ORDER_ID_PATTERN.fullmatch(value) is not None


ORDER_FIELDS = {
    "order_id": "orderId", "purchase_date": "createdTime", "last_updated": "lastUpdatedTime",
    "marketplace_id": "salesChannel.marketplaceId", "status": "fulfillment.fulfillmentStatus",
    "fulfilled_by": "fulfillment.fulfilledBy", "latest_ship_date": "fulfillment.shipByWindow.latestDateTime",
    "deliver_by": "fulfillment.deliverByWindow.latestDateTime",
    "grand_total": "proceeds.grandTotal.amount", "currency": "proceeds.grandTotal.currencyCode",
    "buyer_email": "buyer.buyerEmail", "buyer_name": "buyer.buyerName", "buyer_company": "buyer.buyerCompanyName",
    "purchase_order_number": "buyer.buyerPurchaseOrderNumber",
    "ship_name": "recipient.deliveryAddress.name", "ship_line1": "recipient.deliveryAddress.addressLine1",
    "ship_line2": "recipient.deliveryAddress.addressLine2", "ship_city": "recipient.deliveryAddress.city",
    "ship_region": "recipient.deliveryAddress.stateOrRegion", "ship_postcode": "recipient.deliveryAddress.postalCode",
    "ship_country": "recipient.deliveryAddress.countryCode", "ship_phone": "recipient.deliveryAddress.phone",
}
ITEM_FIELDS = {
    "order_item_id": "orderItemId", "sku": "product.sellerSku", "title": "product.title",
    "quantity": "quantityOrdered", "unit_price": "product.price.unitPrice.amount",
    "item_currency": "product.price.unitPrice.currencyCode", "quantity_shipped": "fulfillment.quantityFulfilled",
    "gift_message": "fulfillment.packing.giftOption.giftMessage",
    "proceeds_total": "proceeds.proceedsTotal.amount", "proceeds_currency": "proceeds.proceedsTotal.currencyCode",
    "quantity_unfulfilled": "fulfillment.quantityUnfulfilled",
    # CANCELLATION: who asked and why (an open request when there is no execution), who cancelled and why.
    "cancel_requested_by": "cancellation.cancellationRequest.requester",
    "cancel_request_reason": "cancellation.cancellationRequest.cancelReason",
    "cancelled_by": "cancellation.cancellationExecution.cancelledBy",
    "cancel_reason": "cancellation.cancellationExecution.cancelReason",
}
# Objects whose loss would lose a cancellation: one that is not an object (null: absent) makes its order malformed
# instead of reading as "no cancellation".
ITEM_OBJECTS = ("cancellation", "cancellation.cancellationRequest", "cancellation.cancellationExecution")
# Lists flattened to one text value: the order's programs, the packageReferenceIds Amazon lists for it, and its
# buyer's tax registration ("VAT DE123456789"); per item its promotion ids, tax collection models and reporting
# schemes (each distinct value once).
LIST_COLUMNS = ("programs", "package_refs", "buyer_tax_registration")
ITEM_LIST_COLUMNS = ("promotion_ids", "tax_collection_model", "tax_reporting_scheme")
ORDER_COLUMNS = [*ORDER_FIELDS, *LIST_COLUMNS]
ITEM_TEXT_COLUMNS = [*ITEM_FIELDS, *ITEM_LIST_COLUMNS]
ITEM_COLUMNS = [*ITEM_TEXT_COLUMNS, "order_pos"]

# ---- Amazon's proceeds categories (OrderProceedsBreakdown, ItemProceedsBreakdown, ItemProceedsDetailedBreakdown) --

ITEM_CATEGORIES = ("ITEM", "SHIPPING", "GIFT_WRAP", "COD_FEE", "OTHER", "TAX", "DISCOUNT")
ORDER_CATEGORIES = (*ITEM_CATEGORIES, "DELIVERY_TIP")  # a delivery tip is charged per order, never per item
SUBTYPES = ("ITEM", "SHIPPING", "GIFT_WRAP", "COD_FEE", "OTHER", "DISCOUNT")  # what a TAX or DISCOUNT applies to
# Codes in the frames of amounts (Proceeds); -1 for anything else.
CATEGORY_CODES = {c: i for i, c in enumerate(ITEM_CATEGORIES)}
ORDER_CATEGORY_CODES = {c: i for i, c in enumerate(ORDER_CATEGORIES)}  # the item categories keep their codes
TIP_CODE = ORDER_CATEGORY_CODES["DELIVERY_TIP"]
SUBTYPE_CODES = {s: i for i, s in enumerate(SUBTYPES)}
CURRENCY_CODES = {c: i for i, c in enumerate(CURRENCY_DECIMALS)}
# The hand-off to the transform, per item: exact int64 sums (ten-thousandths) of its breakdowns per category
# ("proceeds.TAX"), of the detailed breakdowns (Amazon details TAX and DISCOUNT) of the subtypes Commerce has columns
# for (money.md; the rest of a category is its total less these) per category and subtype ("proceeds.TAX.SHIPPING"),
# and of the subtotals that came without detailed breakdowns ("proceeds.TAX.undetailed"); per order, its delivery
# tip and the tip's status.
HANDED_SUBTYPES = {"TAX": ("ITEM", "SHIPPING", "GIFT_WRAP", "COD_FEE"), "DISCOUNT": ("ITEM", "SHIPPING")}
UNDETAILED = "undetailed"  # a TAX or DISCOUNT Amazon sent without detailed breakdowns
PROCEEDS_SLOTS = [*ITEM_CATEGORIES, *(f"{c}.{s}" for c, subtypes in HANDED_SUBTYPES.items()
                                      for s in (*subtypes, UNDETAILED))]
PROCEEDS_COLUMNS = [f"proceeds.{slot}" for slot in PROCEEDS_SLOTS]
# The slot of a detailed breakdown by (category code, subtype code), and of an undetailed subtotal by category
# code; -1: not handed on.
DETAILED_SLOT = np.full((len(ITEM_CATEGORIES), len(SUBTYPES)), -1)
UNDETAILED_SLOT = np.full(len(ITEM_CATEGORIES), -1)
for _category, _subtypes in HANDED_SUBTYPES.items():
    UNDETAILED_SLOT[CATEGORY_CODES[_category]] = PROCEEDS_SLOTS.index(f"{_category}.{UNDETAILED}")
    for _subtype in _subtypes:
        DETAILED_SLOT[CATEGORY_CODES[_category], SUBTYPE_CODES[_subtype]] = PROCEEDS_SLOTS.index(
            f"{_category}.{_subtype}")
DELIVERY_TIP_COLUMNS = ["proceeds.DELIVERY_TIP", "proceeds.DELIVERY_TIP.status"]

# Amazon writes amounts as decimal strings (the model's Decimal): an optional minus (DISCOUNT is negative), at most
# 14 digits before the point (so that ten-thousandths fit an int64) and 1 to 4 after it (Commerce keeps 4).
AMOUNT = r"^-?[0-9]{1,14}(?:\.[0-9]{1,4})?$"
EXACT_AMOUNT = pa.decimal128(18, 4)  # holds every AMOUNT exactly


def money_e4(amounts: pd.Series) -> pd.Series:
    """'12.5' -> 125000, '-3.25' -> -32500: exact nullable Int64 ten-thousandths; null where the value is missing
    or not such a decimal. Vectorised in Arrow (RE2 and integer casts: no float, no per-row Python)."""
    return pd.Series(_e4(arrow_text(amounts)), index=amounts.index)


def arrow_text(values: pd.Series) -> pa.Array:
    """The values as Arrow text, nulls kept: Python strings go straight into Arrow; anything else (a number, a flag
    where text belongs) becomes pandas' text of it ("2" for 2)."""
    if isinstance(values.dtype, pd.StringDtype) and values.dtype.storage == "pyarrow":
        return pa.array(values.array, type=pa.large_string())
    try:
        return pa.array(values.to_numpy(object), type=pa.large_string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array(values.astype("string").array, type=pa.large_string())


def _e4(text: pa.Array) -> pd.api.extensions.ExtensionArray:
    """AMOUNT text as Int64 ten-thousandths: Arrow casts what the pattern lets through to an exact decimal."""
    amounts = pc.if_else(pc.match_substring_regex(text, AMOUNT), text, pa.scalar(None, text.type))
    value = pc.cast(pc.multiply(pc.cast(amounts, EXACT_AMOUNT), pa.scalar(10_000, pa.decimal128(5, 0))), pa.int64())
    return pd.array(value.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get), dtype="Int64")


def lookup(values: list, table: dict[str, int]) -> np.ndarray:
    """`table[value]` for each value (JSON scalars), -1 where the value is not a key (unknown, null, not text).
    One C-level pass (map of dict.get): no Python per row."""
    return np.fromiter(map(table.get, values, repeat(-1)), np.int64, len(values))


# ---- the typed fast path: only the fields we read; anything else in the JSON is skipped ----------------------

Scalar = str | int | float | bool | None  # any JSON value but an object or array, kept as sent


def _struct(name: str, paths: list[str], typed: dict[str, object] | None = None) -> type[msgspec.Struct]:
    """A msgspec struct that reads exactly these dotted paths as scalars (a missing level reads as empty), and the
    dotted paths of `typed` as the given types (None when missing; raw JSON: null)."""
    leaves = [(path, Scalar) for path in paths] + list((typed or {}).items())
    tree: dict = {}
    for path, kind in leaves:
        *parents, leaf = path.split(".")
        node = tree
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = kind

    def build(struct_name: str, node: dict) -> type[msgspec.Struct]:
        fields = []
        for key, child in node.items():
            if isinstance(child, dict):
                nested = build(struct_name + key[0].upper() + key[1:], child)
                fields.append((key, nested, msgspec.field(default_factory=nested)))
            elif child is msgspec.Raw:  # missing reads as JSON null (msgspec takes no union with Raw)
                fields.append((key, child, msgspec.field(default_factory=lambda: msgspec.Raw(b"null"))))
            else:
                fields.append((key, child, None))
        # gc=False: these structs hold only JSON values and other such structs, so they can never form a reference
        # cycle; leaving them out of the cyclic collector makes decoding cheaper.
        return msgspec.defstruct(struct_name, fields, gc=False)

    return build(name, tree)


_Detailed = _struct("DetailedBreakdown", ["subtype", "value.amount", "value.currencyCode"])
_ItemBreakdown = _struct("ItemBreakdown", ["type", "subtotal.amount", "subtotal.currencyCode"],
                         {"detailedBreakdowns": list[_Detailed] | None})
_OrderBreakdown = _struct("OrderBreakdown", ["type", "status", "subtotal.amount", "subtotal.currencyCode"])
# Lists read as the pages are decoded (their text columns), by dotted path: one that is not a list of such objects
# makes its order malformed.
ITEM_LISTS = {
    "promotion.breakdowns": _struct("Promotion", ["promotionId"]),
    "tax.taxCollections": _struct("TaxCollection", ["model"]),
    "tax.taxCalculationBreakdowns": _struct("TaxCalculation", ["reportingScheme"]),
}
ORDER_LISTS = {
    "tax.taxRegistrations": _struct("TaxRegistration", ["entityType", "taxRegistrationType", "taxRegistrationNumber"]),
}
# The proceeds breakdowns: kept as raw JSON and read on demand (OrderBatch.proceeds), as lists of these.
BREAKDOWNS = "proceeds.breakdowns"
ITEM_BREAKDOWNS, ORDER_BREAKDOWNS = list[_ItemBreakdown], list[_OrderBreakdown]
_Item = _struct("Item", list(ITEM_FIELDS.values()),
                {BREAKDOWNS: msgspec.Raw, **{path: list[kind] | None for path, kind in ITEM_LISTS.items()}})
_Package = _struct("Package", ["packageReferenceId"])
_Order = _struct("Order", list(ORDER_FIELDS.values()),
                 {"programs": list[Scalar] | None, "packages": list[_Package] | None, "orderItems": list[_Item] | None,
                  BREAKDOWNS: msgspec.Raw, **{path: list[kind] | None for path, kind in ORDER_LISTS.items()}})
_PAGE = msgspec.json.Decoder(msgspec.defstruct("Page", [("orders", list[_Order])]))
ORDER_ATTRS = {name: attrgetter(path) for name, path in ORDER_FIELDS.items()}
ITEM_ATTRS = {name: attrgetter(path) for name, path in ITEM_FIELDS.items()}
ITEM_LIST_ATTRS = {path: attrgetter(path) for path in [*ITEM_LISTS, BREAKDOWNS]}
ORDER_LIST_ATTRS = {path: attrgetter(path) for path in [*ORDER_LISTS, BREAKDOWNS]}


# ---- the plain path: walk decoded JSON, tolerating any shape -----------------------------------------------------

def _getter(path: str):
    """Reads a dotted path; None where a level is missing or not an object, or where the value is an object."""
    keys = path.split(".")

    def get(obj):
        for key in keys:
            if not isinstance(obj, dict):
                return None
            obj = obj.get(key)
        return None if isinstance(obj, dict) else obj

    return get


def _value_getter(path: str):
    """Reads a dotted path as it is (an object too); None where a level on the way is missing or not an object."""
    keys = path.split(".")

    def get(obj):
        for key in keys:
            if not isinstance(obj, dict):
                return None
            obj = obj.get(key)
        return obj

    return get


ORDER_GETTERS = {name: _getter(path) for name, path in ORDER_FIELDS.items()}
ITEM_GETTERS = {name: _getter(path) for name, path in ITEM_FIELDS.items()}
ITEM_LIST_GETTERS = {path: (_value_getter(path), list[kind]) for path, kind in ITEM_LISTS.items()}
ORDER_LIST_GETTERS = {path: (_value_getter(path), list[kind]) for path, kind in ORDER_LISTS.items()}
BREAKDOWNS_GETTER = _value_getter(BREAKDOWNS)
ITEM_OBJECT_GETTERS = {path: _value_getter(path) for path in ITEM_OBJECTS}


def _joined(values) -> str | None:
    """A JSON list of text as one comma-separated value (None when it is not a list or holds no text)."""
    if not isinstance(values, list):
        return None
    texts = [v for v in values if isinstance(v, str)]
    return ",".join(texts) if texts else None


def _distinct(values: list) -> str | None:
    """The text among `values`, each distinct value once in first-seen order, comma-separated (None when none)."""
    texts = dict.fromkeys(v for v in values if isinstance(v, str))
    return ",".join(texts) if texts else None


def _texts(lists: list, get) -> list[str | None]:
    """Per list of structs (None: none), `_distinct` of the value `get` reads from each; one struct, the usual
    case, is read directly."""
    return [None if not structs else
            (text if len(structs) == 1 and isinstance(text := get(structs[0]), str) else
             _distinct(list(map(get, structs))))
            for structs in lists]


def _buyer_registration(registrations) -> str | None:
    """The first BUYER tax registration as "<type> <number>" (e.g. "VAT DE123456789"); None when there is none."""
    for registration in registrations or ():
        if registration.entityType == "BUYER":
            parts = (registration.taxRegistrationType, registration.taxRegistrationNumber)
            return " ".join(p for p in parts if isinstance(p, str)) or None
    return None


def _list_columns(item_lists: dict[str, list], order_lists: dict[str, list]) -> tuple[dict, dict]:
    """The text columns read from ITEM_LISTS and ORDER_LISTS (the same structs on both paths): (orders, items)."""
    items = {
        "promotion_ids": _texts(item_lists["promotion.breakdowns"], attrgetter("promotionId")),
        "tax_collection_model": _texts(item_lists["tax.taxCollections"], attrgetter("model")),
        "tax_reporting_scheme": _texts(item_lists["tax.taxCalculationBreakdowns"], attrgetter("reportingScheme")),
    }
    orders = {"buyer_tax_registration": list(map(_buyer_registration, order_lists["tax.taxRegistrations"]))}
    return orders, items


def structure_problems(order) -> list[str]:
    if not isinstance(order, dict):
        return ["order: not a JSON object"]
    items = order.get("orderItems")
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        return ["orderItems: not a list of objects"]
    return [f"orderItems[{index}].{path}: not an object" for index, item in enumerate(items)
            for path, get in ITEM_OBJECT_GETTERS.items() if not isinstance(get(item), dict | None)]


def _converted(obj, getters: dict, where: str, problems: list[str]) -> dict[str, list | None]:
    """The ITEM_LISTS or ORDER_LISTS of one decoded item or order as structs, by path, and its proceeds breakdowns
    as decoded (read on demand); a list that does not fit its shape is recorded in `problems` (msgspec says
    where) and read as missing."""
    lists = {BREAKDOWNS: BREAKDOWNS_GETTER(obj)}
    for path, (get, kind) in getters.items():
        value = get(obj)
        try:
            lists[path] = None if value is None else msgspec.convert(value, kind)
        except msgspec.ValidationError as exc:
            problems.append(f"{where}{path}: {exc}")
            lists[path] = None
    return lists


def _typed(values: list, kind) -> tuple[list, dict[int, str]]:
    """Lists as kept (raw JSON from the typed path, decoded JSON from the tolerant one; null or None when missing)
    as lists of structs (`kind`), None where missing: raw JSON all in one decode. One that does not fit is None,
    with msgspec's account of where by its index."""
    if all(map(isinstance, values, repeat(msgspec.Raw))):  # typed pages only, the usual case
        try:
            return msgspec.json.decode(b"[" + b",".join(values) + b"]", type=list[kind | None]), {}
        except msgspec.ValidationError:
            pass  # some list does not fit: read them one by one to find which
    typed, problems = [], {}
    for index, value in enumerate(values):
        try:
            typed.append(msgspec.json.decode(value, type=kind | None) if isinstance(value, msgspec.Raw)
                         else msgspec.convert(value, kind | None))
        except msgspec.ValidationError as exc:
            typed.append(None)
            problems[index] = str(exc)
    return typed, problems


# ---- a batch of orders ----------------------------------------------------------------------------------------

READ_SLICE = 5_000  # orders whose breakdowns are decoded at once (see OrderBatch.proceeds)


@dataclass
class Proceeds:
    """Every amount in the proceeds of some orders, one row each: its category and currency as codes (-1: not one
    we know, or missing) and its value parsed (`e4`: exact ten-thousandths, null where missing or not a decimal).

    items: `line` (the item's row in the batch's items), `part` (the breakdown's place in the item's list),
    `category` (CATEGORY_CODES), `subtype` (SUBTYPE_CODES; detailed rows only), `detailed`, `currency`
    (CURRENCY_CODES), `e4`: a breakdown's subtotal is one row, each of its detailed breakdowns another.
    orders: `order_pos`, `category` (ORDER_CATEGORY_CODES), `status` (as sent), `currency`, `e4`.
    unknown: by order position, the categories it uses that Amazon's model does not know, named ("FOO" on an
    item, "TAX.FOO" for a detailed breakdown's subtype, "order FOO" at order level)."""

    items: pd.DataFrame
    orders: pd.DataFrame
    unknown: dict[int, str]


@dataclass
class OrderBatch:
    """Orders as flat frames (row i of `orders` is order i of the batch; items carry `order_pos`), their structural
    problems by position, their proceeds breakdowns as kept (read on demand, see `proceeds`), and a way back to
    each order's JSON as Amazon sent it."""

    orders: pd.DataFrame
    items: pd.DataFrame
    problems: dict[int, list[str]] = field(default_factory=dict)
    # Per row of `items`, per order: its proceeds breakdowns as raw JSON (typed path) or decoded JSON (tolerant
    # path), or None.
    item_breakdowns: list = field(default_factory=list, repr=False)
    order_breakdowns: list = field(default_factory=list, repr=False)
    _sources: list[tuple[int, bytes | list]] = field(default_factory=list, repr=False)  # (first position, page)
    _read: tuple[frozenset[int], Proceeds] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.orders)

    def proceeds(self, positions: list[int]) -> Proceeds:
        """The amounts of the orders at `positions`. Validation reads the orders it checks; the hand-off then asks
        for the valid ones among them, which are filtered from that, not read and parsed again. Reading finds
        breakdowns that do not fit Amazon's shape: their orders get a structural problem (see `problems`)."""
        if self._read is not None and self._read[0].issuperset(positions):
            read, proceeds = self._read
            if len(read) == len(positions):
                return proceeds
            lines = self.items.index[self.items["order_pos"].isin(positions)]
            wanted = set(positions)
            return Proceeds(proceeds.items[proceeds.items["line"].isin(lines)],
                            proceeds.orders[proceeds.orders["order_pos"].isin(positions)],
                            {pos: names for pos, names in proceeds.unknown.items() if pos in wanted})
        # In slices: the structs of a slice are all there is in memory at once, not those of the whole batch.
        unknown: dict[int, set[str]] = {}
        parts = [self._read_proceeds(positions[i:i + READ_SLICE], unknown)
                 for i in range(0, len(positions), READ_SLICE)] or [self._read_proceeds([], unknown)]
        proceeds = Proceeds(pd.concat([items for items, _ in parts], ignore_index=True),
                            pd.concat([orders for _, orders in parts], ignore_index=True),
                            {pos: ", ".join(sorted(names)) for pos, names in unknown.items()})
        self._read = (frozenset(positions), proceeds)
        return proceeds

    def _read_proceeds(self, positions: list[int], unknown: dict[int, set[str]]
                       ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Proceeds.items and .orders of the orders at `positions`, read from the kept breakdowns; the names of
        unknown categories are added to `unknown`."""
        order_pos = self.items["order_pos"].to_numpy()
        lines = np.flatnonzero(np.isin(order_pos, positions))
        item_lists, item_problems = _typed(list(map(self.item_breakdowns.__getitem__, lines.tolist())),
                                           ITEM_BREAKDOWNS)
        order_lists, order_problems = _typed(list(map(self.order_breakdowns.__getitem__, positions)), ORDER_BREAKDOWNS)
        first_line = np.searchsorted(order_pos, order_pos)  # of each item's order: items come in order
        for index, why in item_problems.items():
            line = int(lines[index])
            self.problems.setdefault(int(order_pos[line]), []).append(
                f"orderItems[{line - first_line[line]}].{BREAKDOWNS}: {why}")
        for index, why in order_problems.items():
            self.problems.setdefault(positions[index], []).append(f"{BREAKDOWNS}: {why}")
        return (_item_amounts(item_lists, lines, order_pos[lines], unknown),
                _order_amounts(order_lists, positions, unknown))

    def rows(self, positions: list[int], offset: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The orders at `positions` and their items, numbered `order_pos` from `offset` on (so that the batches of
        one run never share a number): the typed hand-off to the transform. Values as sent are text; the proceeds
        go as exact sums per category (PROCEEDS_COLUMNS, DELIVERY_TIP_COLUMNS), as validation checked them."""
        proceeds = self.proceeds(positions)
        tips = delivery_tips(proceeds.orders, positions)
        orders = self.orders.iloc[positions].assign(order_pos=[offset + p for p in positions],
                                                     **{c: tips[c].array for c in DELIVERY_TIP_COLUMNS})
        items = self.items[self.items["order_pos"].isin(positions)]
        sums = category_sums(proceeds.items, items.index.to_numpy())
        items = pd.concat([items.assign(order_pos=items["order_pos"] + offset), sums], axis=1)
        return (as_text(orders, [*ORDER_COLUMNS, DELIVERY_TIP_COLUMNS[1]]).reset_index(drop=True),
                as_text(items, ITEM_TEXT_COLUMNS).reset_index(drop=True))

    def raw(self, position: int):
        """Order `position` as decoded JSON (for the quarantine's payload)."""
        for index in range(len(self._sources) - 1, -1, -1):
            first, source = self._sources[index]
            if position >= first:
                if not isinstance(source, list):  # decoded once, for the page's first order to quarantine
                    source = msgspec.json.decode(source)["orders"]
                    self._sources[index] = (first, source)
                return source[position - first]
        raise IndexError(position)

    def quarantine_keys(self) -> list[str]:
        """Each order's key in the quarantine: its Amazon order id, or a hash of its JSON when the id is unusable."""
        ids = self.orders["order_id"].tolist()
        return [i if is_order_id(i) else quarantine_key(self.raw(p))
                for p, i in enumerate(ids)]


def quarantine_key(order) -> str:
    order_id = order.get("orderId") if isinstance(order, dict) else None
    if is_order_id(order_id):
        return order_id
    return "sha256:" + hashlib.sha256(json.dumps(order, sort_keys=True, default=str).encode()).hexdigest()[:56]


_TYPE, _STATUS, _SUBTYPE, _DETAILS = map(attrgetter, ("type", "status", "subtype", "detailedBreakdowns"))
_SUBTOTAL_CURRENCY, _SUBTOTAL_AMOUNT = attrgetter("subtotal.currencyCode"), attrgetter("subtotal.amount")
_VALUE_CURRENCY, _VALUE_AMOUNT = attrgetter("value.currencyCode"), attrgetter("value.amount")


def _flatten(lists: list) -> tuple[list, np.ndarray]:
    """The elements of `lists` (None: no elements) in order, and for each the index of its list (C-level passes:
    length_hint counts None as 0)."""
    counts = np.fromiter(map(length_hint, lists), np.int64, len(lists))
    return list(chain.from_iterable(filter(None, lists))), np.repeat(np.arange(len(lists)), counts)


def _amounts_e4(amounts: list) -> pd.api.extensions.ExtensionArray:
    try:  # amounts are text: straight into Arrow
        text = pa.array(amounts, type=pa.large_string())
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # a number or a flag where text belongs: parsed as its text
        text = pa.array(pd.Series(amounts, dtype=object).astype("string"), type=pa.large_string())
    return _e4(text)


def _name(value) -> str:
    return "(missing)" if value is None else str(value)


def _item_amounts(breakdowns: list, lines: np.ndarray, order_of_line: np.ndarray,
                  unknown: dict[int, set[str]]) -> pd.DataFrame:
    """Proceeds.items from the items' breakdowns (`breakdowns[i]` those of the item at `lines[i]`, whose order is
    at `order_of_line[i]`), columns read with C-level getters (map) as the flat frames are; names of unknown
    categories added to `unknown` (few: Python for those alone)."""
    subtotals, owner = _flatten(breakdowns)
    details, parent = _flatten(list(map(_DETAILS, subtotals)))
    line = lines[owner]
    part = np.arange(len(subtotals)) - np.searchsorted(owner, owner)  # owner is sorted: its first row's index
    types, subtypes = list(map(_TYPE, subtotals)), list(map(_SUBTYPE, details))
    category, subtype = lookup(types, CATEGORY_CODES), lookup(subtypes, SUBTYPE_CODES)
    for i in np.flatnonzero(category < 0).tolist():
        unknown.setdefault(int(order_of_line[owner[i]]), set()).add(_name(types[i]))
    for i in np.flatnonzero(subtype < 0).tolist():
        unknown.setdefault(int(order_of_line[owner[parent[i]]]), set()).add(
            f"{_name(types[parent[i]])}.{_name(subtypes[i])}")
    return pd.DataFrame({
        "line": np.concatenate([line, line[parent]]),
        "part": np.concatenate([part, part[parent]]),
        "category": np.concatenate([category, category[parent]]),
        "subtype": np.concatenate([np.full(len(subtotals), -1), subtype]),
        "detailed": np.repeat([False, True], [len(subtotals), len(details)]),
        "currency": lookup([*map(_SUBTOTAL_CURRENCY, subtotals), *map(_VALUE_CURRENCY, details)], CURRENCY_CODES),
        "e4": _amounts_e4([*map(_SUBTOTAL_AMOUNT, subtotals), *map(_VALUE_AMOUNT, details)]),
    })


def _order_amounts(breakdowns: list, positions: list[int], unknown: dict[int, set[str]]) -> pd.DataFrame:
    """Proceeds.orders from the orders' breakdowns (`breakdowns[i]` those of the order at `positions[i]`)."""
    breakdowns, owner = _flatten(breakdowns)
    order_pos = np.asarray(positions, np.int64)[owner]
    types = list(map(_TYPE, breakdowns))
    category = lookup(types, ORDER_CATEGORY_CODES)
    for i in np.flatnonzero(category < 0).tolist():
        unknown.setdefault(int(order_pos[i]), set()).add(f"order {_name(types[i])}")
    return pd.DataFrame({
        "order_pos": order_pos,
        "category": category,
        "status": np.array(list(map(_STATUS, breakdowns)), dtype=object),
        "currency": lookup(list(map(_SUBTOTAL_CURRENCY, breakdowns)), CURRENCY_CODES),
        "e4": _amounts_e4(list(map(_SUBTOTAL_AMOUNT, breakdowns))),
    })


def breakdown_ids(amounts: pd.DataFrame) -> np.ndarray:
    """A number per item breakdown (its subtotal row and its detailed rows share it)."""
    parts = int(amounts["part"].max()) + 1 if len(amounts) else 1
    return amounts["line"].to_numpy() * parts + amounts["part"].to_numpy()


def category_sums(amounts: pd.DataFrame, lines: np.ndarray) -> pd.DataFrame:
    """PROCEEDS_COLUMNS for the items at `lines` (sorted rows of the batch's items; `amounts` holds theirs): exact
    int64 sums, 0 where an item has no such amount. Vectorised (integer scatter-adds, no per-row Python). Unknown
    categories and amounts that are not decimals count nothing: validation quarantines their orders."""
    kind, subtype = amounts["category"].to_numpy(), amounts["subtype"].to_numpy()
    detailed, known = amounts["detailed"].to_numpy(bool), kind >= 0
    slot = np.where(~detailed & known, kind, -1)
    in_table = detailed & known & (subtype >= 0)
    slot[in_table] = DETAILED_SLOT[kind[in_table], subtype[in_table]]
    ids = breakdown_ids(amounts)
    undetailed = ~detailed & known & ~np.isin(ids, ids[detailed])
    undetailed_slot = np.where(undetailed, UNDETAILED_SLOT[np.where(known, kind, 0)], -1)
    e4 = amounts["e4"].to_numpy(np.int64, na_value=0)
    row = np.searchsorted(lines, amounts["line"].to_numpy())
    sums = np.zeros((len(lines), len(PROCEEDS_SLOTS)), np.int64)
    for slots in (slot, undetailed_slot):
        taken = slots >= 0
        np.add.at(sums, (row[taken], slots[taken]), e4[taken])
    return pd.DataFrame(sums, index=lines, columns=PROCEEDS_COLUMNS)


def delivery_tips(amounts: pd.DataFrame, positions: list[int]) -> pd.DataFrame:
    """DELIVERY_TIP_COLUMNS for the orders at `positions` (`amounts` holds their order-level breakdowns): the tip's
    exact Int64 sum (null without one) and its status (the first sent)."""
    tips = amounts[amounts["category"].to_numpy() == TIP_CODE]
    by_order = tips.groupby("order_pos")
    return pd.DataFrame({DELIVERY_TIP_COLUMNS[0]: by_order["e4"].sum(),
                         DELIVERY_TIP_COLUMNS[1]: by_order["status"].first()}).reindex(positions)


# ---- decoding ---------------------------------------------------------------------------------------------------

@dataclass
class _Decoded:
    orders: pd.DataFrame
    items: pd.DataFrame
    problems: dict[int, list[str]]
    item_breakdowns: list
    order_breakdowns: list


def _decoded(order_columns: dict, item_columns: dict, item_lists: dict, order_lists: dict, positions: list[int],
             problems: dict[int, list[str]]) -> _Decoded:
    order_texts, item_texts = _list_columns(item_lists, order_lists)
    orders = pd.DataFrame({**order_columns, **order_texts}, dtype=object)
    items = pd.DataFrame({**item_columns, **item_texts, "order_pos": positions}, dtype=object)
    return _Decoded(orders, items, problems, item_lists[BREAKDOWNS], order_lists[BREAKDOWNS])


def _from_structs(orders: list) -> _Decoded:
    columns = {name: list(map(get, orders)) for name, get in ORDER_ATTRS.items()}
    columns["programs"] = [_joined(o.programs) for o in orders]
    columns["package_refs"] = [_joined([p.packageReferenceId for p in o.packages]) if o.packages else None
                               for o in orders]
    positions, lines, problems = [], [], {}
    for pos, order in enumerate(orders):
        if order.orderItems is None:
            problems[pos] = ["orderItems: not a list of objects"]
            continue
        positions.extend([pos] * len(order.orderItems))
        lines.extend(order.orderItems)
    items = {name: list(map(get, lines)) for name, get in ITEM_ATTRS.items()}
    item_lists = {path: list(map(get, lines)) for path, get in ITEM_LIST_ATTRS.items()}
    order_lists = {path: list(map(get, orders)) for path, get in ORDER_LIST_ATTRS.items()}
    return _decoded(columns, items, item_lists, order_lists, positions, problems)


def _from_json(orders: list) -> _Decoded:
    problems = {pos: why for pos, order in enumerate(orders) if (why := structure_problems(order))}
    columns = {name: [get(o) for o in orders] for name, get in ORDER_GETTERS.items()}
    columns["programs"] = [_joined(o.get("programs")) if isinstance(o, dict) else None for o in orders]
    columns["package_refs"] = [_joined([p.get("packageReferenceId") for p in o["packages"] if isinstance(p, dict)])
                               if isinstance(o, dict) and isinstance(o.get("packages"), list) else None
                               for o in orders]
    positions, lines = [], []
    order_lists: dict[str, list] = {path: [] for path in [*ORDER_LISTS, BREAKDOWNS]}
    item_lists: dict[str, list] = {path: [] for path in [*ITEM_LISTS, BREAKDOWNS]}
    for pos, order in enumerate(orders):
        found: list[str] = []
        for path, value in _converted(order, ORDER_LIST_GETTERS, "", found).items():
            order_lists[path].append(value)
        if pos not in problems:
            positions.extend([pos] * len(order["orderItems"]))
            lines.extend(order["orderItems"])
            for index, item in enumerate(order["orderItems"]):
                for path, value in _converted(item, ITEM_LIST_GETTERS, f"orderItems[{index}].", found).items():
                    item_lists[path].append(value)
        if found:
            problems.setdefault(pos, []).extend(found)
    items = {name: [get(x) for x in lines] for name, get in ITEM_GETTERS.items()}
    return _decoded(columns, items, item_lists, order_lists, positions, problems)


def _decode_page(page: bytes):
    """(decoded part, source for raw access) of one staged page."""
    try:
        return _from_structs(_PAGE.decode(page).orders), page
    except msgspec.ValidationError:  # some order has an unexpected shape: walk this page's JSON instead
        orders = msgspec.json.decode(page)["orders"]
        return _from_json(orders), orders


def batches_from_pages(pages: Iterable[bytes], size: int) -> Iterator[OrderBatch]:
    """Staged pages (`{"orders": [...]}` as UTF-8 JSON) as batches of about `size` orders: memory stays flat
    however large the window."""
    parts, sources, first = [], [], 0
    for page in pages:
        part, source = _decode_page(page)
        parts.append((first, part))
        sources.append((first, source))
        first += len(part.orders)
        if first >= size:
            yield _combine(parts, sources)
            parts, sources, first = [], [], 0
    if parts:
        yield _combine(parts, sources)


def batch_from_orders(orders: list) -> OrderBatch:
    """Orders already decoded (e.g. quarantined payloads) as one batch."""
    return _combine([(0, _from_json(orders))], [(0, orders)])


def _combine(parts: list[tuple[int, _Decoded]], sources: list) -> OrderBatch:
    order_frames, item_frames, problems, item_breakdowns, order_breakdowns = [], [], {}, [], []
    for first, part in parts:
        order_frames.append(part.orders)
        item_frames.append(part.items.assign(order_pos=part.items["order_pos"] + first) if first else part.items)
        problems.update({first + pos: why for pos, why in part.problems.items()})
        item_breakdowns.extend(part.item_breakdowns)
        order_breakdowns.extend(part.order_breakdowns)
    orders = pd.concat(order_frames, ignore_index=True) if len(order_frames) > 1 else order_frames[0]
    items = pd.concat(item_frames, ignore_index=True) if len(item_frames) > 1 else item_frames[0]
    items["order_pos"] = items["order_pos"].astype("int64")
    return OrderBatch(orders, items, problems, item_breakdowns, order_breakdowns, sources)


def as_text(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The raw values as text ("2" for 2, as the transform reads them), nulls kept: one typed shape for Parquet."""
    return frame.assign(**{c: pd.arrays.ArrowStringArray(arrow_text(frame[c])) for c in columns if c in frame})
