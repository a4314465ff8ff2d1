"""Several accounts on one Commerce DB, step by step (the DAG's task bodies, the emulator over HTTP), on SQLite,
PostgreSQL and MariaDB: each account's rows are its own input, none crossed and none twice, loaded in turn or at
the same time; an order id another account holds is quarantined; packages go out only with their own account's
client; stock reservations of accounts selling one SKU add up; an existing database gains the accounts."""

from __future__ import annotations

import copy
import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import Index, MetaData, Table, UniqueConstraint, func, insert, inspect, select, update
from sqlalchemy.exc import IntegrityError

from amazon_channel.commerce.load import load_orders
from amazon_channel.commerce.schema import (
    TABLE_OPTIONS,
    catalog_product,
    channel_amazon_order,
    channel_amazon_order_item,
    channel_amazon_package,
    channel_amazon_quarantine,
    channel_amazon_sync_run,
    ensure_schema,
    inventory_reservation,
    metadata,
    migrate_sync_run_key,
    sales_order,
)
from amazon_channel.commerce.shipments import create_shipment
from amazon_channel.shipping import carrier_mapping, push_tracking, reconcile_shipments
from amazon_channel.staging import Staging
from amazon_channel.steps import (
    check_settings_step,
    load_customers_step,
    load_orders_step,
    transform_step,
    validate_step,
)
from tests.integration.commerce_queries import commerce_orders
from tests.integration.pipeline_steps import DEFAULT, Steps, amazon_orders

pytestmark = [pytest.mark.emulator]
US = "ATVPDKIKX0DER"
RUN = "scheduled__2026-03-09T06:00:00+00:00"  # both accounts' DAGs have this run id
EXTRACTED = {"window_start": "2026-03-09T00:00:00Z", "window_end": "2026-03-09T06:00:00Z", "api_calls": 1,
             "throttled": 0}


@pytest.fixture
def accounts(commerce, client, tmp_path) -> dict[str, Steps]:
    """Two accounts' step sequences on one Commerce DB and one staging root (each DAG has its own folders)."""
    staging = Staging(f"file://{tmp_path}/staging")
    return {account: Steps(commerce, staging, client, account) for account in ("us", "eu")}


def split(orders: list[dict]) -> dict[str, list[dict]]:
    """The emulator's single world shared out: US orders to the account `us`, the others to `eu`."""
    us = [o for o in orders if o["salesChannel"]["marketplaceId"] == US]
    eu = [o for o in orders if o["salesChannel"]["marketplaceId"] != US]
    assert us and eu
    return {"us": us, "eu": eu}


def validate(steps: Steps, run_id: str, orders: list[dict], reprocess: bool = False) -> dict:
    steps.stage(run_id, orders)
    run = steps.run(run_id)
    check_settings_step(steps.engine, DEFAULT, run, staging_retention_days=7)
    return validate_step(steps.engine, run, run.path("extract"), DEFAULT, reprocess_unchanged=reprocess)


def prepare(steps: Steps, run_id: str, orders: list[dict], reprocess: bool = False) -> str:
    """check → validate → transform for the account; returns the transformed staging path."""
    validated = validate(steps, run_id, orders, reprocess)
    return transform_step(steps.run(run_id), validated["staging_path"])["staging_path"]


def load(steps: Steps, run_id: str, transformed: str) -> dict:
    run = steps.run(run_id)
    load_customers_step(steps.engine, run, transformed, DEFAULT)
    return load_orders_step(steps.engine, run, transformed, DEFAULT, EXTRACTED)


def at_once(*calls):
    """Run the calls in threads released together; re-raise the first failure."""
    barrier, results, errors = threading.Barrier(len(calls)), [None] * len(calls), []

    def run(n, call):
        barrier.wait()
        try:
            results[n] = call()
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n, call)) for n, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    if errors:
        raise errors[0]
    return results


def kept(orders: list[dict]) -> set[str]:
    """The orders the channel keeps: merchant ones, and Amazon's once shipped."""
    return {o["orderId"] for o in orders
            if o["fulfillment"]["fulfilledBy"] == "MERCHANT" or o["fulfillment"]["fulfillmentStatus"] == "SHIPPED"}


