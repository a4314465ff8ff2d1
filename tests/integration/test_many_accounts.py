"""Two sellers, three regions, five accounts on one Commerce database: every account's DAG run in turn and then all
at once for the same hours, against an emulator with `--sellers 2`, on SQLite, PostgreSQL and MariaDB.

Each account's Commerce orders must equal its seller-region's ground truth (none twice, none crossed), each package
must land at Amazon under the seller that owns the order, and stock reservations of accounts selling the same SKUs
must add up. Two more accounts have a wrong connection (seller 1's Europe token on North America; a refresh token no
seller gave this application): their own DAG fails fast with Amazon's words and an alert, while the others run beside
them.

The concurrent runs are separate processes (`dag.test` each), as separate DAG runs on workers are, forked like a
Celery worker's from one that holds Airflow and the pipeline; each has a copy of the Airflow metadata database, so the
only things they share are the ones production shares: the Commerce database and Amazon.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sqlite3
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from amazon_channel.commerce.schema import (
    channel_amazon_package,
    channel_amazon_quarantine,
    inventory_reservation,
    sales_order,
    sales_order_item,
)
from amazon_channel.commerce.shipments import create_shipment
from amazon_channel.orders_view import OrderFilter, filter_choices, list_orders, sync_health
from amazon_channel.rules import PENDING_STATUSES
from tests.integration.commerce_queries import channel_orders, commerce_orders, imported, should_have_commerce_order
from tests.support import ROOT

pytestmark = [pytest.mark.airflow, pytest.mark.emulator]

# (account id, seller index in /_emulator/sellers, region). The first is declared as small as the issue allows.
ACCOUNTS = [("s1-na", 0, "na"), ("s1-eu", 0, "eu"), ("s1-fe", 0, "fe"), ("s2-na", 1, "na"), ("s2-eu", 1, "eu")]
WRONG_REGION, WRONG_SELLER = "s1-wrong-region", "s3-not-authorized"
AMAZON_SAYS = {WRONG_REGION: "Access to requested resource is denied",  # 403 Unauthorized on the /na prefix
               WRONG_SELLER: "The request has an invalid grant parameter : refresh_token"}  # LWA's invalid_grant
S2_EU_PREFIX = "S2EU-"  # s2-eu numbers its Commerce orders by Amazon's id, from its own Order Settings
# The emulator's clock stands at 2026-03-10 12:00 (tests/support.py): two days in turn, then the last day at once.
IN_TURN = {"window_start": "2026-03-08T00:00:00Z", "window_end": "2026-03-10T00:00:00Z"}
AT_ONCE = {"window_start": "2026-03-09T23:45:00Z", "window_end": "2026-03-10T11:58:00Z"}
FIRST_RUN, SECOND_RUN = datetime(2026, 3, 10, 0, tzinfo=UTC), datetime(2026, 3, 10, 12, tzinfo=UTC)
TASK_RETRIES = "2"  # production-like retries for the wrong connections: failing fast means they are not used


@pytest.fixture
def sellers_emulator(sellers_emulator_process):
    sellers_emulator_process.reset()
    yield sellers_emulator_process
    sellers_emulator_process.reset()




def connection(auth: dict, region: str, seller_id: str, **changes) -> str:
    """An SP-API connection as an operator makes it from one seller's authorization in one region."""
    extra = {"refresh_token": auth["refresh_token"], "region": region, "endpoint": auth["endpoint"],
             "lwa_endpoint": auth["lwa_endpoint"], "marketplace_ids": auth["marketplace_ids"], "seller_id": seller_id,
             "backoff_base": 0.05, "backoff_cap": 0.5, "deadline": 120, **changes}
    return json.dumps({"conn_type": "generic", "login": auth["client_id"], "password": auth["client_secret"],
                       "extra": extra})


def conn_id(account: str) -> str:
    return "amazon_sp_api_" + account.replace("-", "_")


