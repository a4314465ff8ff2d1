"""The Commerce database, modelled on Magento's sales tables, plus the channel's own tables.

One definition (SQLAlchemy Core) for SQLite, PostgreSQL and MariaDB; `sql/*.sql` is the reviewed DDL generated
from it (`make ddl`; a test keeps them equal). Times are UTC; money is exact (Numeric(20,4), text on SQLite).
"""

from __future__ import annotations

from datetime import UTC
from decimal import Decimal
from functools import lru_cache
from typing import NamedTuple

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    insert,
    inspect,
    select,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.schema import CreateColumn, CreateIndex, CreateTable
from sqlalchemy.types import TypeDecorator

from ..crypto import seal, unseal

metadata = MetaData()
TABLE_OPTIONS = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin", "mysql_engine": "InnoDB"}
MONEY_QUANTUM = Decimal("0.0001")


@lru_cache(maxsize=1 << 16)
def _exact(value) -> Decimal:
    """An amount at Commerce's 4 decimals; + 0 turns Decimal's -0 into 0 (SQLite would keep the text "-0.0000").
    Amounts repeat a lot (zeros, prices, base twins): each distinct one is converted once."""
    return Decimal(value).quantize(MONEY_QUANTUM) + 0


@lru_cache(maxsize=1 << 16)
def _exact_text(value) -> str:
    return str(_exact(value))


class Money(TypeDecorator):
    """Decimal(20,4) everywhere; SQLite has no exact decimal type, so it stores the exact text."""

    impl = Numeric(20, 4)
    cache_ok = True

    def load_dialect_impl(self, dialect):
        return dialect.type_descriptor(String(24) if dialect.name == "sqlite" else Numeric(20, 4))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        return _exact_text(value) if dialect.name == "sqlite" else _exact(value)

    def process_result_value(self, value, dialect):
        return None if value is None else _exact(value)


class BuyerData(TypeDecorator):
    """A buyer's personal data, encrypted at rest when buyer data keys are configured (amazon_channel.crypto): every
    write and read through these tables seals and unseals it, bulk paths included (db._bound). Text, as a sealed value
    is longer than the value (a 255-character name can take 1,400); `long` holds a 64 KB payload sealed (MEDIUMTEXT
    on MariaDB, whose TEXT holds 64 KB)."""

    impl = Text
    cache_ok = True

    def __init__(self, long: bool = False):
        super().__init__()
        self.long = long

    def load_dialect_impl(self, dialect):
        from sqlalchemy.dialects.mysql import MEDIUMTEXT

        return dialect.type_descriptor(MEDIUMTEXT() if self.long and dialect.name == "mysql" else Text())

    def process_bind_param(self, value, dialect):
        return seal(value)

    def process_result_value(self, value, dialect):
        return unseal(value)


class UtcDateTime(TypeDecorator):
    """Timezone-aware UTC in Python; stored as naive UTC so every dialect compares alike."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; the Commerce DB stores UTC only")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        return None if value is None else value.replace(tzinfo=UTC)


def _id(name: str = "entity_id") -> Column:
    return Column(name, Integer, primary_key=True, autoincrement=True)


def base_twin(name: str) -> str:
    """Magento keeps every amount twice, in the order's and in the base currency: base_grand_total, gw_base_price."""
    return "gw_base_" + name[3:] if name.startswith("gw_") else "base_" + name


def _amounts(names: list[str], required: bool | set[str] = True) -> list[Column]:
    """Each amount and its base twin, NOT NULL when `required` (all, or the columns named): a column added to an
    existing table cannot be."""
    columns = [column for name in names for column in (name, base_twin(name))]
    not_null = set(columns) if required is True else set(required or ())
    return [Column(column, Money, nullable=column not in not_null) for column in columns]


# Totals of every Magento sales document (order, invoice, credit memo), copied from Amazon's proceeds (money.md).
# They add up: grand_total = subtotal + shipping_amount + gw_price + amazon_cod_fee + amazon_other_charges
# + tax_amount + discount_amount (negative) + amazon_delivery_tip. The *_tax and *_incl_tax columns say how much of
# tax_amount belongs to what; shipping_discount_amount (positive, as Magento stores it) is part of discount_amount.
DOCUMENT_TOTALS = ["subtotal", "subtotal_incl_tax", "tax_amount", "shipping_amount", "shipping_tax_amount",
                   "shipping_incl_tax", "discount_amount", "shipping_discount_amount", "gw_price", "gw_tax_amount",
                   "amazon_cod_fee", "amazon_cod_fee_tax", "amazon_other_charges", "amazon_delivery_tip",
                   "grand_total"]
