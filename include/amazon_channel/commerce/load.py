"""Load: channel tables, customers and Commerce orders, set-based, following the Order Settings.

`load_orders` runs in one transaction: it upserts the batch into the channel tables (newer Amazon data wins),
then creates Commerce orders for *every* channel order that should have one and has none yet (this batch's and
earlier blocked ones), each paid and invoiced with Amazon's own amounts (money.md), refunds what Amazon canceled,
notes later changes of amounts, and keeps stock reservations in step. Re-running it, or loading overlapping windows,
changes nothing that is already right.
"""

from __future__ import annotations

import logging
from decimal import ROUND_HALF_UP, Decimal

import pandas as pd
from sqlalchemy import Table, and_, bindparam, func, literal, select, update
from sqlalchemy.engine import Connection, Engine

from ..accounts import DEFAULT_ACCOUNT_ID
from ..batching import IN_LIST, chunked
from ..rules import CURRENCY_DECIMALS, NOT_SHARED, PENDING_STATUSES, buyer_identity, due_for_commerce_order
from ..settings import OrderSettings
from ..summaries import CustomersSummary, LoadSummary, RunRecord
from ..timeutil import parse_iso, utcnow
from .db import copy_missing, in_transaction, insert_missing, upsert
from .notes import add_history, note_once, set_notes, unrecorded
from .schema import (
    CHANNEL_ITEM_AMOUNTS,
    CREDITMEMO_REFUNDED,
    DOCUMENT_TOTALS,
    INVOICE_PAID,
    LINE_AMOUNTS,
    MONEY_QUANTUM,
    base_twin,
    catalog_product,
    channel_amazon_order,
    channel_amazon_order_item,
    channel_amazon_sync_run,
    customer_entity,
    inventory_reservation,
    sales_creditmemo,
    sales_creditmemo_item,
    sales_invoice,
    sales_invoice_item,
    sales_order,
    sales_order_address,
    sales_order_item,
    sales_order_payment,
    sales_order_status_history,
    sales_sequence,
    store_websites,
)

log = logging.getLogger(__name__)

FRAME_ROWS = 10_000  # rows turned into Python values at a time: a 100,000-order load never holds them all
ORDER_COLUMNS = ["amazon_order_id", "marketplace_id", "store_id", "status", "fulfillment_channel", "purchase_date",
                 "last_updated", "latest_ship_date", "deliver_by", "buyer_email", "buyer_name", "buyer_company",
                 "ship_name", "ship_street", "ship_city", "ship_region", "ship_postcode", "ship_country", "ship_phone",
                 "is_prime", "is_business", "subtotal", "grand_total", "currency", "items_unshipped",
                 "amazon_package_refs", "delivery_tip", "delivery_tip_status", "purchase_order_number",
                 "buyer_tax_registration", "cancel_requested", "cancel_request_reason"]
ITEM_COLUMNS = ["amazon_order_id", "order_item_id", "sku", "title", "qty_ordered", "qty_shipped", "unit_price",
                "gift_message", "last_updated", *CHANNEL_ITEM_AMOUNTS, "promotion_ids", "tax_collection_model",
                "tax_reporting_scheme", "cancel_requested_by", "cancel_request_reason", "cancelled_by",
                "cancel_reason", "qty_canceled"]
# Amounts the transform hands on as integer ten-thousandths (`<name>_e4`), stored as Money under `<name>`.
ORDER_MONEY = ["subtotal", "grand_total", "delivery_tip"]
ITEM_MONEY = ["unit_price", *CHANNEL_ITEM_AMOUNTS]
ZERO = Decimal(0)
MAX_LISTED_REQUESTS = 100  # new buyer cancellation requests named in the load summary (all are counted)


def _money(values: pd.Series) -> pd.Series:
    """Integer ten-thousandths as exact Decimals (each distinct amount made once); null stays null."""
    values = values.astype("Int64")
    return values.map({amount: Decimal(int(amount)).scaleb(-4) for amount in values.dropna().unique()},
                      na_action="ignore").astype(object)