@pytest.fixture
def many_accounts(airflow_db, sellers_emulator, commerce_url, receiver, tmp_path, monkeypatch):
    """The accounts file, each account's connection (AIRFLOW_CONN_*), the Commerce DB and staging."""
    sellers = sellers_emulator.get("sellers")["sellers"]
    assert len(sellers) == 2 and all(set(s["regions"]) == {"na", "eu", "fe"} for s in sellers)
    entries = []
    for account, seller, region in ACCOUNTS:
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id(account).upper()}", connection(
            sellers[seller]["regions"][region], region, sellers[seller]["seller_id"]))
        entries.append({"id": account, "conn_id": conn_id(account)})
    entries[1]["region"] = "eu"  # richer entries: a region that matches its connection's, own Order Settings
    entries[4]["order_settings"] = {"default": {"order_number": "amazon", "order_number_prefix": S2_EU_PREFIX,
                                                "fba_order_number_prefix": S2_EU_PREFIX}}
    # Seller 1's Europe authorization in a connection for North America: Amazon refuses its token there.
    s1 = sellers[0]
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id(WRONG_REGION).upper()}", connection(
        s1["regions"]["eu"], "na", s1["seller_id"], endpoint=s1["regions"]["na"]["endpoint"],
        marketplace_ids=s1["regions"]["na"]["marketplace_ids"]))
    # A seller who never authorized this application (or revoked it): LWA does not know its refresh token.
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id(WRONG_SELLER).upper()}", connection(
        {**s1["regions"]["na"], "refresh_token": "Atzr|not-a-seller-of-this-app"}, "na", "A3NOTAUTHORIZED"))
    entries += [{"id": WRONG_REGION, "conn_id": conn_id(WRONG_REGION)},
                {"id": WRONG_SELLER, "conn_id": conn_id(WRONG_SELLER)}]
    accounts_file = tmp_path / "accounts.json"
    accounts_file.write_text(json.dumps({"accounts": entries}))
    monkeypatch.setenv("AMAZON_CHANNEL_ACCOUNTS_FILE", str(accounts_file))
    monkeypatch.setenv("AIRFLOW_CONN_COMMERCE_DB", json.dumps({"conn_type": "generic", "extra": {"url": commerce_url}}))
    monkeypatch.setenv("AMAZON_CHANNEL_STAGING_ROOT", f"file://{tmp_path}/staging")
    monkeypatch.delenv("AIRFLOW_VAR_AMAZON_CHANNEL_ORDER_SETTINGS", raising=False)
    return {account: (sellers[seller]["seller_id"], region) for account, seller, region in ACCOUNTS}


def run_dag(spec: dict, env: dict, log: str) -> None:
    """One account's DAG run with dag.test, in a process of its own: its output goes to `log`, ending with a RESULT
    line (the run's state, each task's state and try)."""
    descriptor = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(descriptor, 1)
    os.dup2(descriptor, 2)
    os.environ.clear()
    os.environ.update(env)
    from airflow import settings
    from airflow.dag_processing.dagbag import DagBag

    settings.configure_vars()  # the forkserver imported Airflow with the test's metadata DB: this run's copy instead
    settings.reconfigure_orm()
    assert settings.engine.url.render_as_string(hide_password=False) == env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]

    dag = DagBag(dag_folder=spec["dags"]).get_dag(spec["dag_id"])
    run = dag.test(logical_date=datetime.fromisoformat(spec["logical_date"]), run_conf=spec["conf"])
    tasks = {ti.task_id: [ti.state, ti.try_number] for ti in run.get_task_instances()}
    print("RESULT " + json.dumps({"state": run.state, "tasks": tasks}), flush=True)


