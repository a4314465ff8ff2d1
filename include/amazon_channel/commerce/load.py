"""Load: channel tables, customers and Commerce orders, set-based, following the Order Settings.

`load_orders` runs in one transaction: it upserts the batch into the channel tables (newer Amazon data wins),
then creates Commerce orders for *every* channel order that should have one and has none yet (this batch's and
earlier blocked ones), cancels what Amazon canceled, and keeps stock reservations in step. Re-running it, or
loading overlapping windows, changes nothing that is already right.
"""

from __future__ import annotations

import logging
from decimal import Decimal

import pandas as pd
from sqlalchemy import Table, and_, bindparam, func, select, update
from sqlalchemy.engine import Connection, Engine

from ..batching import IN_LIST, chunked
from ..rules import NOT_SHARED, PENDING_STATUSES, buyer_identity, due_for_commerce_order
from ..settings import OrderSettings
from ..summaries import CustomersSummary, LoadSummary, RunRecord
from ..timeutil import parse_iso, utcnow
from .db import insert_missing, upsert
from .notes import add_history, set_notes
from .schema import (
    catalog_product,
    channel_amazon_order,
    channel_amazon_order_item,
    channel_amazon_sync_run,
    customer_entity,
    inventory_reservation,
    sales_order,
    sales_order_address,
    sales_order_item,
    sales_sequence,
    store_websites,
)

log = logging.getLogger(__name__)

FRAME_ROWS = 10_000  # rows turned into dicts at a time: a 100,000-order load never holds them all
ORDER_COLUMNS = ["amazon_order_id", "marketplace_id", "store_id", "status", "fulfillment_channel", "purchase_date",
                 "last_updated", "latest_ship_date", "buyer_email", "buyer_name", "buyer_company", "ship_name",
                 "ship_street", "ship_city", "ship_region", "ship_postcode", "ship_country", "ship_phone", "is_prime",
                 "is_business", "subtotal", "grand_total", "currency", "items_unshipped", "amazon_package_refs"]
ITEM_COLUMNS = ["amazon_order_id", "order_item_id", "sku", "title", "qty_ordered", "qty_shipped", "unit_price",
                "gift_message", "last_updated"]


def _money(value) -> Decimal | None:
    return None if value is None or pd.isna(value) else Decimal(int(value)).scaleb(-4)


def _records(frame: pd.DataFrame, columns: list[str]) -> list[dict]:
    """Rows as plain Python values for the driver (NA -> None; aware Timestamps are datetimes)."""
    return frame[columns].astype(object).where(frame[columns].notna(), None).to_dict("records")


def _insert_frame(conn: Connection, table: Table, frame: pd.DataFrame, keys: list[str]) -> None:
    """Insert the frame's rows whose `keys` are not there yet, a slice at a time (peak memory stays flat)."""
    for part in chunked(frame, FRAME_ROWS):
        insert_missing(conn, table, _records(part, list(frame.columns)), keys)


def _frame(conn: Connection, query) -> pd.DataFrame:
    """A query's rows as a frame, from plain tuples (row mappings cost several times the memory)."""
    result = conn.execute(query)
    return pd.DataFrame(result.all(), columns=list(result.keys()))


def _store_ids(frame: pd.DataFrame, settings: OrderSettings) -> pd.Series:
    stores = {mp: settings.for_marketplace(mp).store_id for mp in frame["marketplace_id"].dropna().unique()}
    return frame["marketplace_id"].map(stores)


def load_customers(engine: Engine, orders: pd.DataFrame, settings: OrderSettings) -> CustomersSummary:
    """Create customers (email unique per website) for orders in stores set to 'create new customer'."""
    modes = {mp: settings.for_marketplace(mp) for mp in orders["marketplace_id"].dropna().unique()}
    wants = orders["marketplace_id"].map(lambda mp: modes[mp].customer_mode == "create" and modes[mp].import_enabled)
    eligible = orders[wants.astype(bool) & orders["commerce_state"].isin(["processing", "complete"])
                      & ~orders["email_is_placeholder"]].copy()
    with engine.begin() as conn:
        websites = store_websites(conn)
        eligible["website_id"] = _store_ids(eligible, settings).map(websites)
        unknown = eligible["website_id"].isna()
        if unknown.any():
            raise ValueError("Order Settings name a store_id that is not in the store table")
        eligible = eligible.sort_values("purchase_date").drop_duplicates(["buyer_email", "website_id"])
        customers = pd.DataFrame({"email": eligible["buyer_email"], "website_id": eligible["website_id"].astype(int),
                                  "firstname": eligible["firstname"], "lastname": eligible["lastname"],
                                  "created_at": eligible["purchase_date"]})
        before = conn.execute(select(func.count()).select_from(customer_entity)).scalar_one()
        _insert_frame(conn, customer_entity, customers, ["email", "website_id"])
        created = conn.execute(select(func.count()).select_from(customer_entity)).scalar_one() - before
    return {"customers_considered": len(customers), "customers_created": created}


