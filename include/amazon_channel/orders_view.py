"""What the Amazon Orders view shows, as queries over the Commerce DB (no Airflow, no web framework).

The grid follows the Commerce extension's Orders tab: orders still Pending at Amazon are not listed (workflow.md,
step 1); they appear once Unshipped. Paging and sorting happen in the database, so a page costs the same with
100,000 orders as with 100.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import Float, and_, case, cast, func, select
from sqlalchemy.engine import Connection

from .commerce.schema import (
    channel_amazon_cancellation,
    channel_amazon_order,
    channel_amazon_order_item,
    channel_amazon_order_note,
    channel_amazon_package,
    channel_amazon_quarantine,
    channel_amazon_sync_run,
    sales_order,
    sales_shipment,
    sales_shipment_track,
)
from .rules import PENDING_STATUSES, due_for_commerce_order
from .timeutil import utcnow

GRID_COLUMNS = ["purchase_date", "amazon_order_id", "account_id", "marketplace_id", "status", "buyer_name",
                "grand_total", "currency", "sales_order_increment_id", "sales_order_id", "fulfillment_channel",
                "items_unshipped", "latest_ship_date", "note", "cancel_requested", "cancel_request_reason",
                "buyer_data_erased_at"]
SORTABLE = ("purchase_date", "amazon_order_id", "status", "buyer_name", "grand_total", "sales_order_increment_id",
            "fulfillment_channel", "items_unshipped", "latest_ship_date")
PAGE_SIZES = (25, 50, 100, 200)
# An item's proceeds as the order page shows them (money.md): the categories, then tax and discount by subtype.
ITEM_MONEY = ("item_amount", "shipping_amount", "gift_wrap_amount", "cod_fee_amount", "other_amount", "tax_amount",
              "discount_amount", "proceeds_total", "item_tax", "shipping_tax", "gift_wrap_tax", "cod_fee_tax",
              "other_tax", "item_discount", "shipping_discount", "other_discount")
PUSH_BACKLOG_STATES = ("pending", "sending")
PUSH_FAILED_STATES = ("failed", "given_up")
ERROR_STATUS = "Error"  # the extension's status for an order whose shipment confirmation Amazon rejected
AWAITING_SHIPMENT = ("Unshipped", "PartiallyShipped")


def _rejected(o=channel_amazon_order.c):
    """Amazon still awaits a shipment of the order and rejected our confirmation of it (a `failed` package: it
    stays so until a corrected track is re-sent and accepted)."""
    p = channel_amazon_package.c
    return and_(o.status.in_(AWAITING_SHIPMENT),
                select(p.id).where(p.amazon_order_id == o.amazon_order_id, p.state == "failed").exists())


def shown_status(o=channel_amazon_order.c):
    """The status the view shows: Amazon's own, or Error while a rejected confirmation is not corrected."""
    return case((_rejected(o), ERROR_STATUS), else_=o.status)


def rejection(o=channel_amazon_order.c):
    """Amazon's message for the order's latest rejected package while the order shows Error, else null."""
    p = channel_amazon_package.c
    message = (select(p.last_error).where(p.amazon_order_id == o.amazon_order_id, p.state == "failed")
               .order_by(p.id.desc()).limit(1).scalar_subquery())
    return case((_rejected(o), message))


@dataclass(frozen=True)
class OrderFilter:
    purchased_from: date | None = None  # whole UTC days, both ends included
    purchased_to: date | None = None
    order_number: str | None = None  # part of the Amazon or the Commerce order number
    buyer_name: str | None = None  # part of the name, any case
    total_min: Decimal | None = None
    total_max: Decimal | None = None
    status: str | None = None
    marketplace_id: str | None = None
    account_id: str | None = None  # the seller account (accounts file) the order came through
    cancel_requested: bool | None = None  # True: only orders with an open buyer cancellation request


def _money(column, conn: Connection):
    """Money is exact text on SQLite; compare and sort it as a number there."""
    return cast(column, Float) if conn.dialect.name == "sqlite" else column