def _with_money(frame: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    return frame.assign(**{name: _money(frame[f"{name}_e4"]) for name in names})


def money_text(amount: Decimal, currency: str) -> str:
    """An amount as people read it: the currency's own digits (JPY none), then the code."""
    return f"{amount.quantize(Decimal(1).scaleb(-CURRENCY_DECIMALS.get(currency, 2)))} {currency}"


def _columns(frame: pd.DataFrame, columns: list[str]) -> dict[str, list]:
    """The frame's rows by column, as plain Python values for the driver (NA -> None; aware Timestamps are
    datetimes): what db.upsert and db.insert_missing write, without making a dict per row."""
    return {c: frame[c].astype(object).where(frame[c].notna(), None).tolist() for c in columns}


def _insert_frame(conn: Connection, table: Table, frame: pd.DataFrame, keys: list[str]) -> None:
    """Insert the frame's rows whose `keys` are not there yet, a slice at a time (peak memory stays flat)."""
    for part in chunked(frame, FRAME_ROWS):
        insert_missing(conn, table, _columns(part, list(frame.columns)), keys)


def _frame(conn: Connection, query) -> pd.DataFrame:
    """A query's rows as a frame, from plain tuples (row mappings cost several times the memory, and pandas probes
    each SQLAlchemy Row for named-tuple attributes, which costs five times the tuples' own time)."""
    result = conn.execute(query)
    return pd.DataFrame([tuple(row) for row in result], columns=list(result.keys()))


def _store_ids(frame: pd.DataFrame, settings: OrderSettings) -> pd.Series:
    stores = {mp: settings.for_marketplace(mp).store_id for mp in frame["marketplace_id"].dropna().unique()}
    return frame["marketplace_id"].map(stores)


def load_customers(engine: Engine, orders: pd.DataFrame, settings: OrderSettings) -> CustomersSummary:
    """Create customers (email unique per website) for orders in stores set to 'create new customer'."""
    modes = {mp: settings.for_marketplace(mp) for mp in orders["marketplace_id"].dropna().unique()}
    wants = orders["marketplace_id"].map(lambda mp: modes[mp].customer_mode == "create" and modes[mp].import_enabled)
    eligible = orders[wants.astype(bool) & orders["commerce_state"].isin(["processing", "complete"])
                      & ~orders["email_is_placeholder"]].copy()

    def load(conn: Connection) -> CustomersSummary:
        websites = store_websites(conn)
        website_ids = _store_ids(eligible, settings).map(websites)
        if website_ids.isna().any():
            raise ValueError("Order Settings name a store_id that is not in the store table")
        buyers = eligible.assign(website_id=website_ids).sort_values("purchase_date").drop_duplicates(
            ["buyer_email", "website_id"])
        customers = pd.DataFrame({"email": buyers["buyer_email"], "website_id": buyers["website_id"].astype(int),
                                  "firstname": buyers["firstname"], "lastname": buyers["lastname"],
                                  "created_at": buyers["purchase_date"]})
        before = conn.execute(select(func.count()).select_from(customer_entity)).scalar_one()
        _insert_frame(conn, customer_entity, customers, ["email", "website_id"])
        created = conn.execute(select(func.count()).select_from(customer_entity)).scalar_one() - before
        return {"customers_considered": len(customers), "customers_created": created}

    return in_transaction(engine, load)  # another account's load may insert customers at the same time


def load_orders(engine: Engine, orders: pd.DataFrame, items: pd.DataFrame, settings: OrderSettings,
                run: RunRecord | None = None, account_id: str = DEFAULT_ACCOUNT_ID) -> LoadSummary:
    """The batch of account `account_id` (its Order Settings): every row written carries the account, and every
    set-based step below acts on that account's orders only. With `run`, this run's row per marketplace is recorded
    for the sync health view."""
    seen = orders["marketplace_id"].value_counts()
    # FBA orders are not imported until Amazon ships them (workflow.md, FBA step 2); shipping updates their
    # last-updated time, so a later window brings them back.
    waiting_fba = orders["fulfillment_channel"].eq("AFN") & orders["status"].ne("Shipped")
    orders = orders[~waiting_fba]
    items = items[items["amazon_order_id"].isin(orders["amazon_order_id"])]
    now = utcnow()

    def load(conn: Connection):
        upserted, foreign = _upsert_channel(conn, orders, items, settings, account_id)
        _reserve_pending(conn, settings, account_id)
        created, blocked = _create_commerce_orders(conn, settings, now, account_id)
        _cancel_items(conn, account_id)
        canceled = _cancel_orders(conn, now, account_id)
        new_requests = _note_cancel_requests(conn, now, account_id)
        _note_amount_changes(conn, now, account_id)
        if run is not None:
            _record_run(conn, run, seen, created, blocked, now, account_id)
        return upserted, foreign, created, blocked, canceled, new_requests

    # Two accounts' loads may run at once on one Commerce DB: a transaction the database aborts for the other's sake
    # (a deadlock) is run again whole.
    upserted, foreign, created, blocked, canceled, new_requests = in_transaction(engine, load)
    if foreign:
        log.warning("load_orders: %d orders of this batch belong to another account and were not written (the next "
                    "validation quarantines them)", foreign)
    summary: LoadSummary = {
        "channel_orders_upserted": int(upserted), "fba_orders_not_shipped_yet": int(waiting_fba.sum()),
        "commerce_orders_created": int(created.sum()), "orders_blocked": int(blocked.sum()),
        "commerce_orders_canceled": int(canceled), "cancel_requests_new": new_requests[:MAX_LISTED_REQUESTS],
        "cancel_requests_new_count": len(new_requests), "orders_of_other_accounts": int(foreign)}
    log.info("load_orders: %s", summary)
    return summary


def _record_run(conn: Connection, run: RunRecord, seen: pd.Series, created: pd.Series, blocked: pd.Series,
                now, account_id: str) -> None:
    """One row per marketplace the account's channel orders know, so a quiet hour still counts as a successful
    window."""
    known = set(_known_marketplaces(conn, account_id)) | set(seen.index)
    rows = [{"account_id": account_id, "run_id": run["run_id"], "marketplace_id": mp,
             "window_start": parse_iso(run["window_start"]),
             "window_end": parse_iso(run["window_end"]), "orders_seen": int(seen.get(mp, 0)),
             "commerce_orders_created": int(created.get(mp, 0)), "orders_blocked": int(blocked.get(mp, 0)),
             "api_calls": int(run.get("api_calls", 0)), "throttled": int(run.get("throttled", 0)),
             "finished_at": now} for mp in sorted(known)]
    upsert(conn, channel_amazon_sync_run, rows, ["account_id", "run_id", "marketplace_id"],
           ["window_start", "window_end", "orders_seen", "commerce_orders_created", "orders_blocked", "api_calls",
            "throttled", "finished_at"])


def owners(conn: Connection, order_ids: list[str]) -> dict[str, str]:
    """The account each of these Amazon order ids is stored under (ids the channel does not hold are left out)."""
    return _lookup(conn, channel_amazon_order.c.amazon_order_id, channel_amazon_order.c.account_id, order_ids)


def _upsert_channel(conn: Connection, orders: pd.DataFrame, items: pd.DataFrame, settings: OrderSettings,
                    account_id: str) -> tuple[int, int]:
    """The batch into the channel tables under the account; returns (orders written, orders left out because
    another account holds their id). Validation quarantines such orders; one that got past it (the other account
    stored it meanwhile) is left out here, and the guarded upserts keep a concurrent write from rewriting it."""
    held = owners(conn, list(orders["amazon_order_id"]))
    foreign = orders["amazon_order_id"].isin([order for order, owner in held.items() if owner != account_id])
    orders = orders[~foreign].assign(account_id=account_id)
    items = items[items["amazon_order_id"].isin(orders["amazon_order_id"])].assign(account_id=account_id)
    keep = ["sales_order_id", "sales_order_increment_id", "note", "amazon_order_id"]
    for part in chunked(orders.assign(store_id=_store_ids(orders, settings)), FRAME_ROWS):
        upsert(conn, channel_amazon_order, _columns(_with_money(part, ORDER_MONEY), [*ORDER_COLUMNS, "account_id"]),
               ["amazon_order_id"], [c for c in ORDER_COLUMNS if c not in keep], newer="last_updated",
               owner="account_id")
    for part in chunked(items, FRAME_ROWS):
        upsert(conn, channel_amazon_order_item, _columns(_with_money(part, ITEM_MONEY), [*ITEM_COLUMNS, "account_id"]),
               ["amazon_order_id", "order_item_id"],
               [c for c in ITEM_COLUMNS if c not in ("amazon_order_id", "order_item_id")], newer="last_updated",
               owner="account_id")
    return len(orders), int(foreign.sum())


def _known_marketplaces(conn: Connection, account_id: str) -> list[str]:
    o = channel_amazon_order.c
    return conn.execute(select(o.marketplace_id).where(o.account_id == account_id).distinct()).scalars().all()


def _marketplaces(conn: Connection, settings: OrderSettings, want, account_id: str) -> list[str]:
    return [mp for mp in _known_marketplaces(conn, account_id) if want(settings.for_marketplace(mp))]


def _needs_commerce_order(conn: Connection, settings: OrderSettings, account_id: str):
    """The account's channel orders that should have a Commerce order under its settings and have none yet."""
    enabled = _marketplaces(conn, settings, lambda s: s.import_enabled, account_id)
    fba = _marketplaces(conn, settings, lambda s: s.import_enabled and s.fba_create_order, account_id)
    o = channel_amazon_order.c
    return and_(o.account_id == account_id, o.sales_order_id.is_(None), due_for_commerce_order(enabled, fba))


def _reserve_pending(conn: Connection, settings: OrderSettings, account_id: str) -> None:
    """Reserve stock for the account's Pending merchant orders where its settings ask for it."""
    reserving = _marketplaces(conn, settings, lambda s: s.import_enabled and s.reserve_pending_stock, account_id)
    if not reserving:
        return
    o, i, p = channel_amazon_order.c, channel_amazon_order_item.c, catalog_product.c
    rows = conn.execute(
        select(i.amazon_order_id.label("ext_order_id"), i.sku, (-i.qty_ordered).label("quantity"))
        .join(channel_amazon_order, o.amazon_order_id == i.amazon_order_id)
        .join(catalog_product, p.sku == i.sku)
        .where(o.account_id == account_id, o.status.in_(PENDING_STATUSES), o.fulfillment_channel == "MFN",
               o.marketplace_id.in_(reserving), p.manage_stock.is_(True))).mappings().all()
    insert_missing(conn, inventory_reservation, [{**r, "event": "order_placed"} for r in rows],
                   ["ext_order_id", "sku", "event"])


def _create_commerce_orders(conn: Connection, settings: OrderSettings, now, account_id: str
                            ) -> tuple[pd.Series, pd.Series]:
    """Create what can be created; returns orders created and blocked, counted per marketplace.

    Orders are numbered oldest first (purchase date, then Amazon order id) within each store, so a re-run or
    another database numbers the same orders the same way.
    """
    pending = _needs_commerce_order(conn, settings, account_id)
    candidates = _frame(conn, select(*(channel_amazon_order.c[c] for c in CANDIDATE_COLUMNS)).where(pending))
    none = pd.Series(dtype=int)
    if candidates.empty:
        return none, none
    lines = _candidate_lines(conn, pending)
    totals = _order_totals(candidates, lines)
    blocks = _blocking_reasons(conn, candidates, lines, pending)
    unusable = _unusable_amounts(candidates, totals)
    blocks = pd.concat([blocks, unusable[~unusable.index.isin(blocks.index)]])
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

    sales = _sales_order_rows(ok, order_lines, totals, buyer, mp_settings).assign(amazon_account_id=account_id)
    _insert_frame(conn, sales_order, sales, ["ext_order_id"])
    entity = _lookup(conn, sales_order.c.ext_order_id, sales_order.c.entity_id, list(ok["amazon_order_id"]))
    _insert_frame(conn, sales_order_item, _sales_order_item_rows(conn, order_lines, entity),
                  ["order_id", "ext_order_item_id"])
    _insert_frame(conn, sales_order_address, _sales_order_address_rows(ok, buyer, entity),
                  ["parent_id", "address_type"])
    _insert_frame(conn, inventory_reservation, _reservation_rows(conn, order_lines), ["ext_order_id", "sku", "event"])
    # This load's orders have the ids from the first to the last it created: the statements below find them by that
    # range and the account (no id lists, planned alike on every database). Another account's load running at the
    # same time may number its orders inside the range; the account leaves them out. Another order of this account
    # in the range can only be one a concurrent load of the same account created, due the same rows; the unique
    # keys keep them to one.
    order_ids = ok["amazon_order_id"].map(entity).astype(int)
    created = and_(sales_order.c.entity_id >= int(order_ids.min()), sales_order.c.entity_id <= int(order_ids.max()),
                   sales_order.c.amazon_account_id == account_id)
    _record_payment(conn, ok, sales, order_ids, created)
    _link_channel_orders(conn, ok, created, now)
    return ok["marketplace_id"].value_counts(), blocked


# What a Commerce order is made of, of each channel order and item (money.md); the other columns are not read.
CANDIDATE_COLUMNS = ["amazon_order_id", "marketplace_id", "store_id", "fulfillment_channel", "purchase_date",
                     "last_updated", "buyer_email", "buyer_name", "buyer_company", "ship_name", "ship_street",
                     "ship_city", "ship_region", "ship_postcode", "ship_country", "ship_phone", "grand_total",
                     "currency", "delivery_tip", "delivery_tip_status", "buyer_tax_registration"]
LINE_SOURCE = ["amazon_order_id", "order_item_id", "sku", "title", "qty_ordered", "gift_message",
               "tax_collection_model", "tax_reporting_scheme", "item_amount", "shipping_amount", "gift_wrap_amount",
               "cod_fee_amount", "other_amount", "tax_amount", "item_tax", "shipping_tax", "gift_wrap_tax",
               "cod_fee_tax", "discount_amount", "item_discount", "shipping_discount"]
LINE_SOURCE_AMOUNTS = [c for c in LINE_SOURCE if c in CHANNEL_ITEM_AMOUNTS]


def _candidate_lines(conn: Connection, pending) -> pd.DataFrame:
    """The channel items of the candidate orders, with their order's fulfillment channel and purchase date; in a
    fixed order, which the Commerce items' ids follow (a query plan's order changes with the indexes and the rows a
    rolled-back load left behind)."""
    o, i = channel_amazon_order.c, channel_amazon_order_item.c
    return _frame(conn, select(*(i[c] for c in LINE_SOURCE), o.fulfillment_channel, o.purchase_date)
                  .join(channel_amazon_order, o.amazon_order_id == i.amazon_order_id).where(pending)
                  .order_by(i.amazon_order_id, i.order_item_id))


def _buyer(ok: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series]:
    """(first name, last name, order email) of each order, placeholders included (rules.buyer_identity)."""
    return buyer_identity(ok.astype({c: "string" for c in ("buyer_name", "ship_name", "buyer_email",
                                                             "amazon_order_id")}))


def _sum(*columns: pd.Series) -> pd.Series:
    total = columns[0]
    for column in columns[1:]:
        total = total + column
    return total


def _negated(amounts: pd.Series) -> pd.Series:
    """-x without Decimal's negative zero (0 - x is +0 where x is 0)."""
    return ZERO - amounts


def _per_unit(totals: pd.Series, qty: pd.Series) -> list[Decimal]:
    return [(total / q).quantize(MONEY_QUANTUM, ROUND_HALF_UP) for total, q in zip(totals, qty, strict=True)]


def _order_totals(candidates: pd.DataFrame, lines: pd.DataFrame) -> pd.DataFrame:
    """Each candidate order's Commerce totals (DOCUMENT_TOTALS), summed from its items' Amazon breakdowns, plus
    `complete` (every amount known) and `adds_up` (the columns sum to Amazon's grandTotal). Indexed by order id."""
    amounts = lines[LINE_SOURCE_AMOUNTS]
    known = amounts.notna().all(axis=1).groupby(lines["amazon_order_id"]).all()
    item = lines.assign(**{c: amounts[c].fillna(ZERO) for c in LINE_SOURCE_AMOUNTS})
    item["item_incl_tax"] = item["item_amount"] + item["item_tax"]
    sums = item.groupby("amazon_order_id")[[*LINE_SOURCE_AMOUNTS, "item_incl_tax"]].sum()
    order = candidates.set_index("amazon_order_id")
    totals = pd.DataFrame({
        "subtotal": sums["item_amount"], "subtotal_incl_tax": sums["item_incl_tax"],
        "tax_amount": sums["tax_amount"],
        "shipping_amount": sums["shipping_amount"], "shipping_tax_amount": sums["shipping_tax"],
        "shipping_incl_tax": sums["shipping_amount"] + sums["shipping_tax"],
        "discount_amount": sums["discount_amount"], "shipping_discount_amount": _negated(sums["shipping_discount"]),
        "gw_price": sums["gift_wrap_amount"], "gw_tax_amount": sums["gift_wrap_tax"],
        "amazon_cod_fee": sums["cod_fee_amount"], "amazon_cod_fee_tax": sums["cod_fee_tax"],
        "amazon_other_charges": sums["other_amount"],
    }, index=order.index)
    totals["amazon_delivery_tip"] = order["delivery_tip"]
    totals["grand_total"] = order["grand_total"]
    totals["complete"] = (known.reindex(order.index, fill_value=False).astype(bool) & order["delivery_tip"].notna()
                          & order["grand_total"].notna())
    parts = totals[["subtotal", "shipping_amount", "gw_price", "amazon_cod_fee", "amazon_other_charges", "tax_amount",
                    "discount_amount", "amazon_delivery_tip"]].where(totals["complete"], ZERO).fillna(ZERO)
    totals["adds_up"] = totals["complete"] & (_sum(*(parts[c] for c in parts)) == totals["grand_total"])
    return totals


def _unusable_amounts(candidates: pd.DataFrame, totals: pd.DataFrame) -> pd.Series:
    """Orders whose amounts cannot be booked (money.md: never from amounts that do not add up): amazon_order_id ->
    note. Validation quarantines such orders; what reaches this is a channel row kept from before Amazon's
    breakdowns were imported, which Amazon's next update of the order completes."""
    missing = totals.index[~totals["complete"]]
    wrong = totals.index[totals["complete"] & ~totals["adds_up"]]
    return pd.concat([
        pd.Series("Cannot create order: Amazon's amount breakdown is missing (imported before amounts were kept); "
                  "Amazon's next update of the order brings it", index=missing, dtype="string"),
        pd.Series("Cannot create order: Amazon's amounts do not add up to its grand total", index=wrong,
                  dtype="string")])


def _sales_order_rows(ok: pd.DataFrame, order_lines: pd.DataFrame, totals: pd.DataFrame, buyer: tuple,
                      mp_settings: dict) -> pd.DataFrame:
    """sales_order: one row per order, paid and invoiced whole (Amazon collected the money). Merchant orders are
    processing, in the store's new-order status; FBA orders, shipped by Amazon already, are complete. The amounts
    are Amazon's, copied (money.md), each with its base twin at rate 1."""
    firstname, lastname, email = buyer
    state = ok["fulfillment_channel"].map({"MFN": "processing", "AFN": "complete"})
    status = ok["marketplace_id"].map({mp: s.new_order_status for mp, s in mp_settings.items()})
    status = status.where(state == "processing", "complete")
    qty = order_lines.groupby("amazon_order_id")["qty_ordered"].sum()
    amounts = totals.loc[ok["amazon_order_id"], DOCUMENT_TOTALS].set_axis(ok.index)
    sales = pd.DataFrame({
        "increment_id": ok["increment_id"], "store_id": ok["store_id"].astype(int), "state": state, "status": status,
        "customer_id": ok["customer_id"], "customer_is_guest": ok["customer_id"].isna(),
        "customer_email": email, "customer_firstname": firstname, "customer_lastname": lastname,
        **{column: amounts[name] for name in DOCUMENT_TOTALS for column in (name, base_twin(name))},
        "amazon_delivery_tip_status": ok["delivery_tip_status"],
        "order_currency_code": ok["currency"], "base_currency_code": ok["currency"], "base_to_order_rate": Decimal(1),
        **{column: amounts["grand_total"] for name in ("total_invoiced", "total_paid")
           for column in (name, base_twin(name))},
        "customer_taxvat": ok["buyer_tax_registration"],
        "total_qty_ordered": ok["amazon_order_id"].map(qty).astype(int),
        "ext_order_id": ok["amazon_order_id"], "send_email": False,
        "created_at": ok["purchase_date"], "updated_at": ok["last_updated"]})
    return sales


# Magento's sales_order_item.name is varchar(255); Amazon titles run to 1024 (the channel table keeps them whole).
ITEM_NAME_LENGTH = sales_order_item.c.name.type.length


def _line_amounts(lines: pd.DataFrame) -> pd.DataFrame:
    """LINE_AMOUNTS and tax_percent of each item, from its Amazon breakdown (money.md): row_total is ITEM (net of tax
    on every marketplace), price per unit to 4 decimals, the incl_tax pair adds TAX[ITEM], tax_amount is all of the
    item's TAX, discount_amount is DISCOUNT[ITEM] made positive."""
    row_total, item_tax, qty = lines["item_amount"], lines["item_tax"], lines["qty_ordered"]
    incl_tax = row_total + item_tax
    return pd.DataFrame({
        "price": _per_unit(row_total, qty), "price_incl_tax": _per_unit(incl_tax, qty),
        "row_total": row_total, "row_total_incl_tax": incl_tax, "tax_amount": lines["tax_amount"],
        "discount_amount": _negated(lines["item_discount"]),
        "tax_percent": [(tax * 100 / net).quantize(MONEY_QUANTUM, ROUND_HALF_UP) if net else ZERO
                        for tax, net in zip(item_tax, row_total, strict=True)]}, index=lines.index)


def _sales_order_item_rows(conn: Connection, order_lines: pd.DataFrame, entity: dict) -> pd.DataFrame:
    """sales_order_item: one row per Amazon order item, linked to its Commerce order and catalog product, invoiced
    whole."""
    products = _lookup(conn, catalog_product.c.sku, catalog_product.c.entity_id, list(order_lines["sku"].unique()))
    amounts = _line_amounts(order_lines)
    return pd.DataFrame({
        "order_id": order_lines["amazon_order_id"].map(entity), "ext_order_item_id": order_lines["order_item_id"],
        "sku": order_lines["sku"], "name": order_lines["title"].str.slice(0, ITEM_NAME_LENGTH),
        "product_id": order_lines["sku"].map(products),
        "qty_ordered": order_lines["qty_ordered"], "qty_shipped": 0, "qty_canceled": 0,
        "qty_invoiced": order_lines["qty_ordered"], "qty_refunded": 0,
        **{column: amounts[name] for name in LINE_AMOUNTS for column in (name, base_twin(name))},
        "tax_percent": amounts["tax_percent"],
        "amazon_tax_collection_model": order_lines["tax_collection_model"],
        "amazon_tax_reporting_scheme": order_lines["tax_reporting_scheme"],
        "gift_message": order_lines["gift_message"]})


# The invoice and the credit memo copy these columns from the order and its items, in the database: they hold the
# same amounts to the last digit by construction, and nothing is converted or bound per amount a second time.
_TOTAL_COLUMNS = [column for name in DOCUMENT_TOTALS for column in (name, base_twin(name))]
_LINE_COLUMNS = [column for name in LINE_AMOUNTS for column in (name, base_twin(name))]


def _record_payment(conn: Connection, ok: pd.DataFrame, sales: pd.DataFrame, order_ids: pd.Series, created) -> None:
    """Amazon collected the buyer's money: each new order (`created`) gets its `amazon` payment, one paid invoice of
    everything (captured offline, as the Commerce extension does, FBA orders too) and a comment in its history."""
    so, soi, inv, o = sales_order.c, sales_order_item.c, sales_invoice.c, channel_amazon_order.c
    copy_missing(conn, sales_order_payment, select(
        so.entity_id, literal("amazon"), so.grand_total, so.base_grand_total, so.grand_total, so.base_grand_total,
        o.purchase_order_number).select_from(sales_order)
        .join(channel_amazon_order, o.amazon_order_id == so.ext_order_id).where(created),
        ["parent_id", "method", "amount_ordered", "base_amount_ordered", "amount_paid", "base_amount_paid",
         "po_number"], ["parent_id"])
    copy_missing(conn, sales_invoice, select(
        so.entity_id, so.store_id, so.increment_id, literal(INVOICE_PAID), *[so[c] for c in _TOTAL_COLUMNS],
        so.order_currency_code, so.base_currency_code, so.total_qty_ordered, literal(False), so.updated_at,
        so.updated_at).where(created),
        ["order_id", "store_id", "increment_id", "state", *_TOTAL_COLUMNS, "order_currency_code",
         "base_currency_code", "total_qty", "email_sent", "created_at", "updated_at"], ["increment_id", "store_id"])
    copy_missing(conn, sales_invoice_item, select(
        inv.entity_id, soi.item_id, soi.sku, soi.name, soi.qty_invoiced, *[soi[c] for c in _LINE_COLUMNS])
        .select_from(sales_order).join(sales_order_item, soi.order_id == so.entity_id)
        .join(sales_invoice, inv.order_id == so.entity_id).where(created),
        ["parent_id", "order_item_id", "sku", "name", "qty", *_LINE_COLUMNS], ["parent_id", "order_item_id"])
    comments = [f"Paid at Amazon (order {oid}): invoice #{inc} captured offline, {money_text(total, currency)}"
                for oid, inc, total, currency in zip(ok["amazon_order_id"], sales["increment_id"],
                                                      sales["grand_total"], sales["order_currency_code"], strict=True)]
    history = pd.DataFrame({"parent_id": order_ids, "entity_name": "invoice", "status": sales["status"],
                            "comment": comments, "is_customer_notified": False, "is_visible_on_front": False,
                            "created_at": sales["updated_at"]}, index=ok.index)
    _insert_frame(conn, sales_order_status_history, history, ["parent_id", "entity_name"])


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


CREATED_NOTE = ("Commerce order #", " created")  # around the increment id


def _link_channel_orders(conn: Connection, ok: pd.DataFrame, created, now) -> None:
    """channel_amazon_order: each order points at its new Commerce order, with a note (and history row) saying so;
    one UPDATE ... FROM for them all."""
    o, so = channel_amazon_order.c, sales_order.c
    conn.execute(update(channel_amazon_order).where(o.amazon_order_id == so.ext_order_id, created).values(
        sales_order_id=so.entity_id, sales_order_increment_id=so.increment_id,
        note=literal(CREATED_NOTE[0]) + so.increment_id + literal(CREATED_NOTE[1])))
    add_history(conn, {oid: f"{CREATED_NOTE[0]}{inc}{CREATED_NOTE[1]}"
                       for oid, inc in zip(ok["amazon_order_id"], ok["increment_id"], strict=True)}, now)


def _lookup(conn: Connection, key_column, value_column, keys: list) -> dict:
    found = {}
    for chunk in chunked(keys, IN_LIST):
        found.update(conn.execute(select(key_column, value_column).where(key_column.in_(chunk))).all())
    return found


def _blocking_reasons(conn: Connection, candidates: pd.DataFrame, lines: pd.DataFrame, pending) -> pd.Series:
    """Why some candidate orders cannot become Commerce orders yet: amazon_order_id -> note."""
    p = catalog_product.c
    query = select(p.sku, p.enabled, p.qty, p.manage_stock).where(p.sku.in_(list(lines["sku"].unique())))
    if conn.dialect.name != "sqlite":  # SQLite has one writer at a time already
        # Another account's load selling these SKUs holds their rows until it commits; this one then counts its
        # reservations. Locked in SKU order, so two loads take them in the same order.
        query = query.order_by(p.sku).with_for_update()
    products = pd.DataFrame(conn.execute(query).mappings().all(), columns=["sku", "enabled", "qty", "manage_stock"])
    line = lines.merge(products, on="sku", how="left")
    reason = pd.Series(pd.NA, index=line.index, dtype="string")
    reason[line["enabled"].isna()] = "Cannot create order: SKU " + line["sku"] + " not in catalog"
    reason[reason.isna() & line["enabled"].eq(False)] = "Cannot create order: product " + line["sku"] + " is disabled"

    # Stock: what the catalog holds minus what other orders reserved, handed out oldest order first.
    r = inventory_reservation.c
    others = select(channel_amazon_order.c.amazon_order_id).where(pending)
    query = select(r.sku, func.sum(r.quantity)).where(
        r.sku.in_(list(products["sku"])), r.ext_order_id.not_in(others)).group_by(r.sku)
    if conn.dialect.name == "mysql":  # a locking read sees what was committed after this transaction's snapshot
        query = query.with_for_update(read=True)
    reserved = dict(conn.execute(query).all())
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


def _cancel_orders(conn: Connection, now, account_id: str) -> int:
    """Amazon canceled before shipment: release every reservation the order held, and in Commerce refund an invoiced
    order whole with a credit memo (it ends closed, as Magento closes a fully refunded order); an order created
    before orders were invoiced is canceled."""
    o, so = channel_amazon_order.c, sales_order.c
    to_cancel = conn.execute(select(so.entity_id, o.last_updated, so.increment_id, so.total_invoiced,
                                    so.order_currency_code, o.amazon_order_id).join(
        channel_amazon_order, o.sales_order_id == so.entity_id).where(
        o.account_id == account_id, o.status == "Canceled", so.state.not_in(["canceled", "complete", "closed"]))).all()
    invoiced = [row for row in to_cancel if row.total_invoiced is not None]
    uninvoiced = [row for row in to_cancel if row.total_invoiced is None]
    if uninvoiced:
        conn.execute(update(sales_order).where(so.entity_id == bindparam("b_id")).values(
            state="canceled", status="canceled", updated_at=bindparam("b_updated")),
            [{"b_id": row.entity_id, "b_updated": row.last_updated} for row in uninvoiced])
    if invoiced:
        refund_orders(conn, invoiced, "Canceled by Amazon")
    notes = {row.amazon_order_id: f"Canceled by Amazon; Commerce order #{row.increment_id} canceled"
             for row in uninvoiced}
    notes.update({row.amazon_order_id: f"Canceled by Amazon; Commerce order #{row.increment_id} closed, credit memo "
                                       f"#{row.increment_id} refunded {_refunded_text(row)}" for row in invoiced})
    set_notes(conn, notes, now)
    release_canceled_reservations(conn, account_id)
    return len(to_cancel)


def release_canceled_reservations(conn: Connection, account_id: str = DEFAULT_ACCOUNT_ID) -> None:
    """Every reservation a Canceled channel order of the account still holds is given back, once (an
    `order_canceled` row per SKU)."""
    o, r = channel_amazon_order.c, inventory_reservation.c
    held = conn.execute(select(r.ext_order_id, r.sku, func.sum(r.quantity)).join(
        channel_amazon_order, o.amazon_order_id == r.ext_order_id).where(o.account_id == account_id,
                                                                         o.status == "Canceled")
        .group_by(r.ext_order_id, r.sku).having(func.sum(r.quantity) < 0)).all()
    insert_missing(conn, inventory_reservation, [
        {"ext_order_id": e, "sku": s, "quantity": -q, "event": "order_canceled"} for e, s, q in held],
        ["ext_order_id", "sku", "event"])


ITEMS_CANCELED_EVENT = "order_items_canceled"  # the reservation released for items Amazon cancelled


def _cancel_items(conn: Connection, account_id: str) -> None:
    """Items Amazon cancelled in an order it has not cancelled whole: the Commerce items record the cancelled units,
    and one reservation per order and SKU (ITEMS_CANCELED_EVENT, kept at the cancelled units, at most what the order
    reserved) gives them back; re-runs leave both as they are. A whole cancellation later releases the rest
    (_cancel_orders releases what is still held). Both queries start from the items with cancelled units (Amazon
    never restores one, so no other item can differ): few, whatever the number of orders."""
    o, i, soi, r = channel_amazon_order.c, channel_amazon_order_item.c, sales_order_item.c, inventory_reservation.c
    changed = conn.execute(select(soi.item_id, i.qty_canceled).select_from(channel_amazon_order_item).join(
        channel_amazon_order, o.amazon_order_id == i.amazon_order_id).join(
        sales_order_item, and_(soi.order_id == o.sales_order_id, soi.ext_order_item_id == i.order_item_id)).where(
        i.account_id == account_id, i.qty_canceled > 0, soi.qty_canceled != i.qty_canceled)).all()
    if changed:
        conn.execute(update(sales_order_item).where(soi.item_id == bindparam("b_id")).values(
            qty_canceled=bindparam("b_qty")), [{"b_id": item, "b_qty": qty} for item, qty in changed])
    whole = select(o.amazon_order_id).where(o.amazon_order_id == i.amazon_order_id, o.status == "Canceled").exists()
    units = {(order, sku): int(n) for order, sku, n in conn.execute(
        select(i.amazon_order_id, i.sku, func.sum(i.qty_canceled)).where(i.account_id == account_id, i.qty_canceled > 0,
                                                                       ~whole)
        .group_by(i.amazon_order_id, i.sku))}
    reserved: dict[tuple[str, str, str], Decimal] = {}
    for ids in chunked(sorted({order for order, _ in units}), IN_LIST):
        reserved.update({(order, sku, event): quantity for order, sku, event, quantity in conn.execute(
            select(r.ext_order_id, r.sku, r.event, r.quantity).where(
                r.ext_order_id.in_(ids), r.event.in_(["order_placed", ITEMS_CANCELED_EVENT])))})
    releases = {(order, sku): min(n, -reserved[order, sku, "order_placed"]) for (order, sku), n in units.items()
                if (order, sku, "order_placed") in reserved}  # an unmanaged SKU reserved nothing
    upsert(conn, inventory_reservation, [
        {"ext_order_id": order, "sku": sku, "event": ITEMS_CANCELED_EVENT, "quantity": quantity}
        for (order, sku), quantity in releases.items() if reserved.get((order, sku, ITEMS_CANCELED_EVENT)) != quantity],
        ["ext_order_id", "sku", "event"], ["quantity"])


CANCEL_REQUEST_NOTE = ("Buyer asked Amazon to cancel: ", "; packages are held until you cancel the order in Commerce "
                                                         "or release the hold")


def _note_cancel_requests(conn: Connection, now, account_id: str) -> list[str]:
    """Open buyer cancellation requests on orders that have their Commerce order (the one staff could ship; a
    blocked order keeps its note saying why, and is noted once created) get their note once (a later run seeing the
    same request adds none); the ids of those noted now, for the load summary and its alert."""
    o = channel_amazon_order.c
    open_requests = conn.execute(select(o.amazon_order_id, o.cancel_request_reason)
                                 .where(o.account_id == account_id, o.cancel_requested.is_(True),
                                        o.sales_order_id.is_not(None))).all()
    notes = unrecorded(conn, {oid: f"{CANCEL_REQUEST_NOTE[0]}{reason or 'no reason given'}{CANCEL_REQUEST_NOTE[1]}"
                              for oid, reason in open_requests})
    note_once(conn, notes, now)
    return sorted(notes)


def _refunded_text(order) -> str:
    return money_text(order.total_invoiced, order.order_currency_code)


def refund_orders(conn: Connection, orders: list, why: str) -> None:
    """Credit memos refunding the invoices of `orders` whole (copied from them in the database, at the time Amazon
    canceled); the orders, their items and payments record the refund, and each order's history says so, starting
    with `why` (who cancelled)."""
    so, soi, inv, item, memo, pay, o = (sales_order.c, sales_order_item.c, sales_invoice.c, sales_invoice_item.c,
                                        sales_creditmemo.c, sales_order_payment.c, channel_amazon_order.c)
    order_ids = [row.entity_id for row in orders]
    for ids in chunked(order_ids, IN_LIST):
        copy_missing(conn, sales_creditmemo, select(
            inv.order_id, inv.store_id, inv.increment_id, literal(CREDITMEMO_REFUNDED), inv.entity_id,
            *[inv[c] for c in _TOTAL_COLUMNS], inv.order_currency_code, inv.base_currency_code, inv.total_qty,
            literal(False), o.last_updated, o.last_updated).select_from(sales_invoice)
            .join(channel_amazon_order, o.sales_order_id == inv.order_id).where(inv.order_id.in_(ids)),
            ["order_id", "store_id", "increment_id", "state", "invoice_id", *_TOTAL_COLUMNS, "order_currency_code",
             "base_currency_code", "total_qty", "email_sent", "created_at", "updated_at"], ["increment_id", "store_id"])
        copy_missing(conn, sales_creditmemo_item, select(
            memo.entity_id, item.order_item_id, item.sku, item.name, item.qty, *[item[c] for c in _LINE_COLUMNS])
            .select_from(sales_invoice_item).join(sales_creditmemo, memo.invoice_id == item.parent_id)
            .where(memo.order_id.in_(ids)),
            ["parent_id", "order_item_id", "sku", "name", "qty", *_LINE_COLUMNS], ["parent_id", "order_item_id"])
        conn.execute(update(sales_order_item).where(soi.order_id.in_(ids)).values(qty_refunded=soi.qty_invoiced))
        conn.execute(update(sales_order_payment).where(pay.parent_id.in_(ids)).values(
            amount_refunded=pay.amount_paid, base_amount_refunded=pay.base_amount_paid))
    conn.execute(update(sales_order).where(so.entity_id == bindparam("b_id")).values(
        state="closed", status="closed", updated_at=bindparam("b_updated"), total_refunded=so.total_paid,
        base_total_refunded=so.base_total_paid), [{"b_id": row.entity_id, "b_updated": row.last_updated}
                                                  for row in orders])
    history = pd.DataFrame({
        "parent_id": order_ids, "entity_name": "creditmemo", "status": "closed",
        "comment": [f"{why}: credit memo #{row.increment_id} refunded offline, {_refunded_text(row)}"
                    for row in orders],
        "is_customer_notified": False, "is_visible_on_front": False,
        "created_at": [row.last_updated for row in orders]})
    _insert_frame(conn, sales_order_status_history, history, ["parent_id", "entity_name"])


def _note_amount_changes(conn: Connection, now, account_id: str) -> None:
    """Amazon changed the amounts of an order that has its Commerce order (a price adjustment before shipment): the
    channel tables already hold the new figures; the Commerce order, invoiced, is left as it is and the change
    noted, once per change (a later run seeing the same figures adds nothing). One query over the linked orders:
    a change seen by an earlier run is found again and, already noted, adds nothing."""
    o, so = channel_amazon_order.c, sales_order.c
    changed = conn.execute(select(o.amazon_order_id, so.grand_total, o.grand_total, o.currency, so.increment_id)
                           .join(sales_order, so.entity_id == o.sales_order_id)
                           .where(o.account_id == account_id, o.status != "Canceled", o.grand_total.is_not(None),
                                  o.grand_total != so.grand_total)).all()
    note_once(conn, {oid: f"Amazon changed the amounts: grand total {money_text(invoiced, currency)} in Commerce "
                          f"order #{number}, now {money_text(amazon, currency)} at Amazon; the invoiced order is not "
                          f"rewritten" for oid, invoiced, amazon, currency, number in changed}, now)