def run_dags(accounts: list[str], logical_date: datetime, conf: dict, folder: Path, **env) -> dict[str, dict]:
    """Each account's DAG run in its own process, all at once. As a Celery worker forks its pool processes from one
    that holds Airflow and the pipeline (plugins/celery_config.py), they fork from a server that imported both once
    (forked_runs_preload.py). Each has a copy of the migrated Airflow metadata DB (SQLite allows one writer), so they
    share only the Commerce DB and the emulator."""
    from airflow.settings import SQL_ALCHEMY_CONN

    forkserver = multiprocessing.get_context("forkserver")
    forkserver.set_forkserver_preload(["tests.integration.forked_runs_preload"])
    source = sqlite3.connect(SQL_ALCHEMY_CONN.removeprefix("sqlite:///"))
    processes = {}
    for account in accounts:
        metadata = folder / f"airflow-{account}.db"
        with sqlite3.connect(metadata) as copy:
            source.backup(copy)
        spec = {"dags": str(ROOT / "dags"), "dag_id": f"amazon_orders_sync__{account}",
                "logical_date": logical_date.isoformat(), "conf": conf}
        process_env = {**os.environ, **env, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{metadata}"}
        log = str(folder / f"{account}.log")
        processes[account] = forkserver.Process(target=run_dag, args=(spec, process_env, log))
        processes[account].start()
    source.close()
    results = {}
    for account, process in processes.items():
        process.join(timeout=300)
        if process.is_alive():
            process.kill()
        output = (folder / f"{account}.log").read_text()
        lines = [line for line in output.splitlines() if line.startswith("RESULT ")]
        assert lines, f"{account}: the DAG run did not finish:\n{output[-4000:]}"
        results[account] = {**json.loads(lines[-1][len("RESULT "):]), "log": output}
    return results


def run_in_turn(accounts: list[str], logical_date: datetime, conf: dict) -> dict[str, str]:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags"))  # parsed with the accounts file set
    assert not bag.import_errors, bag.import_errors
    return {account: bag.get_dag(f"amazon_orders_sync__{account}").test(logical_date=logical_date,
                                                                        run_conf=conf).state
            for account in accounts}


def truth(emulator, seller_id: str, region: str) -> dict[str, dict]:
    """The seller-region's orders changed in the two windows, as Amazon has them now (the clock stands still)."""
    orders = emulator.get("orders", seller_id=seller_id, region=region, lastUpdatedAfter=IN_TURN["window_start"],
                          lastUpdatedBefore=AT_ONCE["window_end"])["orders"]
    return {o["orderId"]: o for o in orders}


def open_units_by_sku(engine) -> dict[str, int]:
    """Units every still-processing Commerce order holds, per SKU: what the reservations must add up to."""
    so, si = sales_order.c, sales_order_item.c
    with engine.connect() as conn:
        return {sku: int(units) for sku, units in conn.execute(
            select(si.sku, func.sum(si.qty_ordered - si.qty_canceled)).join(sales_order, so.entity_id == si.order_id)
            .where(so.state == "processing").group_by(si.sku)) if units}


def reserved_by_sku(engine) -> dict[str, int]:
    r = inventory_reservation.c
    with engine.connect() as conn:
        return {sku: -int(q) for sku, q in conn.execute(select(r.sku, func.sum(r.quantity)).group_by(r.sku)) if q}


def test_five_accounts_of_two_sellers_in_three_regions_share_one_commerce_db(
        many_accounts, sellers_emulator, receiver, commerce, tmp_path):
    emulator, good = sellers_emulator, list(many_accounts)
    expected = {account: truth(emulator, *where) for account, where in many_accounts.items()}
    assert all(expected.values()) and not set.intersection(*(set(t) for t in expected.values()))

    # Act 1: every account's DAG in turn, the same two days
    assert run_in_turn(good, FIRST_RUN, IN_TURN) == dict.fromkeys(good, "success")

    # Staff ship one merchant order of each account in Commerce: the next runs push it with that account's client
    now = datetime.fromisoformat(emulator.get("health")["now"].replace("Z", "+00:00"))
    channel, shipped = channel_orders(commerce), {}
    before = Counter(o["amazon_account_id"] for o in commerce_orders(commerce).values())
    for account in good:
        order = next(o for o in sorted(commerce_orders(commerce).values(), key=lambda o: o["increment_id"])
                     if o["state"] == "processing" and o["amazon_account_id"] == account
                     and channel[o["ext_order_id"]]["fulfillment_channel"] == "MFN"
                     and not channel[o["ext_order_id"]]["cancel_requested"])  # that one's package would be held
        tracking = f"1Z{account.replace('-', '').upper()}0001"
        create_shipment(commerce, order["increment_id"], "ups", tracking, now=now)
        shipped[order["ext_order_id"]] = (account, tracking)

    # Act 2: all at once for the same hours, with the two wrong connections running beside them (they fail before
    # reaching the Commerce DB, so one dialect shows it; each more process costs the suite seconds)
    wrong = list(AMAZON_SAYS) if commerce.dialect.name == "sqlite" else []
    results = run_dags([*good, *wrong], SECOND_RUN, AT_ONCE, tmp_path, AMAZON_CHANNEL_TASK_RETRIES=TASK_RETRIES)

    # Assert: the good accounts succeeded; each has exactly its seller-region's orders, none twice, none crossed
    assert {a: r["state"] for a, r in results.items() if a in good} == dict.fromkeys(good, "success"), {
        a: r["log"][-3000:] for a, r in results.items() if a in good and r["state"] != "success"}
    # ...each task on its first try: accounts running at once never make each other's transactions fail (a deadlock
    # on shared stock rows cost a retry, a minute later, before reconcile locked them in SKU order)
    retried = {a: {task: n for task, (_, n) in r["tasks"].items() if n > 1} for a, r in results.items() if a in good}
    assert not any(retried.values()), retried
    channel, sales = channel_orders(commerce), commerce_orders(commerce)  # one Commerce order per Amazon order
    for account, orders in expected.items():
        stored, due = {k for k, o in channel.items() if o["account_id"] == account}, {
            k for k, o in orders.items() if imported(o)}
        assert stored == due, where_they_went(commerce, orders, due - stored, stored - due, results.get(account))
        assert {k for k, o in sales.items() if o["amazon_account_id"] == account} == {
            k for k, o in orders.items() if should_have_commerce_order(o["status"], o["fulfilledBy"])}, account
    assert {o["account_id"] for o in channel.values()} == {o["amazon_account_id"] for o in sales.values()} == set(good)
    after = Counter(o["amazon_account_id"] for o in sales.values())
    assert sum(after[a] > before[a] for a in good) >= 2  # several accounts made Commerce orders at the same time
    assert len({o["increment_id"] for o in sales.values()}) == len(sales)  # the order number sequence held
    s2_eu = [o["increment_id"] for o in sales.values() if o["amazon_account_id"] == "s2-eu"]
    assert s2_eu and all(n.startswith(S2_EU_PREFIX) for n in s2_eu)  # its own Order Settings
    assert not any(o["increment_id"].startswith(S2_EU_PREFIX) for o in sales.values()
                   if o["amazon_account_id"] != "s2-eu")

    # Assert: every package went out under the seller that owns the order (Amazon's ground truth)
    p = channel_amazon_package.c
    with commerce.connect() as conn:
        packages = {r.amazon_order_id: r for r in conn.execute(select(p.amazon_order_id, p.account_id, p.state,
                                                                      p.tracking_number))}
    for amazon_order_id, (account, tracking) in shipped.items():
        package = packages[amazon_order_id]
        assert (package.account_id, package.state, package.tracking_number) == (account, "sent", tracking)
        seller_id, region = many_accounts[account]
        at_amazon = emulator.get(f"orders/{amazon_order_id}", seller_id=seller_id, region=region)
        assert (at_amazon["sellerId"], at_amazon["region"]) == (seller_id, region)
        assert [x["tracking_number"] for x in at_amazon["packages"]] == [tracking]
    assert set(packages) == set(shipped)

    # Assert: reservations of accounts selling the same SKUs add up
    holders = defaultdict(set)
    so, si = sales_order.c, sales_order_item.c
    with commerce.connect() as conn:
        for sku, account in conn.execute(select(si.sku, so.amazon_account_id).join(
                sales_order, so.entity_id == si.order_id).where(so.state == "processing")):
            holders[sku].add(account)
    assert any(len(accounts) > 1 for accounts in holders.values())  # the same SKU held by several accounts
    assert reserved_by_sku(commerce) == open_units_by_sku(commerce)

    # Assert: the wrong connections failed their own DAG at the first call to Amazon, at once, with Amazon's words
    for account in wrong:
        result = results[account]
        assert result["state"] == "failed", result["log"][-3000:]
        failed = {task: try_number for task, (state, try_number) in result["tasks"].items() if state == "failed"}
        assert set(failed) == {"extract_orders", "watcher"}, result["tasks"]  # the watcher keeps such a run red
        assert failed["extract_orders"] == 1  # one try: retrying cannot fix a refused authorization
        (alert,) = [a["alert"] for a in receiver if a["alert"]["dag_id"] == f"amazon_orders_sync__{account}"]
        assert alert["kind"] == "failure" and alert["task_id"] == "extract_orders"
        assert alert["account_id"] == account and AMAZON_SAYS[account] in alert["error"]
    assert not [a for a in receiver if a["alert"]["dag_id"] in {f"amazon_orders_sync__{g}" for g in good}
                and a["alert"]["kind"] == "failure"]

    # Assert: the Amazon Orders view tells the accounts apart, and shows sync health per account and marketplace
    with commerce.connect() as conn:
        assert filter_choices(conn)["accounts"] == sorted(good)
        for account in good:
            listed = list_orders(conn, OrderFilter(account_id=account), page_size=200)["rows"]
            assert {r["amazon_order_id"] for r in listed} == {
                k for k, o in channel.items() if o["account_id"] == account and o["status"] not in PENDING_STATUSES}
        health = sync_health(conn, now=SECOND_RUN)
    assert {h["account_id"] for h in health} == set(good)
    last_windows = defaultdict(set)
    for h in health:
        seller_id, region = many_accounts[h["account_id"]]
        assert h["marketplace_id"] in marketplaces(emulator, seller_id, region)
        last_windows[h["account_id"]].add(h["last_window_end"].isoformat().replace("+00:00", "Z"))
        assert h["created_recent"] == sum(1 for o in sales.values() if o["amazon_account_id"] == h["account_id"]
                                          and channel[o["ext_order_id"]]["marketplace_id"] == h["marketplace_id"])
    # Each account's own runs: its last, or its first for a marketplace without orders since
    for ends in last_windows.values():
        assert AT_ONCE["window_end"] in ends and ends <= {IN_TURN["window_end"], AT_ONCE["window_end"]}, ends


def where_they_went(commerce, truth_orders: dict, missing: set, extra: set, result: dict | None) -> str:
    """For a failed comparison: each missing order as Amazon has it and any quarantine row of it, and the end of the
    account's concurrent run's log (none of it buyer data: ids, times, statuses, reasons)."""
    q = channel_amazon_quarantine.c
    with commerce.connect() as conn:
        quarantined = {r.amazon_order_id: r for r in conn.execute(
            select(q.amazon_order_id, q.account_id, q.reasons, q.resolved).where(
                q.amazon_order_id.in_(sorted(missing | extra))))}
    lines = [f"missing {order_id}: {o['status']} {o['fulfilledBy']} updated {o['lastUpdatedTime']}, "
             f"quarantine: {quarantined.get(order_id)}"
             for order_id, o in sorted((order_id, truth_orders[order_id]) for order_id in missing)]
    lines += [f"not Amazon's: {order_id}" for order_id in sorted(extra)]
    return "\n".join(lines + ["--- its concurrent run:", (result or {}).get("log", "")[-6000:]])


def marketplaces(emulator, seller_id: str, region: str) -> set[str]:
    seller = next(s for s in emulator.get("sellers")["sellers"] if s["seller_id"] == seller_id)
    return set(seller["regions"][region]["marketplace_ids"])