# Amounts of every item line (order, invoice and credit memo items); discount_amount is positive, as Magento has it.
LINE_AMOUNTS = ["price", "price_incl_tax", "row_total", "row_total_incl_tax", "tax_amount", "discount_amount"]
INVOICE_PAID = 2  # Magento's sales_invoice.state: 1 open, 2 paid, 3 canceled
CREDITMEMO_REFUNDED = 2  # Magento's sales_creditmemo.state: 1 open, 2 refunded, 3 canceled


store = Table(
    "store", metadata,
    Column("store_id", Integer, primary_key=True, autoincrement=False),
    Column("website_id", Integer, nullable=False),
    Column("code", String(32), nullable=False, unique=True),
    Column("name", String(255), nullable=False),
    **TABLE_OPTIONS)

sales_sequence = Table(
    "sales_sequence", metadata,
    Column("store_id", Integer, primary_key=True, autoincrement=False),
    Column("last_value", Integer, nullable=False),
    **TABLE_OPTIONS)

customer_entity = Table(
    "customer_entity", metadata,
    _id(),
    Column("website_id", Integer, nullable=False),
    Column("email", String(255), nullable=False),
    Column("firstname", String(255)),
    Column("lastname", String(255)),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("email", "website_id", name="uq_customer_email_website"),
    **TABLE_OPTIONS)

catalog_product = Table(
    "catalog_product", metadata,
    _id(),
    Column("sku", String(64), nullable=False, unique=True),
    Column("name", String(255), nullable=False),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("qty", Numeric(12, 4), nullable=False, default=0),
    Column("manage_stock", Boolean, nullable=False, default=True),
    **TABLE_OPTIONS)

# Magento MSI style: stock is qty plus the sum of reservations; one row per (order, sku, event), never edited.
inventory_reservation = Table(
    "inventory_reservation", metadata,
    _id("reservation_id"),
    Column("sku", String(64), nullable=False),
    Column("quantity", Numeric(12, 4), nullable=False),
    Column("ext_order_id", String(64), nullable=False),
    Column("event", String(32), nullable=False),
    UniqueConstraint("ext_order_id", "sku", "event", name="uq_reservation_order_sku_event"),
    **TABLE_OPTIONS)

sales_order = Table(
    "sales_order", metadata,
    _id(),
    Column("increment_id", String(64), nullable=False),
    Column("store_id", Integer, nullable=False),
    Column("state", String(32), nullable=False),
    Column("status", String(32), nullable=False),
    Column("customer_id", Integer, ForeignKey("customer_entity.entity_id")),
    Column("customer_is_guest", Boolean, nullable=False),
    Column("customer_email", String(255), nullable=False),
    Column("customer_firstname", String(255)),
    Column("customer_lastname", String(255)),
    # Amazon's amounts (money.md). Only the first release's four are NOT NULL: orders created before the others
    # existed have none.
    *_amounts(DOCUMENT_TOTALS, required={"subtotal", "tax_amount", "shipping_amount", "grand_total"}),
    Column("amazon_delivery_tip_status", String(16)),  # PENDING or FINALIZED when the order was created
    Column("order_currency_code", String(3), nullable=False),
    Column("base_currency_code", String(3)),
    Column("base_to_order_rate", Money),  # 1: Amazon's amounts are the base amounts
    *_amounts(["total_invoiced", "total_paid", "total_refunded"], required=False),
    Column("customer_taxvat", String(128)),  # the buyer's tax registration, "<type> <number>" (Amazon Business)
    Column("amazon_account_id", String(64)),  # the channel account the Amazon order came from
    Column("total_qty_ordered", Integer, nullable=False),
    Column("ext_order_id", String(64), nullable=False, unique=True),
    Column("send_email", Boolean, nullable=False, default=False),  # channel orders: Amazon notifies the buyer
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("increment_id", "store_id", name="uq_sales_order_increment_store"),
    **TABLE_OPTIONS)

