"""
### Amazon orders sync

Hourly batch run of the Amazon Sales Channel order workflow for one seller account.

**Window.** The run for the interval [10:00, 11:00) starts after 11:00 and asks Amazon for every order whose
*last update* lies in [09:45, 11:00] (a 15-minute overlap, `overlap_minutes`), capped two minutes before now
as Amazon requires. Re-reading the overlap is harmless: every load step upserts on the Amazon order id.

**Tasks.**
- `extract_orders`: pages through `searchOrders` (Orders API v2026-01-01) within the seller's rate limit and
  writes the raw pages to run-scoped staging (`AMAZON_CHANNEL_STAGING_ROOT`, `file://` or `s3://`); returns counts.

**Operating it.**
- *Re-run* a failed task with "Clear": it replaces its own staged output, nothing is appended twice.
- *Backfill* missed hours from the UI or with
  `airflow backfill create --dag-id amazon_orders_sync --from-date 2026-01-01T00:00:00+00:00 --to-date ...`;
  each run replays its exact interval.
- *Manual run* without an interval: trigger with the params `window_start` and `window_end` (ISO 8601 UTC).
- The `amazon_sp_api` pool (1 slot) keeps overlapping runs and backfills from sharing the seller's quota.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from airflow.sdk import CronDataIntervalTimetable, Param, dag, get_current_context, task

SP_API_CONN_ID = "amazon_sp_api"
SP_API_POOL = "amazon_sp_api"  # one slot per seller account: its Amazon quota is shared by every run

default_args = {
    "owner": "amazon-channel",
    "retries": 3,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=15),
    "execution_timeout": timedelta(minutes=50),
}


def _staging_root() -> str:
    return os.environ.get("AMAZON_CHANNEL_STAGING_ROOT") or "file://" + os.path.join(
        os.environ.get("AIRFLOW_HOME", "/tmp"), "amazon_channel_staging")


@dag(
    dag_id="amazon_orders_sync",
    dag_display_name="Amazon orders sync",
    schedule=CronDataIntervalTimetable("0 * * * *", timezone="UTC"),
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    dagrun_timeout=timedelta(hours=2),
    default_args=default_args,
    doc_md=__doc__,
    tags=["amazon", "commerce", "etl"],
    params={
        "window_start": Param(None, type=["null", "string"], description="Manual runs: window start (ISO 8601 UTC)"),
        "window_end": Param(None, type=["null", "string"], description="Manual runs: window end (ISO 8601 UTC)"),
        "overlap_minutes": Param(15, type="integer", minimum=0, maximum=240,
                                 description="How far before the interval start to re-read changes"),
    },
)
def amazon_orders_sync():
    @task(task_display_name="Extract Amazon orders", pool=SP_API_POOL)
    def extract_orders() -> dict:
        """Page through Amazon's searchOrders for the run's window; stage raw pages; return counts."""
        from amazon_channel.extract import extract_orders as run_extract
        from amazon_channel.extract import window_for_run
        from amazon_channel.staging import Staging
        from amazon_sp_api_hook import AmazonSpApiHook

        context = get_current_context()
        params = context["params"]
        window = window_for_run(context.get("data_interval_start"), context.get("data_interval_end"),
                                params.get("window_start"), params.get("window_end"),
                                timedelta(minutes=params["overlap_minutes"]))
        client = AmazonSpApiHook(SP_API_CONN_ID).get_conn()
        staging = Staging(_staging_root())
        path = staging.run_path(context["dag"].dag_id, context["run_id"], "extract")
        return run_extract(client, staging, path, window, client.config.marketplace_ids or None)

    extract_orders()


amazon_orders_sync()
