"""The DAG: imports cleanly, stays light at parse time, and a real interval run extracts the window's orders."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support import ROOT

pytestmark = [pytest.mark.airflow]
HEAVY = ("pandas", "great_expectations", "sqlalchemy", "fastapi", "amazon_channel.emulator", "amazon_channel.spapi")


def test_dags_import_without_errors(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}
    dag = bag.get_dag("amazon_orders_sync")
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
    """Parsing the DAG file must not import pandas, GX, SQLAlchemy or our client: the dag-processor stays fast."""
    code = (f"import sys, runpy; dag = runpy.run_path({str(ROOT / 'dags' / 'amazon_orders_sync.py')!r}); "
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

    monkeypatch.setenv("AMAZON_CHANNEL_STAGING_ROOT", f"file://{tmp_path}")
    monkeypatch.setenv("AIRFLOW_CONN_COMMERCE_DB", json.dumps(
        {"conn_type": "generic", "extra": {"url": f"sqlite:///{tmp_path}/commerce.db"}}))
    dag = DagBag(dag_folder=str(ROOT / "dags")).get_dag("amazon_orders_sync")
    # dag.test takes the date as run_after: 10:00 runs the interval [09:00, 10:00), plus a 15-minute overlap.
    run = dag.test(logical_date=datetime(2026, 3, 9, 10, tzinfo=UTC))
    assert run.state == "success"
    expected = {o["orderId"] for o in emulator.truth("2026-03-09T08:45:00Z", "2026-03-09T10:00:00Z")}
    pages = sorted(p for p in Path(tmp_path).rglob("page-*.json"))
    staged = [o["orderId"] for p in pages for o in json.loads(p.read_text())["orders"]]
    assert expected and sorted(staged) == sorted(expected)
    assert json.loads(pages[0].read_text())["window"] == ["2026-03-09T08:45:00Z", "2026-03-09T10:00:00Z"]


@pytest.mark.emulator
def test_manual_run_without_interval_fails_at_once_naming_the_params(client, tmp_path):
    """No interval and no window params: the extract step fails without retries, saying what to give."""
    from amazon_channel.errors import NotRetryableError
    from amazon_channel.staging import Staging
    from amazon_channel.steps import Run, extract_step

    run = Run("amazon_orders_sync", "manual__2026-03-09T10:00:00+00:00", Staging(f"file://{tmp_path}"))
    with pytest.raises(NotRetryableError, match="window_start and window_end"):
        extract_step(client, run, None, None)