sales_order_item = Table(
    "sales_order_item", metadata,
    _id("item_id"),
    Column("order_id", Integer, ForeignKey("sales_order.entity_id"), nullable=False),
    Column("ext_order_item_id", String(64), nullable=False),
    Column("sku", String(64), nullable=False),
    Column("name", String(255)),
    Column("product_id", Integer, ForeignKey("catalog_product.entity_id")),
    Column("qty_ordered", Integer, nullable=False),
    Column("qty_shipped", Integer, nullable=False, default=0),
    Column("qty_canceled", Integer, nullable=False, default=0),
    Column("qty_invoiced", Integer, nullable=False, server_default="0"),
    Column("qty_refunded", Integer, nullable=False, server_default="0"),
    *_amounts(LINE_AMOUNTS, required={"price", "row_total"}),  # the first release's two NOT NULL, as above
    Column("tax_percent", Money),  # TAX[ITEM] / ITEM x 100, 4 decimals, exact like the amounts
    Column("amazon_tax_collection_model", String(64)),  # MARKETPLACE_FACILITATOR: Amazon remits the tax
    Column("amazon_tax_reporting_scheme", String(16)),  # IOSS or UOSS
    Column("gift_message", Text),
    UniqueConstraint("order_id", "ext_order_item_id", name="uq_sales_order_item_ext"),
    **TABLE_OPTIONS)

sales_order_address = Table(
    "sales_order_address", metadata,
    _id(),
    Column("parent_id", Integer, ForeignKey("sales_order.entity_id"), nullable=False),
    Column("address_type", String(16), nullable=False),
    Column("firstname", String(255)),
    Column("lastname", String(255)),
    Column("company", String(255)),
    Column("street", String(1024)),
    Column("city", String(255)),
    Column("region", String(255)),
    Column("postcode", String(32)),
    Column("country_id", String(2)),
    Column("telephone", String(64)),
    Column("email", String(255)),
    Column("is_placeholder", Boolean, nullable=False, default=False),
    UniqueConstraint("parent_id", "address_type", name="uq_sales_order_address_type"),
    **TABLE_OPTIONS)

# Amazon orders are paid at Amazon: one payment per order, method `amazon`, as the Commerce extension records it.
sales_order_payment = Table(
    "sales_order_payment", metadata,
    _id(),
    Column("parent_id", Integer, ForeignKey("sales_order.entity_id"), nullable=False, unique=True),
    Column("method", String(128), nullable=False),
    *_amounts(["amount_ordered", "amount_paid"]),
    *_amounts(["amount_refunded"], required=False),
    Column("po_number", String(64)),  # the Amazon Business buyer's purchase order number
    **TABLE_OPTIONS)


def _sales_document(name: str, *columns) -> Table:
    """An invoice or credit memo: the order's totals (all of them, never part) and its own number."""
    return Table(
        name, metadata,
        _id(),
        Column("order_id", Integer, ForeignKey("sales_order.entity_id"), nullable=False),
        Column("store_id", Integer, nullable=False),
        Column("increment_id", String(64), nullable=False),
        Column("state", Integer, nullable=False),
        *columns,
        *_amounts(DOCUMENT_TOTALS),
        Column("order_currency_code", String(3), nullable=False),
        Column("base_currency_code", String(3), nullable=False),
        Column("total_qty", Integer, nullable=False),
        Column("email_sent", Boolean, nullable=False, default=False),  # Amazon tells the buyer, not Commerce
        Column("created_at", UtcDateTime, nullable=False),
        Column("updated_at", UtcDateTime, nullable=False),
        UniqueConstraint("increment_id", "store_id", name=f"uq_{name}_increment_store"),
        Index(f"ix_{name}_order", "order_id"),
        **TABLE_OPTIONS)


def _sales_document_item(name: str, parent: str) -> Table:
    """An invoice's or credit memo's line: the order item's quantity and amounts."""
    return Table(
        name, metadata,
        _id(),
        Column("parent_id", Integer, ForeignKey(f"{parent}.entity_id"), nullable=False),
        Column("order_item_id", Integer, nullable=False),  # no foreign key, as in Magento: a check per row for nothing
        Column("sku", String(64), nullable=False),
        Column("name", String(255)),
        Column("qty", Integer, nullable=False),
        *_amounts(LINE_AMOUNTS),
        UniqueConstraint("parent_id", "order_item_id", name=f"uq_{name}_order_item"),
        **TABLE_OPTIONS)