def load_orders(engine: Engine, orders: pd.DataFrame, items: pd.DataFrame, settings: OrderSettings,
                run: RunRecord | None = None) -> LoadSummary:
    """With `run`, this run's row per marketplace is recorded for the sync health view."""
    seen = orders["marketplace_id"].value_counts()
    # FBA orders are not imported until Amazon ships them (workflow.md, FBA step 2); shipping updates their
    # last-updated time, so a later window brings them back.
    waiting_fba = orders["fulfillment_channel"].eq("AFN") & orders["status"].ne("Shipped")
    orders = orders[~waiting_fba]
    items = items[items["amazon_order_id"].isin(orders["amazon_order_id"])]
    now = utcnow()
    with engine.begin() as conn:
        upserted = _upsert_channel(conn, orders, items, settings)
        _reserve_pending(conn, settings)
        created, blocked = _create_commerce_orders(conn, settings, now)
        canceled = _cancel_orders(conn, now)
        if run is not None:
            _record_run(conn, run, seen, created, blocked, now)
    summary: LoadSummary = {
        "channel_orders_upserted": int(upserted), "fba_orders_not_shipped_yet": int(waiting_fba.sum()),
        "commerce_orders_created": int(created.sum()), "orders_blocked": int(blocked.sum()),
        "commerce_orders_canceled": int(canceled)}
    log.info("load_orders: %s", summary)
    return summary


def _record_run(conn: Connection, run: RunRecord, seen: pd.Series, created: pd.Series, blocked: pd.Series,
                now) -> None:
    """One row per marketplace the channel knows, so a quiet hour still counts as a successful window."""
    known = set(conn.execute(select(channel_amazon_order.c.marketplace_id).distinct()).scalars()) | set(seen.index)
    rows = [{"run_id": run["run_id"], "marketplace_id": mp, "window_start": parse_iso(run["window_start"]),
             "window_end": parse_iso(run["window_end"]), "orders_seen": int(seen.get(mp, 0)),
             "commerce_orders_created": int(created.get(mp, 0)), "orders_blocked": int(blocked.get(mp, 0)),
             "api_calls": int(run.get("api_calls", 0)), "throttled": int(run.get("throttled", 0)),
             "finished_at": now} for mp in sorted(known)]
    upsert(conn, channel_amazon_sync_run, rows, ["run_id", "marketplace_id"],
           ["window_start", "window_end", "orders_seen", "commerce_orders_created", "orders_blocked", "api_calls",
            "throttled", "finished_at"])


def _upsert_channel(conn: Connection, orders: pd.DataFrame, items: pd.DataFrame, settings: OrderSettings) -> int:
    frame = orders.assign(store_id=_store_ids(orders, settings), subtotal=orders["subtotal_e4"],
                          grand_total=orders["grand_total_e4"])
    keep = ["sales_order_id", "sales_order_increment_id", "note", "amazon_order_id"]
    for part in chunked(frame, FRAME_ROWS):
        rows = _records(part, ORDER_COLUMNS)
        for row in rows:
            row["subtotal"], row["grand_total"] = _money(row["subtotal"]), _money(row["grand_total"])
        upsert(conn, channel_amazon_order, rows, ["amazon_order_id"], [c for c in ORDER_COLUMNS if c not in keep],
               newer="last_updated")
    for part in chunked(items.assign(unit_price=items["unit_price_e4"]), FRAME_ROWS):
        rows = _records(part, ITEM_COLUMNS)
        for row in rows:
            row["unit_price"] = _money(row["unit_price"])
        upsert(conn, channel_amazon_order_item, rows, ["amazon_order_id", "order_item_id"],
               [c for c in ITEM_COLUMNS if c not in ("amazon_order_id", "order_item_id")], newer="last_updated")
    return len(frame)


