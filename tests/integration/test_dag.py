"""The DAG: imports cleanly, stays light at parse time, and a real interval run extracts the window's orders; with an
accounts file, one DAG per account (a wrong entry fails its own DAG only) whose runs carry the account."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support import ROOT, run_sync

pytestmark = [pytest.mark.airflow]
HEAVY = ("pandas", "great_expectations", "sqlalchemy", "fastapi", "amazon_channel.emulator", "amazon_channel.spapi")


def test_dags_import_without_errors(airflow_db, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.delenv("AMAZON_CHANNEL_ACCOUNTS_FILE", raising=False)
    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}
    # no accounts file: today's one sync DAG
    assert sorted(bag.dag_ids) == ["amazon_buyer_data_retention", "amazon_orders_sync", "erp_order_export"]
    dag = bag.get_dag("amazon_orders_sync")
    assert "account:default" in dag.tags and dag.dag_display_name == "Amazon orders sync"
    assert dag.max_active_runs == 1 and not dag.catchup
    assert dag.doc_md and "Backfill" in dag.doc_md
    extract = dag.get_task("extract_orders")
    assert extract.pool == "amazon_sp_api" and extract.execution_timeout
    assert extract.retries == int(os.environ["AMAZON_CHANNEL_TASK_RETRIES"]) and extract.retry_exponential_backoff
    assert type(dag.timetable).__name__ == "CronDataIntervalTimetable"
    chain = ["check_settings", "extract_orders", "validate_orders", "transform_orders", "load_customers", "load_orders",
             "reconcile_shipments", "push_cancellations", "push_tracking"]
    for upstream, downstream in zip(chain, chain[1:], strict=False):
        assert downstream in dag.get_task(upstream).downstream_task_ids
    assert [o.uri.rstrip("/") for o in dag.get_task("load_orders").outlets] == ["commerce://sales_order"]
    # Reconcile runs even after a failed import; the watcher keeps such a run red.
    assert dag.get_task("reconcile_shipments").trigger_rule == "all_done"
    cancellations = dag.get_task("push_cancellations")
    assert cancellations.trigger_rule == "all_done" and cancellations.pool == "amazon_sp_api"
    assert dag.get_task("push_tracking").trigger_rule == "all_done"
    watcher = dag.get_task("watcher")
    assert watcher.trigger_rule == "one_failed" and watcher.upstream_task_ids == {
        t for t in dag.task_ids if t != "watcher"}
    # The example ERP export is scheduled on that asset: new orders are announced, not polled for.
    assert "commerce://sales_order" in repr(bag.get_dag("erp_order_export").timetable.asset_condition)


def test_no_heavy_imports_at_parse_time():
    """Parsing the DAG files must not import pandas, GX, SQLAlchemy or our client: the dag-processor stays fast."""
    code = (f"import sys, runpy; dag = runpy.run_path({str(ROOT / 'dags' / 'amazon_orders_sync.py')!r}); "
            f"runpy.run_path({str(ROOT / 'dags' / 'amazon_buyer_data_retention.py')!r}); "
            f"print(dag['default_args']['retries']); print([m for m in {HEAVY!r} if m in sys.modules])")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), str(ROOT / "dags")])}
    env.pop("AMAZON_CHANNEL_TASK_RETRIES")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    retries, loaded = out.stdout.strip().splitlines()[-2:]
    assert retries == "3"  # the production default
    assert [m for m in eval(loaded) if m != "sqlalchemy"] == [], loaded  # Airflow itself brings SQLAlchemy


@pytest.mark.emulator
def test_interval_run_extracts_the_windows_orders(airflow_db, sp_api_connection, emulator, tmp_path, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    from amazon_channel.crypto import unseal_bytes

    monkeypatch.setenv("AMAZON_CHANNEL_STAGING_ROOT", f"file://{tmp_path}")
    monkeypatch.setenv("AIRFLOW_CONN_COMMERCE_DB", json.dumps(
        {"conn_type": "generic", "extra": {"url": f"sqlite:///{tmp_path}/commerce.db"}}))
    dag = DagBag(dag_folder=str(ROOT / "dags")).get_dag("amazon_orders_sync")
    # dag.test takes the date as run_after: 10:00 runs the interval [09:00, 10:00), plus a 15-minute overlap.
    run = dag.test(logical_date=datetime(2026, 3, 9, 10, tzinfo=UTC))
    assert run.state == "success"
    expected = {o["orderId"] for o in emulator.truth("2026-03-09T08:45:00Z", "2026-03-09T10:00:00Z")}
    pages = [json.loads(unseal_bytes(p.read_bytes())) for p in sorted(Path(tmp_path).rglob("page-*.json"))]
    staged = [o["orderId"] for page in pages for o in page["orders"]]
    assert expected and sorted(staged) == sorted(expected)
    assert pages[0]["window"] == ["2026-03-09T08:45:00Z", "2026-03-09T10:00:00Z"]
    assert not any(p.read_bytes().startswith(b"{") for p in Path(tmp_path).rglob("page-*.json"))  # sealed at rest


@pytest.mark.emulator
def test_manual_run_without_interval_fails_at_once_naming_the_params(client, tmp_path):
    """No interval and no window params: the extract step fails without retries, saying what to give."""
    from amazon_channel.errors import NotRetryableError
    from amazon_channel.staging import Staging
    from amazon_channel.steps import Run, extract_step

    run = Run("amazon_orders_sync", "manual__2026-03-09T10:00:00+00:00", Staging(f"file://{tmp_path}"))
    with pytest.raises(NotRetryableError, match="window_start and window_end"):
        extract_step(client, run, None, None)


# ---- several accounts ----------------------------------------------------------------------------------------

SYNC_TASKS = ["check_settings", "extract_orders", "validate_orders", "transform_orders", "load_customers",
              "load_orders", "reconcile_shipments", "push_cancellations", "push_tracking", "watcher"]
SP_API_TASKS = ["extract_orders", "push_cancellations", "push_tracking"]  # the tasks that hold the account's pool


def accounts_bag(tmp_path, monkeypatch, entries):
    """The DagBag parsed with an accounts file declaring `entries`."""
    from airflow.dag_processing.dagbag import DagBag

    path = tmp_path / "accounts.json"
    path.write_text(json.dumps({"accounts": entries}))
    monkeypatch.setenv("AMAZON_CHANNEL_ACCOUNTS_FILE", str(path))
    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}
    return bag


@pytest.mark.parametrize("ids", [["us"], ["us", "eu", "jp"]], ids=["one account", "three accounts"])
def test_one_dag_per_declared_account(airflow_db, tmp_path, monkeypatch, ids):
    bag = accounts_bag(tmp_path, monkeypatch, [{"id": i, "conn_id": f"amazon_sp_api_{i}"} for i in ids])
    assert sorted(bag.dag_ids) == sorted([f"amazon_orders_sync__{i}" for i in ids]
                                         + ["amazon_buyer_data_retention", "erp_order_export"])
    for account_id in ids:
        dag = bag.get_dag(f"amazon_orders_sync__{account_id}")
        assert sorted(dag.task_ids) == sorted(SYNC_TASKS)
        assert {dag.get_task(t).pool for t in SP_API_TASKS} == {f"amazon_sp_api__{account_id}"}
        assert f"account:{account_id}" in dag.tags and dag.dag_display_name.endswith(account_id)
        assert f"account `{account_id}`" in dag.doc_md and f"`amazon_sp_api_{account_id}`" in dag.doc_md
        assert f"airflow pools set amazon_sp_api__{account_id} 1" in dag.doc_md  # how to create the pool
        assert f"--dag-id amazon_orders_sync__{account_id}" in dag.doc_md
        assert dag.max_active_runs == 1 and not dag.catchup and dag.timetable.expression == "0 * * * *"
        assert dag.default_args["on_failure_callback"].account_id == account_id


def test_a_wrong_entry_becomes_a_failing_dag_and_the_others_parse(airflow_db, tmp_path, monkeypatch):
    bag = accounts_bag(tmp_path, monkeypatch, [
        {"id": "eu", "conn_id": "amazon_sp_api_eu", "region": "eu", "marketplace_ids": ["A1PA6795UKMFR9"],
         "schedule": "30 */2 * * *", "pool": "amazon_eu", "order_settings": {"default": {"store_id": 1}}},
        {"id": "moon", "conn_id": "amazon_sp_api_moon", "region": "moon"},
        {"id": "Bad Id", "conn_id": "x"},
    ])
    assert sorted(bag.dag_ids) == ["amazon_buyer_data_retention", "amazon_orders_sync__entry-3",
                                   "amazon_orders_sync__eu", "amazon_orders_sync__moon", "erp_order_export"]
    eu = bag.get_dag("amazon_orders_sync__eu")
    assert eu.timetable.expression == "30 */2 * * *" and {eu.get_task(t).pool for t in SP_API_TASKS} == {"amazon_eu"}
    assert "region:eu" in eu.tags and "its own `order_settings`" in eu.doc_md
    for dag_id, words in (("amazon_orders_sync__moon", "region 'moon' is unknown"),
                          ("amazon_orders_sync__entry-3", "'Bad Id' is not a valid account id")):
        dag = bag.get_dag(dag_id)
        assert dag.task_ids == ["check_settings"] and dag.get_task("check_settings").retries == 0
        assert words in dag.doc_md and "misconfigured" in dag.tags


def test_an_unreadable_accounts_file_is_one_failing_dag(airflow_db, tmp_path, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    path = tmp_path / "accounts.yaml"
    path.write_text("accounts: [id: us")
    monkeypatch.setenv("AMAZON_CHANNEL_ACCOUNTS_FILE", str(path))
    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}
    assert sorted(bag.dag_ids) == ["amazon_buyer_data_retention", "amazon_orders_sync__accounts_file",
                                   "erp_order_export"]
    assert "not valid YAML" in bag.get_dag("amazon_orders_sync__accounts_file").doc_md




def failed_tasks(run) -> dict[str, int]:
    """task id -> try number of the run's failed task instances."""
    return {ti.task_id: ti.try_number for ti in run.get_task_instances() if ti.state == "failed"}