sales_invoice = _sales_document("sales_invoice")
sales_invoice_item = _sales_document_item("sales_invoice_item", "sales_invoice")
sales_creditmemo = _sales_document("sales_creditmemo",
                                   Column("invoice_id", Integer, ForeignKey("sales_invoice.entity_id"), nullable=False))
sales_creditmemo_item = _sales_document_item("sales_creditmemo_item", "sales_creditmemo")

# The order's comments in Commerce's admin. The channel writes one per event (entity_name `invoice` when the order
# is created paid, `creditmemo` when Amazon cancels it): the unique key makes a re-run add none.
sales_order_status_history = Table(
    "sales_order_status_history", metadata,
    _id(),
    Column("parent_id", Integer, ForeignKey("sales_order.entity_id"), nullable=False),
    Column("entity_name", String(32), nullable=False),
    Column("status", String(32), nullable=False),
    Column("comment", Text, nullable=False),
    Column("is_customer_notified", Boolean, nullable=False, default=False),  # Amazon notifies the buyer
    Column("is_visible_on_front", Boolean, nullable=False, default=False),
    Column("created_at", UtcDateTime, nullable=False),
    UniqueConstraint("parent_id", "entity_name", name="uq_status_history_event"),
    **TABLE_OPTIONS)

sales_shipment = Table(
    "sales_shipment", metadata,
    _id(),
    Column("order_id", Integer, ForeignKey("sales_order.entity_id"), nullable=False),
    Column("increment_id", String(64), nullable=False, unique=True),
    Column("total_qty", Integer, nullable=False),
    Column("email_sent", Boolean, nullable=False, default=False),  # channel orders: Amazon tells the buyer
    Column("created_at", UtcDateTime, nullable=False),
    **TABLE_OPTIONS)

sales_shipment_item = Table(
    "sales_shipment_item", metadata,
    _id(),
    Column("parent_id", Integer, ForeignKey("sales_shipment.entity_id"), nullable=False),
    Column("order_item_id", Integer, ForeignKey("sales_order_item.item_id"), nullable=False),
    Column("sku", String(64), nullable=False),
    Column("qty", Integer, nullable=False),
    UniqueConstraint("parent_id", "order_item_id", name="uq_shipment_item"),
    **TABLE_OPTIONS)