def _marketplaces(conn: Connection, settings: OrderSettings, want) -> list[str]:
    known = conn.execute(select(channel_amazon_order.c.marketplace_id).distinct()).scalars().all()
    return [mp for mp in known if want(settings.for_marketplace(mp))]


def _needs_commerce_order(conn: Connection, settings: OrderSettings):
    """Channel orders that should have a Commerce order under the settings and have none yet."""
    enabled = _marketplaces(conn, settings, lambda s: s.import_enabled)
    fba = _marketplaces(conn, settings, lambda s: s.import_enabled and s.fba_create_order)
    return and_(channel_amazon_order.c.sales_order_id.is_(None), due_for_commerce_order(enabled, fba))


def _reserve_pending(conn: Connection, settings: OrderSettings) -> None:
    """Reserve stock for Pending merchant orders where the settings ask for it."""
    reserving = _marketplaces(conn, settings, lambda s: s.import_enabled and s.reserve_pending_stock)
    if not reserving:
        return
    o, i, p = channel_amazon_order.c, channel_amazon_order_item.c, catalog_product.c
    rows = conn.execute(
        select(i.amazon_order_id.label("ext_order_id"), i.sku, (-i.qty_ordered).label("quantity"))
        .join(channel_amazon_order, o.amazon_order_id == i.amazon_order_id)
        .join(catalog_product, p.sku == i.sku)
        .where(o.status.in_(PENDING_STATUSES), o.fulfillment_channel == "MFN", o.marketplace_id.in_(reserving),
               p.manage_stock.is_(True))).mappings().all()
    insert_missing(conn, inventory_reservation, [{**r, "event": "order_placed"} for r in rows],
                   ["ext_order_id", "sku", "event"])


def _create_commerce_orders(conn: Connection, settings: OrderSettings, now) -> tuple[pd.Series, pd.Series]:
    """Create what can be created; returns orders created and blocked, counted per marketplace.

    Orders are numbered oldest first (purchase date, then Amazon order id) within each store, so a re-run or
    another database numbers the same orders the same way.
    """
    pending = _needs_commerce_order(conn, settings)
    candidates = _frame(conn, select(channel_amazon_order).where(pending))
    none = pd.Series(dtype=int)
    if candidates.empty:
        return none, none
    lines = _candidate_lines(conn, pending)
    blocks = _blocking_reasons(conn, candidates, lines, pending)
    is_blocked = candidates["amazon_order_id"].isin(blocks.index)
    ok = candidates[~is_blocked].sort_values(["purchase_date", "amazon_order_id"])

    set_notes(conn, blocks.to_dict(), now)
    blocked = candidates.loc[is_blocked, "marketplace_id"].value_counts()
    if ok.empty:
        return none, blocked

    mp_settings = {mp: settings.for_marketplace(mp) for mp in ok["marketplace_id"].unique()}
    websites = store_websites(conn)
    ok = ok.assign(increment_id=_increment_ids(conn, ok, mp_settings))
    ok["customer_id"] = _customer_ids(conn, ok, mp_settings, websites)
    order_lines = lines[lines["amazon_order_id"].isin(ok["amazon_order_id"])]
    buyer = _buyer(ok)

    _insert_frame(conn, sales_order, _sales_order_rows(ok, order_lines, buyer, mp_settings), ["ext_order_id"])
    entity = _lookup(conn, sales_order.c.ext_order_id, sales_order.c.entity_id, list(ok["amazon_order_id"]))
    _insert_frame(conn, sales_order_item, _sales_order_item_rows(conn, order_lines, entity),
                  ["order_id", "ext_order_item_id"])
    _insert_frame(conn, sales_order_address, _sales_order_address_rows(ok, buyer, entity),
                  ["parent_id", "address_type"])
    _insert_frame(conn, inventory_reservation, _reservation_rows(conn, order_lines), ["ext_order_id", "sku", "event"])
    _link_channel_orders(conn, ok, entity, now)
    return ok["marketplace_id"].value_counts(), blocked