def quarantined(engine, account: str) -> set[str]:
    q = channel_amazon_quarantine.c
    with engine.connect() as conn:
        return set(conn.execute(select(q.amazon_order_id).where(q.account_id == account,
                                                                q.resolved.is_(False))).scalars())


def assert_isolated(engine, inputs: dict[str, list[dict]]) -> None:
    """Each account's channel orders, items and Commerce orders are exactly its own input's, none twice."""
    o, i, so = channel_amazon_order.c, channel_amazon_order_item.c, sales_order.c
    with engine.connect() as conn:
        stored = conn.execute(select(o.amazon_order_id, o.account_id, o.sales_order_id)).all()
        crossed_items = conn.execute(select(func.count()).select_from(channel_amazon_order_item).join(
            channel_amazon_order, o.amazon_order_id == i.amazon_order_id).where(i.account_id != o.account_id)
        ).scalar_one()
        linked = conn.execute(select(o.account_id, so.amazon_account_id, so.ext_order_id, o.amazon_order_id).join(
            sales_order, so.entity_id == o.sales_order_id)).all()
        commerce_accounts = dict(conn.execute(select(so.ext_order_id, so.amazon_account_id)).all())
    for account, orders in inputs.items():
        mine = {oid for oid, acct, _ in stored if acct == account}
        assert mine == kept(orders) - quarantined(engine, account), account
    assert crossed_items == 0
    assert all(acct == commerce_acct and ext == oid for acct, commerce_acct, ext, oid in linked)
    commerce_orders(engine)  # fails on two Commerce orders for one Amazon order
    owner = {oid: acct for oid, acct, _ in stored}
    assert commerce_accounts and all(owner[ext] == acct for ext, acct in commerce_accounts.items())
    created = {oid for oid, _, sales_id in stored if sales_id is not None}
    assert set(commerce_accounts) == created


def test_two_accounts_in_turn_then_again_at_once(accounts, client):
    inputs = split(amazon_orders(client))
    for account, steps in accounts.items():  # in turn, the same run id
        load(steps, RUN, prepare(steps, RUN, inputs[account]))
    assert_isolated(accounts["us"].engine, inputs)
    r = channel_amazon_sync_run.c
    with accounts["us"].engine.connect() as conn:
        runs = conn.execute(select(r.account_id, r.marketplace_id).where(r.run_id == RUN)).all()
    assert {acct for acct, _ in runs} == {"us", "eu"}
    assert {mp for acct, mp in runs if acct == "us"} == {US}

    # The next hour at once: both accounts' orders change (reprocessed), both loads run together.
    later = "scheduled__2026-03-09T07:00:00+00:00"
    paths = {account: prepare(steps, later, inputs[account], reprocess=True) for account, steps in accounts.items()}
    loaded = at_once(*(lambda s=steps, p=paths[a]: load(s, later, p) for a, steps in accounts.items()))
    assert all(summary["orders_of_other_accounts"] == 0 for summary in loaded)
    assert_isolated(accounts["us"].engine, inputs)


def test_two_accounts_loading_at_once_on_a_new_database(accounts, client):
    inputs = split(amazon_orders(client))
    paths = {account: prepare(steps, RUN, inputs[account]) for account, steps in accounts.items()}
    loaded = at_once(*(lambda s=steps, p=paths[a]: load(s, RUN, p) for a, steps in accounts.items()))
    assert all(summary["commerce_orders_created"] > 0 for summary in loaded)
    assert_isolated(accounts["us"].engine, inputs)
    with accounts["us"].engine.connect() as conn:
        numbers = conn.execute(select(sales_order.c.increment_id)).scalars().all()
    assert len(numbers) == len(set(numbers))  # the store's sequence handed out disjoint numbers