sales_shipment_track = Table(
    "sales_shipment_track", metadata,
    _id(),
    Column("parent_id", Integer, ForeignKey("sales_shipment.entity_id"), nullable=False),
    Column("order_id", Integer, ForeignKey("sales_order.entity_id"), nullable=False),
    Column("carrier_code", String(32), nullable=False),
    Column("title", String(255)),
    Column("track_number", String(255), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    **TABLE_OPTIONS)

# The channel's own view of every imported Amazon order, whatever its status.
channel_amazon_order = Table(
    "channel_amazon_order", metadata,
    _id("id"),
    Column("amazon_order_id", String(32), nullable=False, unique=True),
    Column("account_id", String(64), nullable=False, server_default="default"),  # the seller account (accounts file)
    Column("marketplace_id", String(32), nullable=False),
    Column("store_id", Integer),
    Column("status", String(32), nullable=False),
    Column("fulfillment_channel", String(3), nullable=False),
    Column("purchase_date", UtcDateTime, nullable=False),
    Column("last_updated", UtcDateTime, nullable=False),
    Column("latest_ship_date", UtcDateTime),
    Column("deliver_by", UtcDateTime),  # Amazon's delivery promise (deliverByWindow.latestDateTime)
    Column("buyer_email", BuyerData),
    Column("buyer_name", BuyerData),
    Column("buyer_company", String(255)),
    Column("ship_name", BuyerData),
    Column("ship_street", BuyerData),
    Column("ship_city", BuyerData),
    Column("ship_region", String(255)),
    Column("ship_postcode", String(32)),
    Column("ship_country", String(2)),
    Column("ship_phone", BuyerData),
    Column("is_prime", Boolean, nullable=False),
    Column("is_business", Boolean, nullable=False),
    Column("subtotal", Money),  # sum of the items' ITEM amounts
    Column("grand_total", Money),
    Column("currency", String(3)),
    Column("delivery_tip", Money),  # order-level DELIVERY_TIP: 0 when none, null when Amazon shows no amounts
    Column("delivery_tip_status", String(16)),
    Column("purchase_order_number", String(64)),  # Amazon Business
    Column("buyer_tax_registration", String(128)),  # "<taxRegistrationType> <taxRegistrationNumber>"
    Column("items_unshipped", Integer, nullable=False),
    Column("sales_order_id", Integer, ForeignKey("sales_order.entity_id")),
    Column("sales_order_increment_id", String(64)),
    Column("note", String(1024)),
    Column("amazon_package_refs", String(1024)),  # packageReferenceIds Amazon lists for the order
    # An open buyer cancellation request (Amazon's CANCELLATION data: an item requested by the BUYER and not executed):
    # the order's packages are held until it is cancelled in Commerce or the hold is released (hold_released_at).
    Column("cancel_requested", Boolean, nullable=False, server_default="0"),
    Column("cancel_request_reason", String(255)),
    Column("hold_released_at", UtcDateTime),
    # Set by the buyer-data retention DAG when it erased the order's personal data (amazon_channel.retention).
    Column("buyer_data_erased_at", UtcDateTime),
    Index("ix_channel_order_status", "status", "sales_order_id"),
    Index("ix_channel_order_purchase", "purchase_date"),  # the Orders view's default sort
    Index("ix_channel_order_account", "account_id", "marketplace_id"),  # each account's orders and marketplaces
    **TABLE_OPTIONS)

channel_amazon_order_note = Table(  # every note an order has had, for the Orders view's history
    "channel_amazon_order_note", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("amazon_order_id", String(32), nullable=False),
    Column("noted_at", UtcDateTime, nullable=False),
    Column("note", String(1024), nullable=False),
    Index("ix_order_note_order", "amazon_order_id"),
    **TABLE_OPTIONS)

# Amazon's categories ITEM, SHIPPING, GIFT_WRAP, COD_FEE, OTHER; TAX and DISCOUNT, whole and by what they apply to.
CHANNEL_ITEM_AMOUNTS = ["item_amount", "shipping_amount", "gift_wrap_amount", "cod_fee_amount", "other_amount",
                        "tax_amount", "item_tax", "shipping_tax", "gift_wrap_tax", "cod_fee_tax", "other_tax",
                        "discount_amount", "item_discount", "shipping_discount", "other_discount", "proceeds_total"]

channel_amazon_order_item = Table(
    "channel_amazon_order_item", metadata,
    _id("id"),
    Column("amazon_order_id", String(32), nullable=False),
    Column("account_id", String(64), nullable=False, server_default="default"),  # the seller account (accounts file)
    Column("order_item_id", String(64), nullable=False),
    Column("sku", String(64), nullable=False),
    Column("title", String(1024)),
    Column("qty_ordered", Integer, nullable=False),
    Column("qty_shipped", Integer, nullable=False),
    Column("unit_price", Money),
    Column("gift_message", BuyerData),
    Column("last_updated", UtcDateTime, nullable=False),
    # Amazon's proceeds breakdown of the item, one column per category and subtype (money.md); null while Amazon
    # shows no amounts (Pending). They add up to proceeds_total.
    *[Column(name, Money) for name in CHANNEL_ITEM_AMOUNTS],
    Column("promotion_ids", String(1024)),  # comma-separated
    Column("tax_collection_model", String(64)),
    Column("tax_reporting_scheme", String(16)),
    # Amazon's item cancellation: who asked and why (request), who cancelled and why (execution), units canceled.
    Column("cancel_requested_by", String(16)),
    Column("cancel_request_reason", String(255)),
    Column("cancelled_by", String(16)),
    Column("cancel_reason", String(255)),
    Column("qty_canceled", Integer, nullable=False, server_default="0"),
    UniqueConstraint("amazon_order_id", "order_item_id", name="uq_channel_item"),
    **TABLE_OPTIONS)

# Orders that failed validation: kept whole with the reasons, re-examined every run until they pass.
channel_amazon_quarantine = Table(
    "channel_amazon_quarantine", metadata,
    _id("id"),
    Column("quarantine_key", String(64), nullable=False, unique=True),
    Column("account_id", String(64), nullable=False, server_default="default"),  # the seller account (accounts file)
    Column("amazon_order_id", String(64)),
    Column("reasons", Text, nullable=False),
    Column("payload", BuyerData(long=True), nullable=False),
    Column("first_seen_run", String(255), nullable=False),
    Column("last_seen_run", String(255), nullable=False),
    Column("resolved", Boolean, nullable=False, default=False),
    Column("resolution", String(255)),
    **TABLE_OPTIONS)

# Outbox of package confirmations to Amazon, one per (shipment, track). The packageReferenceId is the track's
# id, so re-sending after a crash edits the same package at Amazon instead of adding a second one.
channel_amazon_package = Table(
    "channel_amazon_package", metadata,
    _id("id"),
    Column("amazon_order_id", String(32), nullable=False),
    Column("account_id", String(64), nullable=False, server_default="default"),  # the seller account (accounts file)
    Column("marketplace_id", String(32), nullable=False),
    Column("shipment_id", Integer, ForeignKey("sales_shipment.entity_id"), nullable=False),
    Column("track_id", Integer, ForeignKey("sales_shipment_track.entity_id"), nullable=False),
    Column("package_reference_id", String(20), nullable=False),
    Column("carrier_code", String(64), nullable=False),
    Column("carrier_name", String(255)),
    Column("tracking_number", String(255), nullable=False),
    Column("ship_date", UtcDateTime, nullable=False),
    Column("items", Text, nullable=False),  # JSON [{"orderItemId", "quantity"}]
    # pending, sending, sent, confirmed, failed, given_up, empty; held (open buyer cancellation request), canceled
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", String(1024)),
    Column("amazon_request_id", String(64)),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("shipment_id", "track_id", name="uq_package_shipment_track"),
    UniqueConstraint("amazon_order_id", "package_reference_id", name="uq_package_reference"),
    Index("ix_package_state", "state"),
    **TABLE_OPTIONS)

channel_amazon_cancellation = Table(  # outbox: Commerce cancellations sent by the order-acknowledgement feed
    "channel_amazon_cancellation", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("amazon_order_id", String(32), nullable=False, unique=True),
    Column("account_id", String(64), nullable=False, server_default="default"),  # the seller account (accounts file)
    Column("marketplace_id", String(32), nullable=False),
    Column("sales_order_id", Integer, ForeignKey("sales_order.entity_id"), nullable=False),
    Column("reason", String(64), nullable=False),  # Amazon's CancelReason, e.g. NoInventory
    Column("items", Text, nullable=False),  # JSON [{"orderItemId", "quantity"}] cancelled
    # pending, sending (document uploaded, createFeed under way), submitted (feed_id known), accepted, rejected,
    # refused (not sent: Amazon no longer lists the order as Unshipped)
    Column("state", String(16), nullable=False),
    Column("feed_document_id", String(255)),
    Column("feed_id", String(64)),
    Column("message_id", Integer),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", String(1024)),
    Column("requested_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_cancellation_state", "state"),
    Index("ix_cancellation_feed", "feed_id"),
    **TABLE_OPTIONS)

channel_amazon_sync_run = Table(  # one row per (DAG run, marketplace): the Orders view's sync health
    "channel_amazon_sync_run", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(255), nullable=False),
    Column("account_id", String(64), nullable=False, server_default="default"),  # the seller account (accounts file)
    Column("marketplace_id", String(32), nullable=False),
    Column("window_start", UtcDateTime, nullable=False),
    Column("window_end", UtcDateTime, nullable=False),
    Column("orders_seen", Integer, nullable=False),
    Column("commerce_orders_created", Integer, nullable=False),
    Column("orders_blocked", Integer, nullable=False),
    Column("api_calls", Integer, nullable=False),
    Column("throttled", Integer, nullable=False),
    Column("finished_at", UtcDateTime, nullable=False),
    # Two accounts' DAGs have the same run ids (scheduled__<time>): the account is part of the key.
    UniqueConstraint("account_id", "run_id", "marketplace_id", name="uq_sync_run_account_marketplace"),
    Index("ix_sync_run_window", "marketplace_id", "window_end"),
    **TABLE_OPTIONS)