def _candidate_lines(conn: Connection, pending) -> pd.DataFrame:
    """The channel items of the candidate orders, with their order's fulfillment channel and purchase date."""
    o, i = channel_amazon_order.c, channel_amazon_order_item.c
    return _frame(conn, select(channel_amazon_order_item, o.fulfillment_channel, o.purchase_date)
                  .join(channel_amazon_order, o.amazon_order_id == i.amazon_order_id).where(pending))


def _buyer(ok: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(first name, last name, order email) of each order, placeholders included (rules.buyer_identity)."""
    return buyer_identity(ok.astype({c: "string" for c in ("buyer_name", "ship_name", "buyer_email",
                                                             "amazon_order_id")}))


def _sales_order_rows(ok: pd.DataFrame, order_lines: pd.DataFrame, buyer: tuple, mp_settings: dict) -> pd.DataFrame:
    """sales_order: one row per order. Merchant orders are processing, in the store's new-order status; FBA orders,
    shipped by Amazon already, are complete. Shipping is what the grand total holds above the subtotal."""
    firstname, lastname, email = buyer
    state = ok["fulfillment_channel"].map({"MFN": "processing", "AFN": "complete"})
    status = ok["marketplace_id"].map({mp: s.new_order_status for mp, s in mp_settings.items()})
    status = status.where(state == "processing", "complete")
    qty = order_lines.groupby("amazon_order_id")["qty_ordered"].sum()
    sales = pd.DataFrame({
        "increment_id": ok["increment_id"], "store_id": ok["store_id"].astype(int), "state": state, "status": status,
        "customer_id": ok["customer_id"], "customer_is_guest": ok["customer_id"].isna(),
        "customer_email": email, "customer_firstname": firstname, "customer_lastname": lastname,
        "subtotal": ok["subtotal"], "tax_amount": Decimal(0), "grand_total": ok["grand_total"],
        "order_currency_code": ok["currency"], "total_qty_ordered": ok["amazon_order_id"].map(qty).astype(int),
        "ext_order_id": ok["amazon_order_id"], "send_email": False,
        "created_at": ok["purchase_date"], "updated_at": ok["last_updated"]})
    sales["shipping_amount"] = [max(g - s, Decimal(0))
                                for g, s in zip(sales["grand_total"], sales["subtotal"], strict=True)]
    return sales


# Magento's sales_order_item.name is varchar(255); Amazon titles run to 1024 (the channel table keeps them whole).
ITEM_NAME_LENGTH = sales_order_item.c.name.type.length


def _sales_order_item_rows(conn: Connection, order_lines: pd.DataFrame, entity: dict) -> pd.DataFrame:
    """sales_order_item: one row per Amazon order item, linked to its Commerce order and catalog product."""
    products = _lookup(conn, catalog_product.c.sku, catalog_product.c.entity_id, list(order_lines["sku"].unique()))
    return pd.DataFrame({
        "order_id": order_lines["amazon_order_id"].map(entity), "ext_order_item_id": order_lines["order_item_id"],
        "sku": order_lines["sku"], "name": order_lines["title"].str.slice(0, ITEM_NAME_LENGTH),
        "product_id": order_lines["sku"].map(products),
        "qty_ordered": order_lines["qty_ordered"], "qty_shipped": 0, "qty_canceled": 0,
        "price": order_lines["unit_price"],
        "row_total": [p * q for p, q in zip(order_lines["unit_price"], order_lines["qty_ordered"], strict=True)],
        "gift_message": order_lines["gift_message"]})


def _sales_order_address_rows(ok: pd.DataFrame, buyer: tuple, entity: dict) -> pd.DataFrame:
    """sales_order_address: the shipping address, and the same again as billing. A street or phone Amazon withholds
    (FBA) is marked NOT_SHARED and the address flagged as a placeholder."""
    firstname, lastname, email = buyer
    fba = ok["fulfillment_channel"].eq("AFN") | ok["ship_street"].isna()
    address = pd.DataFrame({
        "parent_id": ok["amazon_order_id"].map(entity), "firstname": firstname, "lastname": lastname,
        "company": ok["buyer_company"], "street": ok["ship_street"].fillna(NOT_SHARED),
        "city": ok["ship_city"], "region": ok["ship_region"], "postcode": ok["ship_postcode"],
        "country_id": ok["ship_country"], "telephone": ok["ship_phone"].fillna(NOT_SHARED),
        "email": email, "is_placeholder": fba})
    return pd.concat([address.assign(address_type="shipping"), address.assign(address_type="billing")])


def _reservation_rows(conn: Connection, order_lines: pd.DataFrame) -> pd.DataFrame:
    """inventory_reservation: merchant orders reserve the stock of SKUs whose stock is managed; FBA orders never
    touch Commerce stock."""
    merchant_lines = order_lines[order_lines["fulfillment_channel"].eq("MFN")]
    managed = _lookup(conn, catalog_product.c.sku, catalog_product.c.manage_stock, list(merchant_lines["sku"].unique()))
    merchant_lines = merchant_lines[merchant_lines["sku"].map(managed).fillna(False).astype(bool)]
    return pd.DataFrame({"sku": merchant_lines["sku"], "quantity": -merchant_lines["qty_ordered"],
                         "ext_order_id": merchant_lines["amazon_order_id"], "event": "order_placed"})


def _link_channel_orders(conn: Connection, ok: pd.DataFrame, entity: dict, now) -> None:
    """channel_amazon_order: each order points at its new Commerce order, with a note (and history row) saying so."""
    o = channel_amazon_order.c
    links = [{"b_id": oid, "sales_order_id": int(entity[oid]), "inc": inc, "note": f"Commerce order #{inc} created"}
             for oid, inc in zip(ok["amazon_order_id"], ok["increment_id"], strict=True)]
    conn.execute(update(channel_amazon_order).where(o.amazon_order_id == bindparam("b_id")).values(
        sales_order_id=bindparam("sales_order_id"), sales_order_increment_id=bindparam("inc"), note=bindparam("note")),
        links)
    add_history(conn, {link["b_id"]: link["note"] for link in links}, now)


def _lookup(conn: Connection, key_column, value_column, keys: list) -> dict:
    found = {}
    for chunk in chunked(keys, IN_LIST):
        found.update(conn.execute(select(key_column, value_column).where(key_column.in_(chunk))).all())
    return found


def _blocking_reasons(conn: Connection, candidates: pd.DataFrame, lines: pd.DataFrame, pending) -> pd.Series:
    """Why some candidate orders cannot become Commerce orders yet: amazon_order_id -> note."""
    p = catalog_product.c
    products = pd.DataFrame(conn.execute(select(p.sku, p.enabled, p.qty, p.manage_stock)
                                         .where(p.sku.in_(list(lines["sku"].unique())))).mappings().all(),
                            columns=["sku", "enabled", "qty", "manage_stock"])
    line = lines.merge(products, on="sku", how="left")
    reason = pd.Series(pd.NA, index=line.index, dtype="string")
    reason[line["enabled"].isna()] = "Cannot create order: SKU " + line["sku"] + " not in catalog"
    reason[reason.isna() & line["enabled"].eq(False)] = "Cannot create order: product " + line["sku"] + " is disabled"

    # Stock: what the catalog holds minus what other orders reserved, handed out oldest order first.
    r = inventory_reservation.c
    others = select(channel_amazon_order.c.amazon_order_id).where(pending)
    reserved = dict(conn.execute(select(r.sku, func.sum(r.quantity)).where(
        r.sku.in_(list(products["sku"])), r.ext_order_id.not_in(others)).group_by(r.sku)).all())
    stocked = line["fulfillment_channel"].eq("MFN") & line["manage_stock"].eq(True) & reason.isna()
    salable = line["qty"].astype(float) + line["sku"].map(reserved).fillna(0).astype(float)
    demand = line[stocked].sort_values(["purchase_date", "amazon_order_id"]).groupby("sku")["qty_ordered"].cumsum()
    short = demand[demand > salable[demand.index]].index
    reason[short] = "Cannot create order: product " + line.loc[short, "sku"] + " is out of stock"

    no_address = candidates["fulfillment_channel"].eq("MFN") & (candidates["ship_street"].isna()
                                                               | candidates["ship_country"].isna())
    by_line = line.assign(reason=reason).dropna(subset=["reason"]).groupby("amazon_order_id")["reason"].first()
    by_address = pd.Series("Cannot create order: shipping address incomplete",
                           index=candidates.loc[no_address, "amazon_order_id"], dtype="string")
    return pd.concat([by_line, by_address[~by_address.index.isin(by_line.index)]])


def _increment_ids(conn: Connection, ok: pd.DataFrame, mp_settings: dict) -> pd.Series:
    """Order numbers: the store's own sequence, or the Amazon order id with an optional prefix."""
    numbers = pd.Series("", index=ok.index, dtype="string")
    use_amazon = ok["marketplace_id"].map(lambda mp: mp_settings[mp].order_number == "amazon").astype(bool)
    prefix = ok["marketplace_id"].map(lambda mp: mp_settings[mp].order_number_prefix)
    fba_prefix = ok["marketplace_id"].map(lambda mp: mp_settings[mp].fba_order_number_prefix)
    prefix = prefix.where(ok["fulfillment_channel"].eq("MFN"), fba_prefix)
    numbers[use_amazon] = prefix[use_amazon] + ok.loc[use_amazon, "amazon_order_id"]
    s = sales_sequence.c
    for store_id, group in ok[~use_amazon].groupby("store_id", sort=True):
        store_id = int(store_id)
        insert_missing(conn, sales_sequence, [{"store_id": store_id, "last_value": 0}], ["store_id"])
        # The UPDATE takes the row lock, so concurrent loads get disjoint ranges.
        conn.execute(update(sales_sequence).where(s.store_id == store_id).values(last_value=s.last_value + len(group)))
        last = conn.execute(select(s.last_value).where(s.store_id == store_id)).scalar_one()
        sequence = range(last - len(group) + 1, last + 1)
        store_prefix = "" if store_id == 1 else str(store_id)
        numbers[group.index] = [f"{prefix[idx]}{store_prefix}{n:09d}"
                                for idx, n in zip(group.index, sequence, strict=True)]
    return numbers


def _customer_ids(conn: Connection, ok: pd.DataFrame, mp_settings: dict, websites: dict) -> pd.Series:
    mode = ok["marketplace_id"].map(lambda mp: mp_settings[mp].customer_mode)
    ids = pd.Series(pd.NA, index=ok.index, dtype="Int64")
    predefined = mode.eq("predefined")
    ids[predefined] = ok.loc[predefined, "marketplace_id"].map(lambda mp: mp_settings[mp].predefined_customer_id)
    create = mode.eq("create") & ok["buyer_email"].notna()
    if create.any():
        c = customer_entity.c
        found = {}
        for chunk in chunked(list(ok.loc[create, "buyer_email"].unique()), IN_LIST):
            found.update({(e, w): i for i, e, w in conn.execute(
                select(c.entity_id, c.email, c.website_id).where(c.email.in_(chunk))).all()})
        keys = zip(ok.loc[create, "buyer_email"], ok.loc[create, "store_id"].map(websites), strict=True)
        ids[create] = [found.get(k) for k in keys]
    return ids


def _cancel_orders(conn: Connection, now) -> int:
    """Amazon canceled before shipment: cancel the Commerce order and release every reservation it held."""
    o, so, r = channel_amazon_order.c, sales_order.c, inventory_reservation.c
    to_cancel = conn.execute(select(so.entity_id, o.last_updated, so.increment_id).join(
        channel_amazon_order, o.sales_order_id == so.entity_id).where(
        o.status == "Canceled", so.state.not_in(["canceled", "complete"]))).all()
    if to_cancel:
        conn.execute(update(sales_order).where(so.entity_id == bindparam("b_id")).values(
            state="canceled", status="canceled", updated_at=bindparam("b_updated")),
            [{"b_id": e, "b_updated": t} for e, t, _ in to_cancel])
        canceled = dict(conn.execute(select(o.sales_order_id, o.amazon_order_id)
                                     .where(o.sales_order_id.in_([e for e, _, _ in to_cancel]))).all())
        set_notes(conn, {canceled[e]: f"Canceled by Amazon; Commerce order #{n} canceled" for e, _, n in to_cancel},
                  now)
    held = conn.execute(select(r.ext_order_id, r.sku, func.sum(r.quantity)).join(
        channel_amazon_order, o.amazon_order_id == r.ext_order_id).where(o.status == "Canceled")
        .group_by(r.ext_order_id, r.sku).having(func.sum(r.quantity) < 0)).all()
    insert_missing(conn, inventory_reservation, [
        {"ext_order_id": e, "sku": s, "quantity": -q, "event": "order_canceled"} for e, s, q in held],
        ["ext_order_id", "sku", "event"])
    return len(to_cancel)
