"""Buyer personal data under Amazon's Data Protection Policy: how long it is kept, and its erasure.

Amazon allows keeping a buyer's personal data only as long as the order needs it, at most 30 days after delivery
(unless a law requires longer). The Orders API gives no delivery time, so the clock starts at Amazon's delivery
promise (`deliverByWindow`), or at the order's last change when that is later (it shipped late); without a promise,
a week after its last change. A Canceled order's clock starts at its cancellation (its last change). Orders still
being fulfilled keep their data.

The DAG `amazon_buyer_data_retention` runs `erase_expired` daily, then `scrub_staging`. Erasure sets to NULL the
names, e-mail, phone, street lines, city and gift messages of the channel tables and of the Commerce guest orders
(unless the store opts out), redacts them from quarantine payloads and staged pages, and stamps
`channel_amazon_order.buyer_data_erased_at`; every other column stays as it was. Postcode, region, country,
company and tax registration stay: tax invoices need them. Commerce customer accounts ("create new customer") are
the merchant's own relationship with the buyer and are not touched.

Settings: the Airflow Variable `amazon_channel_buyer_data_retention` (JSON), per Commerce store:

    {"default": {"days": 30},
     "stores": {"3": {"days": 400, "legal_hold": "Tax audit 2026 (ticket LEG-12)"},
                "4": {"erase_commerce_guest_data": false}}}

More than 30 days needs a `legal_hold` saying why. `erase_commerce_guest_data: false` keeps names and street lines
on that store's Commerce guest orders: the merchant's own legal decision (e.g. invoices must name the buyer).
"""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import Text, and_, bindparam, or_, select, type_coerce, update
from sqlalchemy.engine import Connection, Engine

from .batching import IN_LIST, chunked
from .commerce.db import in_transaction
from .commerce.schema import (
    BuyerData,
    channel_amazon_order,
    channel_amazon_order_item,
    channel_amazon_quarantine,
    metadata,
    sales_order,
    sales_order_address,
    sales_order_item,
)
from .crypto import TEXT_PREFIX, cipher
from .errors import NotRetryableError, describe_invalid
from .rules import CHANNEL_STATUS, PLACEHOLDER_EMAIL_DOMAIN
from .timeutil import parse_iso

VARIABLE_NAME = "amazon_channel_buyer_data_retention"
MAX_DAYS_WITHOUT_HOLD = 30
NO_PROMISE_DELIVERY = timedelta(days=7)  # assumed transit when Amazon gives no deliver-by date
FINISHED = ("Shipped", "Canceled")  # only these orders' data can expire
BATCH = IN_LIST  # orders per erasing transaction: one IN (...) list of them

# What is personal, per place it is kept. Names, e-mail, phone, street lines, city, gift messages; not postcode,
# region, country, company or tax registration (tax invoices).
CHANNEL_ORDER_PII = ("buyer_name", "buyer_email", "ship_name", "ship_street", "ship_city", "ship_phone")
CHANNEL_ITEM_PII = ("gift_message",)
COMMERCE_ORDER_PII = ("customer_firstname", "customer_lastname")  # customer_email gets the order's placeholder
COMMERCE_ADDRESS_PII = ("firstname", "lastname", "street", "city", "telephone", "email")
COMMERCE_ITEM_PII = ("gift_message",)
# Columns of the staged frames: validate's (address lines) and transform's (Commerce names and order e-mail).
STAGED_PII = (*CHANNEL_ORDER_PII, "ship_line1", "ship_line2", "gift_message", "firstname", "lastname", "order_email")
ERASED_PAYLOAD = "[buyer data erased: retention period over; this payload could not be redacted field by field]"
MAX_PAYLOAD_CHARS = 65_535  # ASCII, so bytes: what a MariaDB TEXT holds
ERASED_EXCERPT = "[buyer data erased: retention period over]"
_BUYER_PII = ("buyerName", "buyerEmail")
_ADDRESS_PII = ("name", "addressLine1", "addressLine2", "addressLine3", "city", "districtOrCounty", "municipality",
                "phone", "extendedFields")