@pytest.mark.emulator
@pytest.mark.parametrize("commerce_url", ["sqlite"], indirect=True)
def test_wrong_entries_and_a_wrong_region_fail_their_first_task_at_once(pipeline_env, receiver, tmp_path):
    """A broken entry's DAG and an account whose declared region is not its connection's fail in check_settings
    without retries, alerting with the account and the reason; the account beside them runs."""
    path = tmp_path / "accounts.json"
    path.write_text(json.dumps({"accounts": [
        {"id": "us", "conn_id": "amazon_sp_api"},
        {"id": "eu", "conn_id": "amazon_sp_api", "region": "eu"},  # the connection is the emulator's na one
        {"id": "moon", "conn_id": "amazon_sp_api", "region": "moon"},
    ]}))
    pipeline_env.setenv("AMAZON_CHANNEL_ACCOUNTS_FILE", str(path))
    interval_end = datetime(2026, 3, 9, 10, tzinfo=UTC)
    for account_id, words in (("moon", "region 'moon' is unknown"),
                              ("eu", "declares region 'eu' but the connection is for region 'na'")):
        run = run_sync(interval_end, dag_id=f"amazon_orders_sync__{account_id}")
        assert run.state == "failed"
        assert failed_tasks(run).get("check_settings") == 1, failed_tasks(run)  # the first try, no retries
        alert = next(a["alert"] for a in receiver if a["alert"]["dag_id"] == f"amazon_orders_sync__{account_id}")
        assert alert["account_id"] == account_id and alert["task_id"] == "check_settings" and words in alert["error"]
    assert run_sync(interval_end, dag_id="amazon_orders_sync__us").state == "success"


