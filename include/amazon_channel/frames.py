"""Amazon orders (v2026-01-01 JSON) as two flat frames of the values Amazon sent, decoded once per run.

Validation checks these raw values and hands the valid rows on as Parquet; the transform parses them. Each order
row keeps its position in the batch (`order_pos` on items) so that item failures and quarantine rows point back to
the whole order, whose raw JSON is decoded again only if it has to be quarantined.

Decoding: a staged page is decoded straight into typed structs holding only the fields we use (msgspec, several
times faster than building dicts and walking them). A page that does not fit those shapes (a field that should be
an object is not, a number where text belongs...) is decoded as plain JSON and flattened by walking each order, so
a malformed order is still read as far as it goes and then quarantined with its reasons, never lost.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from operator import attrgetter

import msgspec
import pandas as pd

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
    "grand_total": "proceeds.grandTotal.amount", "currency": "proceeds.grandTotal.currencyCode",
    "buyer_email": "buyer.buyerEmail", "buyer_name": "buyer.buyerName", "buyer_company": "buyer.buyerCompanyName",
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
}
# Lists flattened to one text value: the order's programs, and the packageReferenceIds Amazon lists for it.
LIST_COLUMNS = ("programs", "package_refs")
ORDER_COLUMNS = [*ORDER_FIELDS, *LIST_COLUMNS]
ITEM_COLUMNS = [*ITEM_FIELDS, "order_pos"]


# ---- the typed fast path: only the fields we read; anything else in the JSON is skipped ----------------------

Scalar = str | int | float | bool | None  # any JSON value but an object or array, kept as sent


def _struct(name: str, paths: list[str], **extra) -> type[msgspec.Struct]:
    """A msgspec struct that reads exactly these dotted paths (a missing level reads as empty), plus `extra`
    fields given as (type, default)."""
    tree: dict = {}
    for path in paths:
        *parents, leaf = path.split(".")
        node = tree
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = None

    def build(struct_name: str, node: dict, more: list) -> type[msgspec.Struct]:
        fields = []
        for key, child in node.items():
            if child is None:
                fields.append((key, Scalar, None))
            else:
                nested = build(struct_name + key[0].upper() + key[1:], child, [])
                fields.append((key, nested, msgspec.field(default_factory=nested)))
        return msgspec.defstruct(struct_name, fields + more)

    return build(name, tree, [(key, kind, default) for key, (kind, default) in extra.items()])


_Item = _struct("Item", list(ITEM_FIELDS.values()))
_Package = _struct("Package", ["packageReferenceId"])
_Order = _struct("Order", list(ORDER_FIELDS.values()), programs=(list[Scalar] | None, None),
                 packages=(list[_Package] | None, None), orderItems=(list[_Item] | None, None))
_PAGE = msgspec.json.Decoder(msgspec.defstruct("Page", [("orders", list[_Order])]))
ORDER_ATTRS = {name: attrgetter(path) for name, path in ORDER_FIELDS.items()}
ITEM_ATTRS = {name: attrgetter(path) for name, path in ITEM_FIELDS.items()}


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


ORDER_GETTERS = {name: _getter(path) for name, path in ORDER_FIELDS.items()}
ITEM_GETTERS = {name: _getter(path) for name, path in ITEM_FIELDS.items()}


def _joined(values) -> str | None:
    """A JSON list of text as one comma-separated value (None when it is not a list or holds no text)."""
    if not isinstance(values, list):
        return None
    texts = [v for v in values if isinstance(v, str)]
    return ",".join(texts) if texts else None


def structure_problems(order) -> list[str]:
    if not isinstance(order, dict):
        return ["order: not a JSON object"]
    items = order.get("orderItems")
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        return ["orderItems: not a list of objects"]
    return []


# ---- a batch of orders ----------------------------------------------------------------------------------------

@dataclass
class OrderBatch:
    """Orders as flat frames (row i of `orders` is order i of the batch; items carry `order_pos`), their structural
    problems by position, and a way back to each order's JSON as Amazon sent it."""

    orders: pd.DataFrame
    items: pd.DataFrame
    problems: dict[int, list[str]] = field(default_factory=dict)
    _sources: list[tuple[int, bytes | list]] = field(default_factory=list, repr=False)  # (first position, page)

    def __len__(self) -> int:
        return len(self.orders)

    def rows(self, positions: list[int], offset: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The orders at `positions` and their items, as text, numbered `order_pos` from `offset` on (so that the
        batches of one run never share a number): the typed hand-off to the transform."""
        orders = self.orders.iloc[positions].assign(order_pos=[offset + p for p in positions])
        items = self.items[self.items["order_pos"].isin(positions)]
        items = items.assign(order_pos=items["order_pos"] + offset)
        return (as_text(orders, ORDER_COLUMNS).reset_index(drop=True),
                as_text(items, list(ITEM_FIELDS)).reset_index(drop=True))

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


def _frames(order_columns: dict[str, list], item_columns: dict[str, list]) -> tuple[pd.DataFrame, pd.DataFrame]:
    return pd.DataFrame(order_columns, dtype=object), pd.DataFrame(item_columns, dtype=object)


def _from_structs(orders: list) -> tuple[pd.DataFrame, pd.DataFrame, dict[int, list[str]]]:
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
    items["order_pos"] = positions
    return *_frames(columns, items), problems


def _from_json(orders: list) -> tuple[pd.DataFrame, pd.DataFrame, dict[int, list[str]]]:
    problems = {pos: why for pos, order in enumerate(orders) if (why := structure_problems(order))}
    columns = {name: [get(o) for o in orders] for name, get in ORDER_GETTERS.items()}
    columns["programs"] = [_joined(o.get("programs")) if isinstance(o, dict) else None for o in orders]
    columns["package_refs"] = [_joined([p.get("packageReferenceId") for p in o["packages"] if isinstance(p, dict)])
                               if isinstance(o, dict) and isinstance(o.get("packages"), list) else None
                               for o in orders]
    positions, lines = [], []
    for pos, order in enumerate(orders):
        if pos not in problems:
            positions.extend([pos] * len(order["orderItems"]))
            lines.extend(order["orderItems"])
    items = {name: [get(x) for x in lines] for name, get in ITEM_GETTERS.items()}
    items["order_pos"] = positions
    return *_frames(columns, items), problems


def _decode_page(page: bytes):
    """(flat part, source for raw access) of one staged page."""
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
        first += len(part[0])
        if first >= size:
            yield _combine(parts, sources)
            parts, sources, first = [], [], 0
    if parts:
        yield _combine(parts, sources)


def batch_from_orders(orders: list) -> OrderBatch:
    """Orders already decoded (e.g. quarantined payloads) as one batch."""
    return _combine([(0, _from_json(orders))], [(0, orders)])


def _combine(parts: list, sources: list) -> OrderBatch:
    order_frames, item_frames, problems = [], [], {}
    for first, (orders, items, part_problems) in parts:
        order_frames.append(orders)
        item_frames.append(items.assign(order_pos=items["order_pos"] + first) if first else items)
        problems.update({first + pos: why for pos, why in part_problems.items()})
    orders = pd.concat(order_frames, ignore_index=True) if len(order_frames) > 1 else order_frames[0]
    items = pd.concat(item_frames, ignore_index=True) if len(item_frames) > 1 else item_frames[0]
    items["order_pos"] = items["order_pos"].astype("int64")
    return OrderBatch(orders, items, problems, sources)


def as_text(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The raw values as text ("2" for 2, as the transform reads them), nulls kept: one typed shape for Parquet."""
    return frame.assign(**{c: frame[c].astype("string") for c in columns if c in frame})