class StoreRetention(BaseModel):
    model_config = ConfigDict(extra="forbid")

    days: int = Field(MAX_DAYS_WITHOUT_HOLD, ge=0)
    legal_hold: str | None = Field(None, min_length=3, max_length=255)  # why this store keeps data longer
    erase_commerce_guest_data: bool = True

    @model_validator(mode="after")
    def _longer_needs_a_hold(self):
        if self.days > MAX_DAYS_WITHOUT_HOLD and not self.legal_hold:
            raise ValueError(f"days: more than {MAX_DAYS_WITHOUT_HOLD} needs a legal_hold saying why (Amazon's Data "
                             f"Protection Policy: at most {MAX_DAYS_WITHOUT_HOLD} days after delivery otherwise)")
        return self


class RetentionSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    default: StoreRetention = StoreRetention()
    stores: dict[int, dict] = {}

    @model_validator(mode="after")
    def _check_stores(self):
        for store_id in self.stores:
            self.for_store(store_id)
        return self

    def for_store(self, store_id: int | None) -> StoreRetention:
        override = self.stores.get(store_id, {}) if store_id is not None else {}
        try:
            return StoreRetention(**{**self.default.model_dump(), **override})
        except ValidationError as exc:
            raise NotRetryableError(f"{VARIABLE_NAME}: stores.{store_id}: {describe_invalid(exc)}") from None

    def shortest_days(self) -> int:
        return min([self.default.days, *(self.for_store(s).days for s in self.stores)])


def parse_retention_settings(raw: str | dict | None) -> RetentionSettings:
    """Settings from the Variable's JSON (or a dict); None means the defaults. Raises NotRetryableError naming the
    field."""
    if raw in (None, ""):
        return RetentionSettings()
    try:
        data = json.loads(raw) if isinstance(raw, str) else raw
        return RetentionSettings(**data)
    except json.JSONDecodeError as exc:
        raise NotRetryableError(f"{VARIABLE_NAME} is not valid JSON: {exc}") from None
    except ValidationError as exc:
        raise NotRetryableError(f"{VARIABLE_NAME} is invalid: {describe_invalid(exc)}") from None
    except TypeError:
        raise NotRetryableError(f"{VARIABLE_NAME} must be a JSON object") from None


def clock_starts(status: str, last_updated: datetime, deliver_by: datetime | None) -> datetime | None:
    """When an order's retention period starts, or None while the order still needs its buyer's data."""
    if status == "Canceled":
        return last_updated
    if status == "Shipped":
        return max(deliver_by, last_updated) if deliver_by is not None else last_updated + NO_PROMISE_DELIVERY
    return None


def expired(status: str, last_updated: datetime, deliver_by: datetime | None, days: int, as_of: datetime) -> bool:
    start = clock_starts(status, last_updated, deliver_by)
    return start is not None and start + timedelta(days=days) <= as_of


def redact_order(order: dict) -> dict:
    """An Orders API order without its buyer's personal data, as Amazon sends it to an application without the PII
    role: the rest (ids, money, items, postcode, region, country, company) is unchanged."""
    order = copy.deepcopy(order)
    strip_buyer_data(order)
    return order


def strip_buyer_data(order: dict) -> bool:
    """redact_order in place (a page just decoded is nobody else's); whether anything was removed."""
    removed = False
    buyer = order.get("buyer")
    if isinstance(buyer, dict):
        removed |= _pop(buyer, _BUYER_PII)
    recipient = order.get("recipient")
    if isinstance(recipient, dict):
        removed |= _pop(recipient, ("deliveryPreference",))  # drop-off and building instructions
        address = recipient.get("deliveryAddress")
        if isinstance(address, dict):
            removed |= _pop(address, _ADDRESS_PII)
    items = order.get("orderItems")
    for item in items if isinstance(items, list) else ():
        gift = _at(item, "fulfillment", "packing", "giftOption")
        if isinstance(gift, dict):
            removed |= _pop(gift, ("giftMessage",))
    return removed


