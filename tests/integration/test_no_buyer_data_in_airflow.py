"""No buyer personal data leaks into Airflow (Amazon's Data Protection Policy).

A day of orders goes through amazon_orders_sync with dag.test: the day's first hour as its scheduled interval run while
the Commerce DB fails (load_orders fails, is retried, fails again and alerts), then the failed hour and the rest of the
day in one run (the same orders as the day's 24 hourly runs, far cheaper), then a backfill of the hour before,
re-processing every order of its window. Then no buyer's whole name, e-mail, phone or street from the emulator's ground
truth may be in a task log, an XCom, a rendered template field, an alert body or any row of any table of the Airflow
metadata DB.

Not covered here: the api-server and the Amazon Orders view (test_ui.py checks that a search by a buyer's name stays
out of the api-server's access log); log files written by a real scheduler and workers (dag.test runs the tasks in
this process, whose output is their log: the same lines a worker writes to the logs folder, which is searched too);
Airflow's backfill and clear machinery (dag.test makes manual runs: the backfill here is an older interval run with
`reprocess_unchanged`, and the re-run after the failure a new run); database errors raised by PostgreSQL or MariaDB
(their own message can quote a row); and the staged pages and the Commerce DB, which hold buyer data by design.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from tests.integration.commerce_queries import channel_orders
from tests.support import ROOT, airflow_log_files, airflow_metadata_rows, find_buyer_data

pytestmark = [pytest.mark.airflow, pytest.mark.emulator]
DAY = datetime(2026, 3, 9, tzinfo=UTC)  # a whole past day at the emulator's clock (2026-03-10T12:00Z)
OVERLAP = timedelta(minutes=15)  # the DAG's default overlap_minutes
FAILURE = "Commerce DB write failed (simulated outage)"


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def sync(interval_end: datetime, load_retries: int = 0, **conf):
    """dag.test of amazon_orders_sync for the hourly interval ending at `interval_end`, with `load_retries` retries of
    load_orders, at once (the tests' DAG has none: AMAZON_CHANNEL_TASK_RETRIES=0)."""
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(ROOT / "dags")).get_dag("amazon_orders_sync")
    load = dag.get_task("load_orders")
    load.retries, load.retry_delay = load_retries, timedelta(0)
    return dag.test(logical_date=interval_end, run_conf=conf or None)


@pytest.mark.parametrize("commerce_url", ["sqlite"], indirect=True)
def test_a_day_of_runs_with_a_failure_retries_alerts_and_a_backfill_leaves_no_buyer_data_in_airflow(
        pipeline_env, emulator, receiver, commerce, capfd):
    # Act: the day's first hour as scheduled (its interval run), while the Commerce DB fails every write of a
    # Commerce order's address (as a full disk or a lost server would), so the failing statement carries buyer data:
    # load_orders fails, is retried once, fails again and alerts, and the run fails.
    with commerce.begin() as conn:
        conn.execute(text("CREATE TRIGGER simulated_outage BEFORE INSERT ON sales_order_address "
                          f"BEGIN SELECT RAISE(ABORT, '{FAILURE}'); END"))
    runs = [sync(DAY + timedelta(hours=1), load_retries=1)]
    with commerce.begin() as conn:
        conn.execute(text("DROP TRIGGER simulated_outage"))
    # Once the database is back, the operator runs the failed hour and the rest of the day in one run: the orders of
    # the day's 24 hourly runs. (dag.test replaces a run of the same logical date, XComs and all: each run here has
    # its own, so every one stays to be searched.)
    runs.append(sync(DAY + timedelta(hours=2), window_start=iso(DAY - OVERLAP),
                     window_end=iso(DAY + timedelta(days=1))))
    # A backfill of the hour before the day, after the newer runs, re-processing every order of its window (its
    # overlap with the first hour included).
    runs.append(sync(DAY, reprocess_unchanged=True))
    assert [r.state for r in runs] == ["failed", "success", "success"]
    logs = capfd.readouterr()

    # The searches can find what they look for: the orders' buyers are in the truth and in the channel table (read
    # through the Commerce DB's own types, which unseal it), the failure and its retry were logged and alerted.
    truth = emulator.truth(iso(DAY - timedelta(hours=1) - OVERLAP), iso(DAY + timedelta(days=1)))
    merchant = {o["orderId"]: o for o in truth if o["fulfilledBy"] == "MERCHANT"}
    loaded = channel_orders(commerce)
    assert len(truth) > 300 and set(merchant) <= set(loaded)
    in_channel = {row[column] for k, row in loaded.items() if k in merchant
                  for column in ("buyer_name", "buyer_email", "ship_phone", "ship_street") if row[column]}
    assert len(in_channel) > 400  # Amazon shares a merchant order's buyer once it is no longer Pending
    assert {value for _, value in find_buyer_data([("channel table", repr(loaded))], truth)} == in_channel
    assert logs.out.count(FAILURE) >= 2 and "extracted" in logs.out  # both tries of load_orders, and the task logs
    failures = [r["alert"] for r in receiver if r["alert"]["kind"] == "failure"]
    assert [(a["task_id"], a["try_number"]) for a in failures] == [("load_orders", 2)]
    assert FAILURE in failures[0]["error"]
    run_ids = {r.run_id for r in runs}
    xcoms = [row for row in airflow_metadata_rows(["xcom"]) if any(run_id in row[0] for run_id in run_ids)]
    rendered = [row for row in airflow_metadata_rows(["rendered_task_instance_fields"])
                if any(run_id in row[0] for run_id in run_ids)]
    assert len(xcoms) >= 2 * 9 and len(rendered) >= 2 * 9  # every task of every good run returned and rendered

    # Assert: no buyer data in the task logs (dag.test writes them to the test's output; a worker to the logs
    # folder), the XComs, the rendered fields, the alerts and every row of every table of the metadata DB (this
    # worker's: other tests' runs too, as a leak from any of them is one).
    everywhere = [("task logs (stdout)", logs.out), ("task logs (stderr)", logs.err), *airflow_log_files(),
                  *xcoms, *rendered, *((f"alert {n}", repr(body)) for n, body in enumerate(receiver, start=1)),
                  *airflow_metadata_rows()]
    leaks = find_buyer_data(everywhere, truth)
    assert leaks == [], f"{len(leaks)} buyer data values in Airflow, first ones: {leaks[:20]}"