def _conditions(f: OrderFilter, conn: Connection) -> list:
    o = channel_amazon_order.c
    where = [o.status.not_in(PENDING_STATUSES)]
    if f.purchased_from:
        where.append(o.purchase_date >= datetime.combine(f.purchased_from, time(), tzinfo=UTC))
    if f.purchased_to:
        where.append(o.purchase_date < datetime.combine(f.purchased_to + timedelta(days=1), time(), tzinfo=UTC))
    if f.order_number:
        number = f.order_number.strip()
        where.append(o.amazon_order_id.contains(number, autoescape=True)
                     | o.sales_order_increment_id.contains(number, autoescape=True))
    sqlite = conn.dialect.name == "sqlite"
    if f.total_min is not None:
        where.append(_money(o.grand_total, conn) >= (float(f.total_min) if sqlite else f.total_min))
    if f.total_max is not None:
        where.append(_money(o.grand_total, conn) <= (float(f.total_max) if sqlite else f.total_max))
    if f.status == ERROR_STATUS:
        where.append(_rejected(o))
    elif f.status:
        where.append(o.status == f.status)
        if f.status in AWAITING_SHIPMENT:
            where.append(~_rejected(o))  # those show Error
    if f.marketplace_id:
        where.append(o.marketplace_id == f.marketplace_id)
    if f.account_id:
        where.append(o.account_id == f.account_id)
    if f.cancel_requested:
        where.append(o.cancel_requested.is_(True))
    return where


def list_orders(conn: Connection, f: OrderFilter = OrderFilter(), sort: str = "purchase_date",
                descending: bool = True, page: int = 1, page_size: int = 50) -> dict:
    """One page of the grid and the number of matching orders."""
    if sort not in SORTABLE:
        raise ValueError(f"cannot sort by {sort!r}; choose one of {', '.join(SORTABLE)}")
    page_size = page_size if page_size in PAGE_SIZES else 50
    o = channel_amazon_order.c
    where = and_(*_conditions(f, conn))
    key = {"grand_total": _money(o.grand_total, conn), "status": shown_status(o)}.get(sort, o[sort])
    columns = [shown_status(o).label("status") if c == "status" else o[c] for c in GRID_COLUMNS]
    grid = select(*columns, o.status.label("amazon_status"), rejection(o).label("error"))
    if f.buyer_name or sort == "buyer_name":
        return _by_buyer_name(conn, grid, where, f.buyer_name, key, sort, descending, page, page_size)
    total = conn.execute(select(func.count()).select_from(channel_amazon_order).where(where)).scalar_one()
    order_by = [key.desc() if descending else key.asc(), o.amazon_order_id.desc() if descending else o.amazon_order_id]
    page, pages = _page(page, total, page_size)
    rows = conn.execute(grid.where(where).order_by(*order_by)
                        .limit(page_size).offset((page - 1) * page_size)).mappings().all()
    return {"rows": [dict(r) for r in rows], "total": total, "page": page, "pages": pages, "page_size": page_size}