def _pop(block: dict, keys) -> bool:
    found = [key for key in keys if key in block]
    for key in found:
        del block[key]
    return bool(found)


def _at(value, *keys):
    """value[k1][k2]... of nested objects, None where one is missing or not an object (a malformed order)."""
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


# ---- erasure in the database ------------------------------------------------------------------------------------

def erased_among(engine: Engine, order_ids: list[str]) -> set[str]:
    """Which of these Amazon orders have had their buyer data erased (an extract must not store it again)."""
    o = channel_amazon_order.c
    found: set[str] = set()
    with engine.connect() as conn:
        for chunk in chunked(sorted(set(order_ids)), BATCH):
            found.update(conn.execute(select(o.amazon_order_id).where(
                o.amazon_order_id.in_(chunk), o.buyer_data_erased_at.is_not(None))).scalars())
    return found


def erase_expired(engine: Engine, settings: RetentionSettings, as_of: datetime, erased_at: datetime) -> dict:
    """Erase the buyer data of every order whose retention period ended by `as_of`, stamping `erased_at`. Idempotent:
    erased orders are skipped, except that personal data found again on one (restored from a backup, written by an
    older version) is erased again. Returns counts, never personal data."""
    o = channel_amazon_order.c
    with engine.connect() as conn:
        candidates = conn.execute(select(o.amazon_order_id, o.store_id, o.status, o.last_updated, o.deliver_by,
                                         o.sales_order_id)
                                  .where(o.buyer_data_erased_at.is_(None), o.status.in_(FINISHED))).all()
        reappeared = conn.execute(select(o.amazon_order_id, o.store_id, o.sales_order_id).where(
            o.buyer_data_erased_at.is_not(None), or_(*(o[c].is_not(None) for c in CHANNEL_ORDER_PII)))).all()
    due = [(row.amazon_order_id, row.store_id, row.sales_order_id) for row in candidates
           if expired(row.status, row.last_updated, row.deliver_by, settings.for_store(row.store_id).days, as_of)]
    commerce_orders = 0
    for chunk in chunked(due, BATCH):
        commerce_orders += in_transaction(engine, lambda conn, chunk=chunk: _erase(conn, chunk, settings, erased_at))
    for chunk in chunked([(row.amazon_order_id, row.store_id, row.sales_order_id) for row in reappeared], BATCH):
        in_transaction(engine, lambda conn, chunk=chunk: _erase(conn, chunk, settings, None))
    quarantine = in_transaction(engine, lambda conn: _erase_quarantine(conn, settings, as_of))
    return {"as_of": as_of.isoformat(), "orders_checked": len(candidates), "orders_erased": len(due),
            "orders_erased_again": len(reappeared), "commerce_guest_orders_erased": commerce_orders, **quarantine}


def _erase(conn: Connection, orders: list[tuple[str, int | None, int | None]], settings: RetentionSettings,
           erased_at: datetime | None) -> int:
    """One batch: channel order and items, then the Commerce guest orders of stores that erase them. `erased_at`
    None keeps the existing stamp (erasing again)."""
    ids = [order_id for order_id, _, _ in orders]
    marker = {"buyer_data_erased_at": erased_at} if erased_at is not None else {}
    conn.execute(update(channel_amazon_order).where(channel_amazon_order.c.amazon_order_id.in_(ids))
                 .values(**dict.fromkeys(CHANNEL_ORDER_PII), **marker))
    conn.execute(update(channel_amazon_order_item).where(channel_amazon_order_item.c.amazon_order_id.in_(ids))
                 .values(**dict.fromkeys(CHANNEL_ITEM_PII)))
    entity_ids = [entity for _, store_id, entity in orders
                  if entity is not None and settings.for_store(store_id).erase_commerce_guest_data]
    if not entity_ids:
        return 0
    so = sales_order.c
    guests = conn.execute(select(so.entity_id, so.ext_order_id).where(
        so.entity_id.in_(entity_ids), so.customer_is_guest.is_(True))).all()
    if not guests:
        return 0
    guest_ids = [entity for entity, _ in guests]
    # customer_email is required: the order's placeholder, as for an order whose buyer Amazon does not share
    conn.execute(update(sales_order).where(so.entity_id == bindparam("b_id"))
                 .values(**dict.fromkeys(COMMERCE_ORDER_PII), customer_email=bindparam("b_email")),
                 [{"b_id": entity, "b_email": f"{ext}@{PLACEHOLDER_EMAIL_DOMAIN}"} for entity, ext in guests])
    conn.execute(update(sales_order_address).where(sales_order_address.c.parent_id.in_(guest_ids))
                 .values(**dict.fromkeys(COMMERCE_ADDRESS_PII)))
    conn.execute(update(sales_order_item).where(sales_order_item.c.order_id.in_(guest_ids))
                 .values(**dict.fromkeys(COMMERCE_ITEM_PII)))
    return len(guests)