def test_an_order_id_of_another_account_is_quarantined_and_left_alone(accounts, client):
    us, eu = accounts["us"], accounts["eu"]
    inputs = split(amazon_orders(client))
    load(us, RUN, prepare(us, RUN, inputs["us"]))
    taken = next(o for o in inputs["us"] if o["orderId"] in kept(inputs["us"]))
    with us.engine.connect() as conn:
        before = conn.execute(select(channel_amazon_order).where(
            channel_amazon_order.c.amazon_order_id == taken["orderId"])).mappings().one()

    newer = copy.deepcopy(taken)
    newer["lastUpdatedTime"] = "2026-03-09T07:30:00Z"  # newer data would win, were it the same account's
    transformed = prepare(eu, RUN, [newer, *inputs["eu"]])
    q = channel_amazon_quarantine.c
    with eu.engine.connect() as conn:
        reasons = conn.execute(select(q.reasons).where(q.account_id == "eu",
                                                       q.amazon_order_id == taken["orderId"])).scalar_one()
    assert "order already belongs to account us" in reasons
    load(eu, RUN, transformed)

    # The same order reaching eu's load anyway (us stored it after eu's validation): left out, us's row untouched.
    frames = us.staging.read_frame(us.path(RUN, "transformed"), "orders.parquet"), \
        us.staging.read_frame(us.path(RUN, "transformed"), "items.parquet")
    raced = load_orders(eu.engine, *frames, DEFAULT, account_id="eu")
    assert raced["orders_of_other_accounts"] == len(kept(inputs["us"]) - quarantined(us.engine, "us"))
    assert raced["channel_orders_upserted"] == 0
    with us.engine.connect() as conn:
        after = conn.execute(select(channel_amazon_order).where(
            channel_amazon_order.c.amazon_order_id == taken["orderId"])).mappings().one()
        us_quarantine = conn.execute(select(func.count()).select_from(channel_amazon_quarantine).where(
            q.account_id == "us", q.amazon_order_id == taken["orderId"])).scalar_one()
    assert dict(after) == dict(before)
    assert us_quarantine == 0
    assert_isolated(us.engine, {"us": inputs["us"], "eu": inputs["eu"]})


def test_one_order_quarantined_by_two_accounts_keeps_two_rows(accounts, client):
    us, eu = accounts["us"], accounts["eu"]
    broken = copy.deepcopy(amazon_orders(client)[0])
    broken["salesChannel"]["marketplaceId"] = "A0UNKNOWNMKT"
    for steps in (us, eu):  # the only order of the batch fails: above max_bad_share, the step fails after storing it
        with pytest.raises(ValueError, match="failed validation"):
            validate(steps, RUN, [broken])
    q = channel_amazon_quarantine.c
    with us.engine.connect() as conn:
        rows = conn.execute(select(q.account_id, q.quarantine_key).where(
            q.amazon_order_id == broken["orderId"])).all()
    assert sorted(acct for acct, _ in rows) == ["eu", "us"]
    assert dict(rows)["us"] == broken["orderId"]  # the first keeps the plain key

    validate(us, "later", [])  # us re-examines only its own: eu's row stays as eu left it
    with us.engine.connect() as conn:
        seen = dict(conn.execute(select(q.account_id, q.last_seen_run).where(
            q.amazon_order_id == broken["orderId"])).all())
    assert seen == {"us": "later", "eu": RUN}