# Tables that record what each run did: they grow with every run by design.
RUN_LOG_TABLES = ("channel_amazon_sync_run",)

DEFAULT_STORES = [{"store_id": 1, "website_id": 1, "code": "default", "name": "Default Store View"}]


def ensure_schema(engine: Engine) -> None:
    """Create missing tables, add missing columns and indexes to existing ones, and the default store; never drops
    or changes anything that is there (an older database is brought up to this schema, its rows kept), except the
    sync-run key, which gained the account (migrate_sync_run_key)."""
    metadata.create_all(engine, checkfirst=True)
    existing = reflect_tables(engine)
    add_missing_columns(engine, existing)
    widen_buyer_data_columns(engine, existing)  # a column just added has its type already: not in `existing`
    migrate_sync_run_key(engine)
    add_missing_indexes(engine, existing)
    with engine.begin() as conn:
        if conn.execute(select(store.c.store_id).limit(1)).first() is None:
            conn.execute(insert(store), DEFAULT_STORES)


def store_websites(conn: Connection) -> dict[int, int]:
    return dict(conn.execute(select(store.c.store_id, store.c.website_id)).all())


class Reflected(NamedTuple):
    columns: dict[str, list[dict]]  # table name -> its columns as the database has them
    indexes: dict[str, list[dict]]