def _erase_quarantine(conn: Connection, settings: RetentionSettings, as_of: datetime) -> dict:
    """Quarantine payloads of erased orders are redacted; a quarantined order that never reached the channel tables
    is judged by its own payload (the default period). A payload that is not the order's JSON (truncated) cannot be
    redacted field by field: an erased order's is replaced by a marker; one of an unknown order is kept and counted
    (`quarantine_undecided`) for a person to resolve."""
    q, o = channel_amazon_quarantine.c, channel_amazon_order.c
    rows = conn.execute(select(q.id, q.payload, o.buyer_data_erased_at, o.amazon_order_id.label("known"))
                        .select_from(channel_amazon_quarantine.outerjoin(
                            channel_amazon_order, o.amazon_order_id == q.amazon_order_id))
                        .where(q.payload != ERASED_PAYLOAD)).all()
    changes, undecided = [], 0
    for row in rows:
        order = _decoded(row.payload)
        if row.known is not None:
            if row.buyer_data_erased_at is None:
                continue
        elif order is None:
            undecided += 1
            continue
        elif not _payload_expired(order, settings.default.days, as_of):
            continue
        redacted = None if order is None else redact_order(order)
        if redacted == order:
            continue  # nothing personal left
        # ASCII escapes: the payload may hold characters stored escaped (lone surrogates) that no database takes raw
        text = ERASED_PAYLOAD if redacted is None else json.dumps(redacted)
        changes.append({"b_id": row.id, "b_payload": text if len(text) <= MAX_PAYLOAD_CHARS else ERASED_PAYLOAD})
    if changes:
        conn.execute(update(channel_amazon_quarantine).where(q.id == bindparam("b_id"))
                     .values(payload=bindparam("b_payload")), changes)
    return {"quarantine_payloads_erased": len(changes), "quarantine_undecided": undecided}


def _decoded(payload: str) -> dict | None:
    try:
        order = json.loads(payload)
    except ValueError:
        return None
    return order if isinstance(order, dict) else None


def _payload_expired(order: dict, days: int, as_of: datetime) -> bool:
    """The retention rule on a raw order (Amazon's fulfillment status and times); undecidable is not expired."""
    try:
        promise = _at(order, "fulfillment", "deliverByWindow", "latestDateTime")
        return expired(CHANNEL_STATUS.get(_at(order, "fulfillment", "fulfillmentStatus"), ""),
                       parse_iso(order["lastUpdatedTime"]), parse_iso(promise) if promise else None, days, as_of)
    except (KeyError, TypeError, ValueError, AttributeError):
        return False


# ---- keys ----------------------------------------------------------------------------------------------------------