def test_packages_go_out_only_with_their_own_account(accounts, client, emulator):
    inputs = split(amazon_orders(client))
    for account, steps in accounts.items():
        load(steps, RUN, prepare(steps, RUN, inputs[account]))
    so, o = sales_order.c, channel_amazon_order.c
    with accounts["us"].engine.connect() as conn:
        shippable = dict(conn.execute(select(so.amazon_account_id, so.ext_order_id).join(
            channel_amazon_order, o.sales_order_id == so.entity_id).where(
            so.state == "processing", o.fulfillment_channel == "MFN", o.cancel_requested.is_(False))
            .order_by(so.entity_id)).all())
    now = datetime.fromisoformat(emulator.get("health")["now"].replace("Z", "+00:00"))
    for order in shippable.values():
        create_shipment(accounts["us"].engine, order, "ups", f"1Z999AA1{order[-7:]}", now=now)
    carriers = carrier_mapping(None)
    engine = accounts["us"].engine

    reconciled = reconcile_shipments(engine, carriers, account_id="us")
    assert reconciled["packages_new"] == 1 and reconciled["orders_completed"] == 1
    p = channel_amazon_package.c
    with engine.connect() as conn:
        assert conn.execute(select(p.amazon_order_id, p.account_id)).all() == [(shippable["us"], "us")]
    assert commerce_orders(engine)[shippable["eu"]]["state"] == "processing"  # not us's to complete
    assert reconcile_shipments(engine, carriers, account_id="eu")["packages_new"] == 1

    # Both packages wait; us's push sends its own only, with its client.
    assert push_tracking(engine, client, account_id="us")["sent"] == 1
    assert emulator.get(f"orders/{shippable['us']}")["packages"]
    assert not emulator.get(f"orders/{shippable['eu']}")["packages"]
    with engine.connect() as conn:
        assert dict(conn.execute(select(p.account_id, p.state)).all()) == {"us": "sent", "eu": "pending"}
    assert push_tracking(engine, client, account_id="eu")["sent"] == 1
    assert emulator.get(f"orders/{shippable['eu']}")["packages"]
    with engine.connect() as conn:
        assert dict(conn.execute(select(p.account_id, p.amazon_order_id)).all()) == shippable


def _sharing_a_sku(inputs: dict[str, list[dict]]) -> tuple[dict, dict, str]:
    """An unshipped merchant order of each account with a SKU in common."""
    def merchant(orders):
        return [o for o in orders if o["fulfillment"]["fulfilledBy"] == "MERCHANT"
                and o["fulfillment"]["fulfillmentStatus"] == "UNSHIPPED"]

    for a in merchant(inputs["us"]):
        for b in merchant(inputs["eu"]):
            common = {i["product"]["sellerSku"] for i in a["orderItems"]} & {
                i["product"]["sellerSku"] for i in b["orderItems"]}
            if common:
                return a, b, sorted(common)[0]
    pytest.fail("no two unshipped merchant orders of the two accounts share a SKU")


def _units(order: dict, sku: str) -> int:
    return sum(i["quantityOrdered"] for i in order["orderItems"] if i["product"]["sellerSku"] == sku)


def test_reservations_of_two_accounts_add_up(accounts, client):
    us, eu = accounts["us"], accounts["eu"]
    a, b, sku = _sharing_a_sku(split(amazon_orders(client, end="2026-03-10T06:00:00Z")))
    engine = us.engine

    def stock(qty):
        with engine.begin() as conn:
            conn.execute(update(catalog_product).where(catalog_product.c.sku == sku).values(qty=qty))

    # Room for both: each reserves its units, together the sum.
    stock(_units(a, sku) + _units(b, sku))
    paths = {"us": prepare(us, RUN, [a]), "eu": prepare(eu, RUN, [b])}
    at_once(lambda: load(us, RUN, paths["us"]), lambda: load(eu, RUN, paths["eu"]))
    r = inventory_reservation.c
    with engine.connect() as conn:
        held = conn.execute(select(func.sum(r.quantity)).where(r.sku == sku)).scalar_one()
    assert int(held) == -(_units(a, sku) + _units(b, sku))
    assert set(commerce_orders(engine)) == {a["orderId"], b["orderId"]}

    # One unit short: the second account's order waits, its stock taken by the first account's reservation.
    with engine.begin() as conn:
        for table in ("sales_order_status_history", "sales_invoice_item", "sales_invoice", "sales_order_payment",
                      "sales_order_address", "sales_order_item", "inventory_reservation", "channel_amazon_order_note",
                      "channel_amazon_sync_run", "channel_amazon_order_item", "channel_amazon_order", "sales_order"):
            conn.execute(metadata.tables[table].delete())
    stock(_units(a, sku) + _units(b, sku) - 1)
    load(us, "next", prepare(us, "next", [a]))
    blocked = load(eu, "next", prepare(eu, "next", [b]))
    assert blocked["orders_blocked"] == 1 and blocked["commerce_orders_created"] == 0
    with engine.connect() as conn:
        note = conn.execute(select(channel_amazon_order.c.note).where(
            channel_amazon_order.c.amazon_order_id == b["orderId"])).scalar_one()
    assert note == f"Cannot create order: product {sku} is out of stock"