def reflect_tables(engine: Engine) -> Reflected:
    """The schema's tables as the database has them, read once: every pipeline run checks its database (and
    PostgreSQL answers each kind for every table in one query, where asking table by table took a quarter second)."""
    inspector, names = inspect(engine), [table.name for table in metadata.sorted_tables]
    return Reflected(*({table: value for (_, table), value in multi(filter_names=names).items()}
                       for multi in (inspector.get_multi_columns, inspector.get_multi_indexes)))


def add_missing_columns(engine: Engine, existing: Reflected) -> list[str]:
    """ALTER TABLE ... ADD COLUMN for every column the schema has and the database lacks; returns "table.column"
    of each one added. New columns must be nullable or have a server default, so existing rows stay valid."""
    added = []
    with engine.begin() as conn:
        for table in metadata.sorted_tables:
            present = {column["name"] for column in existing.columns.get(table.name, [])}
            for column in table.columns:
                if column.name in present:
                    continue
                if not column.nullable and column.server_default is None:
                    raise RuntimeError(f"cannot add {table.name}.{column.name} to an existing database: a new column "
                                       f"needs to be nullable or to have a server default")
                definition = CreateColumn(column).compile(dialect=engine.dialect)
                conn.exec_driver_sql(f"ALTER TABLE {engine.dialect.identifier_preparer.format_table(table)} "
                                     f"ADD COLUMN {definition}")
                added.append(f"{table.name}.{column.name}")
    return added


def widen_buyer_data_columns(engine: Engine, existing: Reflected) -> list[str]:
    """Buyer data columns of an older database (VARCHAR, or TEXT where a payload needs MEDIUMTEXT on MariaDB) become
    what a sealed value needs (BuyerData); returns "table.column" of each one changed. SQLite has no lengths."""
    if engine.dialect.name == "sqlite":
        return []
    from sqlalchemy.dialects.mysql import MEDIUMTEXT

    changed = []
    with engine.begin() as conn:
        for table in metadata.sorted_tables:
            types = {column["name"]: column["type"] for column in existing.columns.get(table.name, [])}
            for column in table.columns:
                if not isinstance(column.type, BuyerData) or column.name not in types:
                    continue
                have = types[column.name]
                wanted_long = column.type.long and engine.dialect.name == "mysql"
                if isinstance(have, MEDIUMTEXT) or (isinstance(have, Text) and not wanted_long):
                    continue
                name = engine.dialect.identifier_preparer.format_table(table)
                if engine.dialect.name == "postgresql":
                    conn.exec_driver_sql(f'ALTER TABLE {name} ALTER COLUMN "{column.name}" TYPE TEXT')
                else:
                    definition = CreateColumn(column).compile(dialect=engine.dialect)
                    conn.exec_driver_sql(f"ALTER TABLE {name} MODIFY COLUMN {definition}")
                changed.append(f"{table.name}.{column.name}")
    return changed