def _page(page: int, total: int, page_size: int) -> tuple[int, int]:
    pages = max(1, -(-total // page_size))
    return min(max(1, page), pages), pages


def _by_buyer_name(conn: Connection, grid, where, name: str | None, key, sort: str, descending: bool, page: int,
                   page_size: int) -> dict:
    """Buyer names are sealed at rest (amazon_channel.crypto), so the database can neither search nor sort them: the
    matching orders' names are read (unsealed) with the sort key, and searched and sorted here; then one page."""
    o = channel_amazon_order.c
    needle = (name or "").strip().lower()
    candidates = [row for row in conn.execute(select(o.amazon_order_id, o.buyer_name, key.label("sort_key"))
                                              .where(where))
                  if needle in (row.buyer_name or "").lower()]
    by = (lambda r: (r.buyer_name is not None, r.buyer_name or "")) if sort == "buyer_name" else (
        lambda r: (r.sort_key is not None, r.sort_key if r.sort_key is not None else 0))
    candidates.sort(key=lambda r: (by(r), r.amazon_order_id), reverse=descending)
    page, pages = _page(page, len(candidates), page_size)
    ids = [r.amazon_order_id for r in candidates[(page - 1) * page_size:page * page_size]]
    rows = {r["amazon_order_id"]: dict(r) for r in conn.execute(grid.where(o.amazon_order_id.in_(ids))).mappings()}
    return {"rows": [rows[i] for i in ids], "total": len(candidates), "page": page, "pages": pages,
            "page_size": page_size}


def filter_choices(conn: Connection) -> dict:
    o = channel_amazon_order.c
    statuses = {s for s in conn.execute(select(o.status).distinct()).scalars() if s not in PENDING_STATUSES}
    if conn.execute(select(o.amazon_order_id).where(_rejected(o)).limit(1)).first():
        statuses.add(ERROR_STATUS)
    return {"statuses": sorted(statuses),
            "marketplaces": list(conn.execute(select(o.marketplace_id).distinct()
                                              .order_by(o.marketplace_id)).scalars()),
            "accounts": list(conn.execute(select(o.account_id).distinct().order_by(o.account_id)).scalars())}


# Buyers' personal data among the view's fields (Amazon's Data Protection Policy): shown only to users allowed to
# see it. Country, region, company and tax registration stay visible: they are what tax invoices need.
BUYER_DATA = frozenset({"buyer_name", "buyer_email", "ship_name", "ship_street", "ship_city", "ship_postcode",
                        "ship_phone", "gift_message"})
HIDDEN = "(hidden)"
# What the view shows, to every role, for the buyer data of an order whose retention period ended: the retention DAG
# (amazon_channel.retention) emptied it and stamped `buyer_data_erased_at`, which every order query returns.
ERASED = "(erased)"


def hide_buyer_data(row: Mapping) -> dict:
    """The row with every BUYER_DATA value replaced by HIDDEN; an empty value stays empty (nothing was there)."""
    return {key: HIDDEN if key in BUYER_DATA and value not in (None, "") else value for key, value in row.items()}


def hide_buyer_data_of_order(detail: dict) -> dict:
    """`order_detail` without buyer data: the order's and its items'."""
    return {**detail, "order": hide_buyer_data(detail["order"]),
            "items": [hide_buyer_data(item) for item in detail["items"]]}


def order_detail(conn: Connection, amazon_order_id: str) -> dict | None:
    """Everything an operator needs about one order: items, address, Commerce order, shipments, notes."""
    o = channel_amazon_order.c
    order = conn.execute(select(channel_amazon_order, shown_status(o).label("shown_status"),
                                rejection(o).label("error")).where(o.amazon_order_id == amazon_order_id)
                         ).mappings().first()
    if order is None:
        return None
    i, n, p, q = (channel_amazon_order_item.c, channel_amazon_order_note.c, channel_amazon_package.c,
                  channel_amazon_quarantine.c)
    items = conn.execute(select(channel_amazon_order_item).where(i.amazon_order_id == amazon_order_id)
                         .order_by(i.order_item_id)).mappings().all()
    notes = conn.execute(select(n.noted_at, n.note).where(n.amazon_order_id == amazon_order_id)
                         .order_by(n.id.desc())).mappings().all()
    packages = conn.execute(select(channel_amazon_package).where(p.amazon_order_id == amazon_order_id)
                            .order_by(p.id)).mappings().all()
    quarantined = conn.execute(select(q.reasons, q.first_seen_run, q.last_seen_run, q.resolved, q.resolution)
                               .where(q.amazon_order_id == amazon_order_id)).mappings().all()
    x = channel_amazon_cancellation.c
    cancellation = conn.execute(select(x.reason, x.state, x.feed_id, x.last_error, x.requested_at, x.updated_at)
                                .where(x.amazon_order_id == amazon_order_id)).mappings().first()
    commerce, shipments = None, []
    if order["sales_order_id"] is not None:
        so, sh, tr = sales_order.c, sales_shipment.c, sales_shipment_track.c
        commerce = conn.execute(select(so.entity_id, so.increment_id, so.state, so.status, so.grand_total,
                                       so.tax_amount, so.total_invoiced, so.total_paid, so.total_refunded,
                                       so.order_currency_code, so.customer_id, so.customer_is_guest)
                                .where(so.entity_id == order["sales_order_id"])).mappings().first()
        tracks = defaultdict(list)
        for track in conn.execute(select(sales_shipment_track).where(tr.order_id == order["sales_order_id"])
                                  .order_by(tr.entity_id)).mappings():
            tracks[track["parent_id"]].append(dict(track))
        shipments = [{**dict(s), "tracks": tracks[s["entity_id"]]} for s in conn.execute(
            select(sales_shipment).where(sh.order_id == order["sales_order_id"]).order_by(sh.entity_id)).mappings()]
    return {"order": dict(order), "items": [dict(r) for r in items], "money": order_money(items),
            "notes": [dict(r) for r in notes],
            "packages": [{**dict(r), "items": json.loads(r["items"])} for r in packages],
            "quarantine": [{**dict(r), "reasons": json.loads(r["reasons"])} for r in quarantined],
            "commerce_order": dict(commerce) if commerce else None, "shipments": shipments,
            "cancellation": dict(cancellation) if cancellation else None}


def order_money(items) -> dict | None:
    """The order's proceeds per category: the sum of its items' (None before Amazon prices the order)."""
    priced = [item for item in items if item["proceeds_total"] is not None]
    if not priced:
        return None
    return {column: sum((item[column] or Decimal(0) for item in priced), Decimal(0)) for column in ITEM_MONEY}


def quarantined_rows(conn: Connection, include_resolved: bool = False, limit: int = 500) -> list[dict]:
    """Rows that failed validation, with their reasons; re-checked by every run until they pass."""
    q = channel_amazon_quarantine.c
    query = select(q.id, q.account_id, q.amazon_order_id, q.reasons, q.first_seen_run, q.last_seen_run, q.resolved,
                   q.resolution)
    if not include_resolved:
        query = query.where(q.resolved.is_(False))
    rows = conn.execute(query.order_by(q.id.desc()).limit(limit)).mappings().all()
    return [{**dict(r), "reasons": json.loads(r["reasons"])} for r in rows]


def blocked_orders(conn: Connection, limit: int = 500) -> list[dict]:
    """Orders that should be Commerce orders but are not yet, with the reason the last run gave."""
    o = channel_amazon_order.c
    rows = conn.execute(select(o.amazon_order_id, o.account_id, o.marketplace_id, o.status, o.fulfillment_channel,
                               o.purchase_date, o.latest_ship_date, o.note)
                        .where(o.sales_order_id.is_(None), o.note.is_not(None), due_for_commerce_order())
                        .order_by(o.latest_ship_date, o.amazon_order_id).limit(limit)).mappings().all()
    return [dict(r) for r in rows]


def sync_health(conn: Connection, now: datetime | None = None, recent_runs: int = 24) -> list[dict]:
    """Per account and marketplace: last successful window, lag, recent runs (for the chart), push backlog and
    failures. Each account's DAG has its own schedule and runs, so each is read on its own."""
    now = now or utcnow()
    r, p, o = channel_amazon_sync_run.c, channel_amazon_package.c, channel_amazon_order.c
    runs = defaultdict(list)
    for account in conn.execute(select(r.account_id).distinct()).scalars():
        mine = r.account_id == account
        cutoff = conn.execute(select(r.window_end).distinct().where(mine).order_by(r.window_end.desc())
                              .limit(1).offset(recent_runs * 4)).scalar()  # bounds the scan: a row per marketplace
        query = select(channel_amazon_sync_run).where(mine)
        if cutoff is not None:
            query = query.where(r.window_end > cutoff)
        for row in conn.execute(query.order_by(r.window_end.desc(), r.id.desc())).mappings():
            if len(runs[account, row["marketplace_id"]]) < recent_runs:
                runs[account, row["marketplace_id"]].append(dict(row))
    packages = defaultdict(dict)
    for account, marketplace, state, count in conn.execute(
            select(p.account_id, p.marketplace_id, p.state, func.count())
            .group_by(p.account_id, p.marketplace_id, p.state)):
        packages[account, marketplace][state] = count
    pending = {(account, marketplace): count for account, marketplace, count in conn.execute(
        select(o.account_id, o.marketplace_id, func.count()).where(o.status.in_(PENDING_STATUSES))
        .group_by(o.account_id, o.marketplace_id))}
    health = []
    for account, marketplace in sorted(set(runs) | set(packages)):
        recent = runs.get((account, marketplace), [])
        last = recent[0] if recent else None
        states = packages.get((account, marketplace), {})
        health.append({
            "account_id": account, "marketplace_id": marketplace,
            "last_window_start": last and last["window_start"], "last_window_end": last and last["window_end"],
            "last_run_id": last and last["run_id"],
            "lag_minutes": last and round((now - last["window_end"]).total_seconds() / 60),
            "recent_runs": list(reversed(recent)),  # oldest first, for the chart
            "created_recent": sum(x["commerce_orders_created"] for x in recent),
            "throttled_recent": sum(x["throttled"] for x in recent),
            "pending_at_amazon": pending.get((account, marketplace), 0),
            "push_backlog": sum(states.get(s, 0) for s in PUSH_BACKLOG_STATES),
            "push_failed": sum(states.get(s, 0) for s in PUSH_FAILED_STATES),
            "push_confirmed": states.get("confirmed", 0) + states.get("sent", 0)})
    return health


def quarantine_count(conn: Connection) -> int:
    q = channel_amazon_quarantine.c
    return conn.execute(select(func.count()).select_from(channel_amazon_quarantine)
                        .where(q.resolved.is_(False))).scalar_one()