# ---- migration of a database made before accounts ------------------------------------------------------------

ACCOUNT_COLUMNS = {"account_id", "amazon_account_id"}


def schema_before_accounts() -> MetaData:
    """Today's schema without the account columns, the old sync-run key and the account index: what a database
    made before accounts holds."""
    old = MetaData()
    for table in metadata.sorted_tables:
        columns = [c._copy() for c in table.columns if c.name not in ACCOUNT_COLUMNS]
        extras = [UniqueConstraint(*c.columns.keys(), name=c.name) for c in table.constraints
                  if isinstance(c, UniqueConstraint) and c.name and not ACCOUNT_COLUMNS & set(c.columns.keys())]
        extras += [Index(i.name, *i.columns.keys()) for i in table.indexes
                   if not ACCOUNT_COLUMNS & set(i.columns.keys())]
        if table.name == channel_amazon_sync_run.name:
            extras.append(UniqueConstraint("run_id", "marketplace_id", name="uq_sync_run_marketplace"))
        Table(table.name, old, *columns, *extras, **TABLE_OPTIONS)
    return old


def test_an_existing_database_gains_the_accounts(commerce):
    metadata.drop_all(commerce)
    old = schema_before_accounts()
    old.create_all(commerce)
    assert "account_id" not in {c["name"] for c in inspect(commerce).get_columns("channel_amazon_order")}
    run = {"run_id": RUN, "marketplace_id": US, "window_start": EXTRACTED["window_start"], "orders_seen": 3,
           "commerce_orders_created": 1, "orders_blocked": 0, "api_calls": 1, "throttled": 0}
    at = datetime(2026, 3, 9, 6, tzinfo=UTC)
    with commerce.begin() as conn:
        conn.execute(insert(old.tables["channel_amazon_sync_run"]),
                     [{**run, "window_start": at, "window_end": at, "finished_at": at},
                      {**run, "marketplace_id": "A1F83G8C2ARO7P", "window_start": at, "window_end": at,
                       "finished_at": at}])
        conn.execute(insert(old.tables["channel_amazon_quarantine"]).values(
            quarantine_key="k1", reasons="[]", payload="{}", first_seen_run=RUN, last_seen_run=RUN, resolved=False))

    ensure_schema(commerce)
    found = inspect(commerce)
    for table in ("channel_amazon_order", "channel_amazon_order_item", "channel_amazon_quarantine",
                  "channel_amazon_package", "channel_amazon_cancellation", "channel_amazon_sync_run"):
        assert "account_id" in {c["name"] for c in found.get_columns(table)}, table
    assert "amazon_account_id" in {c["name"] for c in found.get_columns("sales_order")}
    assert "ix_channel_order_account" in {i["name"] for i in found.get_indexes("channel_amazon_order")}
    r = channel_amazon_sync_run.c
    with commerce.connect() as conn:
        assert conn.execute(select(r.account_id, r.orders_seen).order_by(r.marketplace_id)).all() == [
            ("default", 3), ("default", 3)]
        assert conn.execute(select(channel_amazon_quarantine.c.account_id)).scalar_one() == "default"
    with commerce.begin() as conn:  # another account's DAG has the same run ids
        conn.execute(insert(channel_amazon_sync_run).values(
            account_id="us", **{**run, "window_start": at}, window_end=at, finished_at=at))
    with pytest.raises(IntegrityError), commerce.begin() as conn:  # one row per account, run and marketplace
        conn.execute(insert(channel_amazon_sync_run).values(
            account_id="us", **{**run, "window_start": at}, window_end=at, finished_at=at))
    assert migrate_sync_run_key(commerce) is False  # done once
    ensure_schema(commerce)  # and again: nothing left to do
    with commerce.connect() as conn:
        assert conn.execute(select(func.count()).select_from(channel_amazon_sync_run)).scalar_one() == 3

