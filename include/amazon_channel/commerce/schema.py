"""The Commerce database, modelled on Magento's sales tables, plus the channel's own tables.

One definition (SQLAlchemy Core) for SQLite, PostgreSQL and MariaDB; `sql/*.sql` is the reviewed DDL generated
from it (`make ddl`; a test keeps them equal). Times are UTC; money is exact (Numeric(20,4), text on SQLite).
"""

from __future__ import annotations

from datetime import UTC
from decimal import Decimal

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
    select,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.types import TypeDecorator

metadata = MetaData()
TABLE_OPTIONS = {"mysql_charset": "utf8mb4", "mysql_collate": "utf8mb4_bin", "mysql_engine": "InnoDB"}
MONEY_QUANTUM = Decimal("0.0001")


class Money(TypeDecorator):
    """Decimal(20,4) everywhere; SQLite has no exact decimal type, so it stores the exact text."""

    impl = Numeric(20, 4)
    cache_ok = True

    def load_dialect_impl(self, dialect):
        return dialect.type_descriptor(String(24) if dialect.name == "sqlite" else Numeric(20, 4))

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        value = Decimal(value).quantize(MONEY_QUANTUM)
        return str(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        return None if value is None else Decimal(value).quantize(MONEY_QUANTUM)


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
    Column("subtotal", Money, nullable=False),
    Column("tax_amount", Money, nullable=False),
    Column("shipping_amount", Money, nullable=False),
    Column("grand_total", Money, nullable=False),
    Column("order_currency_code", String(3), nullable=False),
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
    Column("price", Money, nullable=False),
    Column("row_total", Money, nullable=False),
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
    Column("marketplace_id", String(32), nullable=False),
    Column("store_id", Integer),
    Column("status", String(32), nullable=False),
    Column("fulfillment_channel", String(3), nullable=False),
    Column("purchase_date", UtcDateTime, nullable=False),
    Column("last_updated", UtcDateTime, nullable=False),
    Column("latest_ship_date", UtcDateTime),
    Column("buyer_email", String(255)),
    Column("buyer_name", String(255)),
    Column("buyer_company", String(255)),
    Column("ship_name", String(255)),
    Column("ship_street", String(1024)),
    Column("ship_city", String(255)),
    Column("ship_region", String(255)),
    Column("ship_postcode", String(32)),
    Column("ship_country", String(2)),
    Column("ship_phone", String(64)),
    Column("is_prime", Boolean, nullable=False),
    Column("is_business", Boolean, nullable=False),
    Column("subtotal", Money),
    Column("grand_total", Money),
    Column("currency", String(3)),
    Column("items_unshipped", Integer, nullable=False),
    Column("sales_order_id", Integer, ForeignKey("sales_order.entity_id")),
    Column("sales_order_increment_id", String(64)),
    Column("note", String(1024)),
    Column("amazon_package_refs", String(1024)),  # packageReferenceIds Amazon lists for the order
    Index("ix_channel_order_status", "status", "sales_order_id"),
    Index("ix_channel_order_purchase", "purchase_date"),  # the Orders view's default sort
    **TABLE_OPTIONS)

channel_amazon_order_note = Table(  # every note an order has had, for the Orders view's history
    "channel_amazon_order_note", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("amazon_order_id", String(32), nullable=False),
    Column("noted_at", UtcDateTime, nullable=False),
    Column("note", String(1024), nullable=False),
    Index("ix_order_note_order", "amazon_order_id"),
    **TABLE_OPTIONS)

channel_amazon_order_item = Table(
    "channel_amazon_order_item", metadata,
    _id("id"),
    Column("amazon_order_id", String(32), nullable=False),
    Column("order_item_id", String(64), nullable=False),
    Column("sku", String(64), nullable=False),
    Column("title", String(1024)),
    Column("qty_ordered", Integer, nullable=False),
    Column("qty_shipped", Integer, nullable=False),
    Column("unit_price", Money),
    Column("gift_message", Text),
    Column("last_updated", UtcDateTime, nullable=False),
    UniqueConstraint("amazon_order_id", "order_item_id", name="uq_channel_item"),
    **TABLE_OPTIONS)

# Orders that failed validation: kept whole with the reasons, re-examined every run until they pass.
channel_amazon_quarantine = Table(
    "channel_amazon_quarantine", metadata,
    _id("id"),
    Column("quarantine_key", String(64), nullable=False, unique=True),
    Column("amazon_order_id", String(64)),
    Column("reasons", Text, nullable=False),
    Column("payload", Text, nullable=False),
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
    Column("marketplace_id", String(32), nullable=False),
    Column("shipment_id", Integer, ForeignKey("sales_shipment.entity_id"), nullable=False),
    Column("track_id", Integer, ForeignKey("sales_shipment_track.entity_id"), nullable=False),
    Column("package_reference_id", String(20), nullable=False),
    Column("carrier_code", String(64), nullable=False),
    Column("carrier_name", String(255)),
    Column("tracking_number", String(255), nullable=False),
    Column("ship_date", UtcDateTime, nullable=False),
    Column("items", Text, nullable=False),  # JSON [{"orderItemId", "quantity"}]
    Column("state", String(16), nullable=False),  # pending, sending, sent, confirmed, failed, given_up, empty
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", String(1024)),
    Column("amazon_request_id", String(64)),
    Column("updated_at", UtcDateTime, nullable=False),
    UniqueConstraint("shipment_id", "track_id", name="uq_package_shipment_track"),
    UniqueConstraint("amazon_order_id", "package_reference_id", name="uq_package_reference"),
    Index("ix_package_state", "state"),
    **TABLE_OPTIONS)

channel_amazon_sync_run = Table(  # one row per (DAG run, marketplace): the Orders view's sync health
    "channel_amazon_sync_run", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(255), nullable=False),
    Column("marketplace_id", String(32), nullable=False),
    Column("window_start", UtcDateTime, nullable=False),
    Column("window_end", UtcDateTime, nullable=False),
    Column("orders_seen", Integer, nullable=False),
    Column("commerce_orders_created", Integer, nullable=False),
    Column("orders_blocked", Integer, nullable=False),
    Column("api_calls", Integer, nullable=False),
    Column("throttled", Integer, nullable=False),
    Column("finished_at", UtcDateTime, nullable=False),
    UniqueConstraint("run_id", "marketplace_id", name="uq_sync_run_marketplace"),
    Index("ix_sync_run_window", "marketplace_id", "window_end"),
    **TABLE_OPTIONS)

# Tables that record what each run did: they grow with every run by design.
RUN_LOG_TABLES = ("channel_amazon_sync_run",)

DEFAULT_STORES = [{"store_id": 1, "website_id": 1, "code": "default", "name": "Default Store View"}]


def ensure_schema(engine: Engine) -> None:
    """Create missing tables and the default store; never alters or drops anything."""
    metadata.create_all(engine, checkfirst=True)
    with engine.begin() as conn:
        if conn.execute(select(store.c.store_id).limit(1)).first() is None:
            conn.execute(insert(store), DEFAULT_STORES)


def store_websites(conn: Connection) -> dict[int, int]:
    return dict(conn.execute(select(store.c.store_id, store.c.website_id)).all())