def add_missing_indexes(engine: Engine, existing: Reflected) -> list[str]:
    """CREATE INDEX for every index the schema has and an existing table lacks (create_all makes them only with a
    new table); returns the names of those created. IF NOT EXISTS: two DAGs may bring one database up at once."""
    created = []
    with engine.begin() as conn:
        for table in metadata.sorted_tables:
            present = {index["name"] for index in existing.indexes.get(table.name, [])}
            for index in sorted(table.indexes, key=lambda i: i.name):
                if index.name not in present:
                    conn.execute(CreateIndex(index, if_not_exists=True))
                    created.append(index.name)
    return created


OLD_SYNC_RUN_KEY = "uq_sync_run_marketplace"  # (run_id, marketplace_id), before accounts
SYNC_RUN_KEY = "uq_sync_run_account_marketplace"


def _has_old_sync_run_key(inspector) -> bool:
    names = {c["name"] for c in inspector.get_unique_constraints(channel_amazon_sync_run.name)}
    names |= {i["name"] for i in inspector.get_indexes(channel_amazon_sync_run.name) if i.get("unique")}
    return OLD_SYNC_RUN_KEY in names


def migrate_sync_run_key(engine: Engine) -> bool:
    """A database made before accounts keys sync-run rows by (run_id, marketplace_id); two accounts' DAGs have the
    same run ids, so the key becomes (account_id, run_id, marketplace_id), rows kept. PostgreSQL and MariaDB swap
    the constraint in place; SQLite cannot drop a constraint, so that one table is rebuilt. Each runs under a lock
    and checks again, so DAGs starting at once migrate once. Returns whether this call migrated."""
    if not _has_old_sync_run_key(inspect(engine)):
        return False
    name = channel_amazon_sync_run.name
    key = ", ".join(next(c for c in channel_amazon_sync_run.constraints if c.name == SYNC_RUN_KEY).columns.keys())
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.exec_driver_sql(f"LOCK TABLE {name} IN ACCESS EXCLUSIVE MODE")
            if not _has_old_sync_run_key(inspect(conn)):
                return False
            conn.exec_driver_sql(f"ALTER TABLE {name} DROP CONSTRAINT {OLD_SYNC_RUN_KEY}, "
                                 f"ADD CONSTRAINT {SYNC_RUN_KEY} UNIQUE ({key})")
        return True
    if engine.dialect.name == "mysql":  # one statement, and idempotent: MariaDB's DDL is not transactional
        with engine.begin() as conn:
            conn.exec_driver_sql(f"ALTER TABLE {name} ADD UNIQUE INDEX IF NOT EXISTS {SYNC_RUN_KEY} ({key}), "
                                 f"DROP INDEX IF EXISTS {OLD_SYNC_RUN_KEY}")
        return True
    return _rebuild_sqlite_sync_run(engine, key)


def _rebuild_sqlite_sync_run(engine: Engine, key: str) -> bool:
    """SQLite: the table made again with the new key, its rows copied, in one write transaction (BEGIN IMMEDIATE
    holds the write lock from the start, so a second DAG waits, then finds nothing left to do)."""
    name, table = channel_amazon_sync_run.name, channel_amazon_sync_run
    columns = ", ".join(f'"{c.name}"' for c in table.columns)
    raw = engine.raw_connection()
    try:
        driver = raw.driver_connection
        isolation = driver.isolation_level
        driver.isolation_level = None  # the statements below manage the transaction themselves
        try:
            driver.execute("BEGIN IMMEDIATE")
            try:
                sql = driver.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
                                     (name,)).fetchone()[0]
                if OLD_SYNC_RUN_KEY not in sql:
                    driver.execute("ROLLBACK")
                    return False
                driver.execute(f"ALTER TABLE {name} RENAME TO {name}_before_accounts")
                for index in table.indexes:  # the renamed table keeps its indexes, under the names the new one needs
                    driver.execute(f"DROP INDEX IF EXISTS {index.name}")
                driver.execute(str(CreateTable(table).compile(dialect=engine.dialect)))
                for index in table.indexes:
                    driver.execute(str(CreateIndex(index).compile(dialect=engine.dialect)))
                driver.execute(f"INSERT INTO {name} ({columns}) SELECT {columns} FROM {name}_before_accounts")
                driver.execute(f"DROP TABLE {name}_before_accounts")
                driver.execute("COMMIT")
            except BaseException:
                driver.execute("ROLLBACK")
                raise
        finally:
            driver.isolation_level = isolation
    finally:
        raw.close()
    return True