@pytest.mark.emulator
@pytest.mark.parametrize("commerce_url", ["sqlite"], indirect=True)
def test_an_accounts_run_stamps_its_account_on_rows_and_the_asset_event(pipeline_env, emulator, commerce, tmp_path):
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from amazon_channel.commerce.schema import channel_amazon_order, channel_amazon_sync_run, sales_order

    path = tmp_path / "accounts.yaml"
    path.write_text("accounts:\n  - {id: shop-us, conn_id: amazon_sp_api, region: na}\n")
    pipeline_env.setenv("AMAZON_CHANNEL_ACCOUNTS_FILE", str(path))
    run = run_sync(datetime(2026, 3, 9, 10, tzinfo=UTC), dag_id="amazon_orders_sync__shop-us")
    assert run.state == "success"
    with commerce.connect() as conn:
        accounts = set(conn.execute(select(channel_amazon_order.c.account_id)).scalars())
        sync_accounts = set(conn.execute(select(channel_amazon_sync_run.c.account_id)).scalars())
        order_accounts = set(conn.execute(select(sales_order.c.amazon_account_id)
                                          .where(sales_order.c.amazon_account_id.is_not(None))).scalars())
    assert accounts == sync_accounts == order_accounts == {"shop-us"}
    with create_session() as session:
        event = session.scalars(select(AssetEvent).where(AssetEvent.source_dag_id == "amazon_orders_sync__shop-us")
                                .order_by(AssetEvent.id.desc())).first()
    assert event.extra["account_id"] == "shop-us" and event.extra["commerce_orders_created"] > 0