def reseal(engine: Engine) -> dict:
    """Seal with the current buyer data key every stored value that is not yet: values stored before keys were
    configured, and values sealed with an older key (rotation: put the new key first, run this, drop the old key).
    Returns the count per column; without keys, nothing to do."""
    current = cipher()
    if current is None:
        return {"resealed": {}}
    done = {}
    for table in metadata.sorted_tables:
        key = list(table.primary_key.columns)
        for column in (c for c in table.columns if isinstance(c.type, BuyerData)):
            raw = type_coerce(column, Text)
            stale = and_(raw.is_not(None), raw.not_like(f"{TEXT_PREFIX}{current.key_id}:%"))
            with engine.connect() as conn:
                rows = conn.execute(select(*key, column).where(stale)).all()
            # Read unsealed (the column's type), written back sealed with the current key.
            statement = (update(table).where(and_(*(c == bindparam(f"k_{c.name}") for c in key)))
                         .values({column.name: bindparam("b_value")}))
            for chunk in chunked(rows, BATCH):
                params = [{**{f"k_{c.name}": row[i] for i, c in enumerate(key)}, "b_value": row[-1]} for row in chunk]
                in_transaction(engine, lambda conn, statement=statement, params=params: conn.execute(statement, params))
            if rows:
                done[f"{table.name}.{column.name}"] = len(rows)
    return {"resealed": done, "key_id": current.key_id}


# ---- staged pages ------------------------------------------------------------------------------------------------

def erased_since(engine: Engine, since: datetime) -> set[str]:
    """Orders whose buyer data was erased at or after `since`: staged pages older than that are purged anyway."""
    o = channel_amazon_order.c
    with engine.connect() as conn:
        return set(conn.execute(select(o.amazon_order_id).where(o.buyer_data_erased_at >= since)).scalars())


def scrub_staging(staging, erased: set[str], settings: RetentionSettings, as_of: datetime) -> dict:
    """Redact the erased orders from every staged page and frame (a backfill staged before their erasure), and the
    orders past the default period by their own data that never reached the channel tables (quarantined): the run
    can still be re-run from any task. Returns the count of files rewritten."""
    import msgspec

    from .extract import REJECTED_FOLDER

    def due(order: dict) -> bool:
        return order.get("orderId") in erased or _payload_expired(order, settings.default.days, as_of)

    scrubbed = 0
    for url, name in staging.files():
        if name.endswith(".json"):
            page = msgspec.json.decode(staging.read_file(url, name))
            changed = _scrub_rejected(page, erased) if url.endswith("/" + REJECTED_FOLDER) else _scrub_page(page, due)
            if changed:
                staging.write_json(url, name, page)
                scrubbed += 1
        elif name.endswith(".parquet") and erased and _scrub_frame(staging, url, name, erased):
            scrubbed += 1
    return {"staged_files_scrubbed": scrubbed}


def _scrub_frame(staging, url: str, name: str, erased: set[str]) -> bool:
    frame = staging.read_frame(url, name)
    columns = [c for c in STAGED_PII if c in frame.columns]
    if not columns:
        return False
    key = next((c for c in ("amazon_order_id", "order_id") if c in frame.columns), None)
    if key is not None:
        hit = frame[key].isin(erased)
    elif "order_pos" in frame.columns and name.endswith("-items.parquet"):  # validate's items: by their order's row
        orders = staging.read_frame(url, name.removesuffix("-items.parquet") + "-orders.parquet")
        hit = frame["order_pos"].isin(orders.loc[orders["order_id"].isin(erased), "order_pos"])
    else:
        return False
    if not (hit.any() and frame.loc[hit, columns].notna().any().any()):
        return False
    frame.loc[hit, columns] = None
    staging.write_frame(url, name, frame)
    return True


def _scrub_page(page, due) -> bool:
    orders = page.get("orders") if isinstance(page, dict) else None
    changed = False
    for order in orders if isinstance(orders, list) else ():
        if isinstance(order, dict) and due(order):
            changed |= strip_buyer_data(order)
    return changed


def _scrub_rejected(page, erased: set[str]) -> bool:
    changed = False
    for entry in (page.get("rejected") if isinstance(page, dict) else None) or ():
        if entry.get("order_id") in erased and entry.get("excerpt") != ERASED_EXCERPT:
            entry["excerpt"], changed = ERASED_EXCERPT, True
    return changed


def redact_erased(orders: list, erased: set[str]) -> list:
    """A page of orders as extract stages it: erased orders without their buyer data (never stored again)."""
    return [redact_order(order) if isinstance(order, dict) and order.get("orderId") in erased else order
            for order in orders]

