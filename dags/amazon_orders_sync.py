"""
### Amazon orders sync: one DAG per seller account and region

Without `AMAZON_CHANNEL_ACCOUNTS_FILE`: one DAG, `amazon_orders_sync`, for the account `default` on the connection
`amazon_sp_api` with the pool `amazon_sp_api`. With it: one DAG `amazon_orders_sync__<account id>` per account the
file declares (see `amazon_channel.accounts`), each with its connection, pool, schedule and Order Settings, so one
seller can be paused, cleared or backfilled without touching the others. An entry that is wrong becomes a DAG of
that id whose first task fails at once saying why; an unreadable file, the DAG `amazon_orders_sync__accounts_file`.

The file is read when this file is parsed, following Airflow's dynamic-DAG guidance: only the file, never the
metadata database (Variables and connections are read by the tasks).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

from airflow.sdk import CronDataIntervalTimetable, Param, dag, get_current_context, task
from amazon_channel_alerts import ChannelAlert
from channel_common import (
    COMMERCE_ORDERS,
    RETRY_DELAY_SECONDS,
    STAGING_RETENTION_DAYS,
    TASK_RETRIES,
    commerce_db,
    current_run,
    fail_fast,
    order_settings,
    sp_api_client,
    sp_api_config,
)

from amazon_channel.accounts import (
    ACCOUNTS_FILE_ENV,
    DEFAULT_SCHEDULE,
    Account,
    AccountProblem,
    read_accounts,
)

TASK_TIMEOUT = timedelta(minutes=50)
START_DATE = datetime(2026, 1, 1, tzinfo=UTC)

default_args = {
    "owner": "amazon-channel",
    "retries": TASK_RETRIES,
    "retry_delay": timedelta(seconds=RETRY_DELAY_SECONDS),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=15),
    "execution_timeout": TASK_TIMEOUT,
}

DOC_MD = """
### Amazon orders sync · account `{account_id}`

{account_line}

Hourly batch run (schedule `{schedule}`) of the Amazon Sales Channel order workflow for this seller account in one
SP-API region. Every row it writes carries the account; other accounts' DAGs never touch its orders.

**Window.** The run for the interval [10:00, 11:00) starts after 11:00 and asks Amazon for every order whose
*last update* lies in [09:45, 11:00] (a 15-minute overlap, `overlap_minutes`), capped two minutes before now
as Amazon requires. Re-reading the overlap is harmless: every load step upserts on the Amazon order id.

**Tasks.**
1. `check_settings`: creates missing Commerce tables and validates the Order Settings (Variable
   `amazon_channel_order_settings`, JSON, unless the accounts file gives this account its own `order_settings`)
   and that a region or marketplaces the accounts file declares are the connection's; a bad setting fails here,
   before anything is read or written.
   Also deletes staged run folders older than `AMAZON_CHANNEL_STAGING_RETENTION_DAYS` (7): they hold buyer data.
2. `extract_orders`: pages through `searchOrders` (Orders API v2026-01-01) within the seller's rate limit and
   writes the raw pages to run-scoped staging (`AMAZON_CHANNEL_STAGING_ROOT`, `file://` or `s3://`).
3. `validate_orders`: Great Expectations suites; failing orders go to `channel_amazon_quarantine` with their
   reasons and are re-checked every run. Fails the run if more than `max_bad_share` of the batch is bad.
4. `transform_orders`: pandas; exact money, Amazon status to channel status and Commerce state.
5. `load_customers`: customers for stores set to "create new customer" (email unique per website).
6. `load_orders`: channel tables (newer Amazon data wins), Commerce orders for every order that should have
   one (blocked orders are retried each run), cancellations with stock released. Announces new orders on the
   asset `commerce://sales_order` (the event's `extra` names the account).
7. `reconcile_shipments`: each new (shipment, track) made in Commerce becomes a package in the outbox
   `channel_amazon_package`; fully shipped Commerce orders become `complete`; packages Amazon now lists are
   marked `confirmed`. Carrier codes map through the Variable `amazon_channel_carrier_mapping`.
8. `push_cancellations`: Commerce orders cancelled in Commerce (`python -m amazon_channel.cancel ORDER --reason
   NoInventory`, staff, an ERP) go to Amazon in the order-acknowledgement feed (Feeds API), one per marketplace;
   accepted ones become Canceled with stock released (an invoiced order is refunded and closed), rejected ones
   and orders no longer Unshipped keep a note saying why and are alerted. A feed still processing when the task's
   wait ends is polled by the next run, never sent twice.
9. `push_tracking`: confirmShipment for each pending package. A 400 is shown as `failed` with Amazon's
   message (here, in the order's note and in the task's return value) and is not re-sent until the track is
   corrected; throttling and server errors stay `pending` for the next run.

**Where to look.** The *Amazon Orders* entry in the navigation opens the orders grid (Commerce order number and
latest note per order), each order's items, shipments, packages and note history, the quarantine and blocked
orders, and sync health per marketplace (last window, lag, orders per run, push backlog, 429s). Every task's
return value (XCom) is a short summary of counts.

**Alerts.** A task that fails after its retries, a validation that quarantines new rows, a load that sees
buyers' cancellation requests for the first time (`cancel_request`, order ids only), and cancellations Amazon
refused or that could not be sent (`cancellation_rejected`) send an alert to the
connection `amazon_channel_alerts` (webhook or SMTP; see `plugins/amazon_channel_alerts.py`). Alerts name the
account and carry ids, counts and reasons, never buyer data.

**Operating it.**
- *Re-run* a failed task with "Clear": it replaces its own staged output; database writes are upserts.
- *Backfill* missed hours from the UI or with
  `airflow backfill create --dag-id {dag_id} --from-date 2026-01-01T00:00:00+00:00 --to-date ...`;
  each run replays its exact interval.
- *Manual run* without an interval: trigger with the params `window_start` and `window_end` (ISO 8601 UTC);
  without them `extract_orders` fails at once saying so, while shipments are still reconciled and pushed.
- The pool `{pool}` (1 slot) keeps overlapping runs and backfills from sharing this seller's quota in this region.
  It must exist, or Airflow queues nothing: `airflow pools set {pool} 1 "Amazon SP-API quota of account {account_id}"`.
- *Blocked orders* (unknown SKU, disabled or out-of-stock product, incomplete address) keep a note in
  `channel_amazon_order.note`; fix the cause and the next run creates them.
- *Buyer data* (names, e-mail, phone, address, gift messages) is sealed at rest in the channel tables, quarantine
  and staging (connection `amazon_channel_buyer_data_key`), and erased after its retention period by the DAG
  `amazon_buyer_data_retention`; this DAG never stores it again for an erased order.
"""


def account_default_args(account_id: str) -> dict:
    # after the last retry; target: connection amazon_channel_alerts
    return {**default_args, "on_failure_callback": ChannelAlert("failure", account_id=account_id)}


def account_tags(account_id: str) -> list[str]:
    return ["amazon", "commerce", "etl", f"account:{account_id}"]


def display_name(account_id: str, dag_id: str) -> str:
    return "Amazon orders sync" + ("" if dag_id == "amazon_orders_sync" else f" · {account_id}")


def account_doc(account: Account) -> str:
    marketplaces = ", ".join(account.marketplace_ids) if account.marketplace_ids else "the connection's"
    settings = ("its own `order_settings` in the accounts file" if account.order_settings is not None
                else "the Variable `amazon_channel_order_settings`")
    line = (f"Connection `{account.conn_id}`, region {account.region or 'of the connection'}, marketplaces "
            f"{marketplaces}; Order Settings: {settings}; pool `{account.pool}`.")
    return DOC_MD.format(account_id=account.id, account_line=line, schedule=account.schedule, dag_id=account.dag_id,
                         pool=account.pool)


def sync_tasks(account: Account) -> None:
    """The tasks of one account's sync DAG: they read the account's connection and Order Settings, and `Run` stamps
    its id on every row they write."""

    @task(task_display_name="Check Order Settings", retries=0)
    def check_settings() -> dict:
        """Creates missing Commerce tables and checks the Order Settings against the Commerce DB, and a region or
        marketplaces the accounts file declares against the account's connection; a bad setting fails at once
        (retrying cannot fix it), with the message naming the field. Also deletes staged run folders older than
        `AMAZON_CHANNEL_STAGING_RETENTION_DAYS`."""
        from amazon_channel.steps import check_settings_step

        with fail_fast():
            if account.region is not None or account.marketplace_ids is not None:
                sp_api_config(account)  # raises naming both when the connection serves another region
            with commerce_db() as engine:
                return check_settings_step(engine, order_settings(account), current_run(account),
                                           STAGING_RETENTION_DAYS)

    @task(task_display_name="Extract Amazon orders", pool=account.pool)
    def extract_orders() -> dict:
        """Pages through Amazon's `searchOrders` for this run's window within the seller's rate limit and stages
        the raw pages. Returns the window, pages, orders, API calls and 429s absorbed. Re-running replaces this
        run's staged pages; it writes nothing to Commerce. Orders whose buyer data the retention DAG erased are
        staged without it (a backfill never brings it back)."""
        from amazon_channel.steps import extract_step

        context = get_current_context()
        params = context["params"]
        with fail_fast(), commerce_db() as engine:
            return extract_step(sp_api_client(account), current_run(account), context.get("data_interval_start"),
                                context.get("data_interval_end"), params.get("window_start"),
                                params.get("window_end"), timedelta(minutes=params["overlap_minutes"]), engine)

    @task(task_display_name="Validate orders (Great Expectations)")
    def validate_orders(extracted: dict) -> dict:
        """Great Expectations suites over the run's orders plus everything still in quarantine. Failing orders go to
        `channel_amazon_quarantine` (Amazon Orders view → Quarantine) with their reasons; newly quarantined rows
        send a data-quality alert. Fails above `max_bad_share`. Safe to re-run."""
        from amazon_channel.steps import data_quality_alert, validate_step

        context = get_current_context()
        with fail_fast(), commerce_db() as engine:
            summary = validate_step(engine, current_run(account), extracted["staging_path"],
                                    order_settings(account), context["params"]["reprocess_unchanged"])
        if detail := data_quality_alert(summary):
            try:
                ChannelAlert("data_quality", detail, account_id=account.id)(context)
            except Exception:  # the alert target being down must not stop the import; the log has the error
                pass
        return summary

    @task(task_display_name="Transform orders (pandas)")
    def transform_orders(validated: dict) -> dict:
        """pandas: exact money, Amazon status to channel status and Commerce state. Staging only; safe to re-run."""
        from amazon_channel.steps import transform_step

        with fail_fast():
            return transform_step(current_run(account), validated["staging_path"])

    @task(task_display_name="Load customers")
    def load_customers(transformed: dict) -> dict:
        """Creates Commerce customers for stores set to "create new customer"; an existing e-mail is reused.
        Safe to re-run."""
        from amazon_channel.steps import load_customers_step

        with fail_fast(), commerce_db() as engine:
            return load_customers_step(engine, current_run(account), transformed["staging_path"],
                                       order_settings(account))

    @task(task_display_name="Load orders", outlets=[COMMERCE_ORDERS])
    def load_orders(transformed: dict, extracted: dict) -> dict:
        """One transaction: channel tables (newer Amazon data wins), Commerce orders for every due order (blocked
        ones keep a note and are retried every run), cancellations, and this run's row in sync health. Re-running
        or backfilling never makes a second Commerce order for an Amazon order. Buyers' cancellation requests seen
        for the first time are noted on their orders and sent as one alert."""
        from amazon_channel.steps import cancel_request_alert, load_orders_step

        context = get_current_context()
        with fail_fast(), commerce_db() as engine:
            summary = load_orders_step(engine, current_run(account), transformed["staging_path"],
                                       order_settings(account), extracted)
        context["outlet_events"][COMMERCE_ORDERS].extra = {**summary, "account_id": account.id}
        if detail := cancel_request_alert(summary):
            try:
                ChannelAlert("cancel_request", detail, account_id=account.id)(context)
            except Exception:  # the alert target being down must not fail a committed load; the log has the error
                pass
        return summary

    # Shipments made in Commerce go out even when this run's import failed (e.g. Amazon's order API is down).
    @task(task_display_name="Reconcile Commerce shipments", trigger_rule="all_done")
    def reconcile_shipments() -> dict:
        """Turns new Commerce shipments into packages in the outbox, completes fully shipped orders and marks
        packages Amazon lists as confirmed. Runs even when the import failed. Safe to re-run."""
        from airflow.sdk import Variable

        from amazon_channel.shipping import CARRIER_VARIABLE
        from amazon_channel.steps import reconcile_step

        with fail_fast(), commerce_db() as engine:
            return reconcile_step(engine, Variable.get(CARRIER_VARIABLE, default=None), account.id)

    @task(task_display_name="Send cancellations to Amazon (Feeds API)", pool=account.pool, trigger_rule="all_done")
    def push_cancellations() -> dict:
        """Commerce orders cancelled in Commerce (the `cancel` command, staff, an ERP) go to Amazon in one
        order-acknowledgement feed per marketplace; Amazon's results are read from the processing report. Accepted:
        the channel order is Canceled, stock released, an invoiced order refunded and closed. Rejected or not
        sendable (no longer Unshipped): the order's note says why and an alert lists them. A feed not finished
        within a tenth of the task's timeout is polled by the next run, never sent twice. Runs even when the
        import failed."""
        from amazon_channel.steps import cancellation_alert, push_cancellations_step

        with fail_fast(), commerce_db() as engine:
            summary = push_cancellations_step(engine, sp_api_client(account), TASK_TIMEOUT, account.id)
        if detail := cancellation_alert(summary):
            try:
                ChannelAlert("cancellation_rejected", detail, account_id=account.id)(get_current_context())
            except Exception:  # the alert target being down must not fail recorded results; the log has the error
                pass
        return summary

    # Tracking goes out even when sending cancellations failed: reconcile has already held or canceled what must
    # not be sent.
    @task(task_display_name="Push tracking numbers to Amazon", pool=account.pool, trigger_rule="all_done")
    def push_tracking() -> dict:
        """confirmShipment for each pending package. Rejections show in the order's note and the Amazon Orders
        view and are not re-sent until the tracking is corrected; throttling and 5xx wait for the next run. A
        re-run re-sends the same packageReferenceId, which edits rather than duplicates the package."""
        from amazon_channel.steps import push_step

        with fail_fast(), commerce_db() as engine:
            return push_step(engine, sp_api_client(account), TASK_TIMEOUT, account.id)

    @task(task_display_name="Fail the run if a task failed", trigger_rule="one_failed", retries=0,
          on_failure_callback=None)  # the failed task has already alerted
    def watcher() -> None:
        """Reconcile and push run even after a failed import, so the last task may succeed: this keeps the
        run itself red whenever any task failed (Airflow's watcher pattern)."""
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException("a task of this run failed; see the failed task's log")

    settings_checked = check_settings()
    extracted = extract_orders()
    settings_checked >> extracted
    validated = validate_orders(extracted)
    transformed = transform_orders(validated)
    customers = load_customers(transformed)
    loaded = load_orders(transformed, extracted)
    reconciled = reconcile_shipments()
    cancelled = push_cancellations()
    pushed = push_tracking()
    customers >> loaded >> reconciled >> cancelled >> pushed
    [settings_checked, extracted, validated, transformed, customers, loaded, reconciled, cancelled, pushed] >> watcher()


def account_sync_dag(account: Account):
    """The sync DAG of one account (see DOC_MD)."""

    @dag(
        dag_id=account.dag_id,
        dag_display_name=display_name(account.id, account.dag_id),
        schedule=CronDataIntervalTimetable(account.schedule, timezone="UTC"),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        dagrun_timeout=timedelta(hours=2),
        default_args=account_default_args(account.id),
        doc_md=account_doc(account),
        tags=account_tags(account.id) + ([f"region:{account.region}"] if account.region else []),
        params={
            "window_start": Param(None, type=["null", "string"],
                                  description="Manual runs: window start (ISO 8601 UTC)"),
            "window_end": Param(None, type=["null", "string"], description="Manual runs: window end (ISO 8601 UTC)"),
            "overlap_minutes": Param(15, type="integer", minimum=0, maximum=240,
                                     description="How far before the interval start to re-read changes"),
            "reprocess_unchanged": Param(False, type="boolean",
                                         description="Also re-process orders already loaded at this Amazon version "
                                                     "(after changing how orders are transformed)"),
        },
    )
    def amazon_orders_sync():
        sync_tasks(account)

    return amazon_orders_sync()


def misconfigured_dag(problem: AccountProblem):
    """A DAG for an entry (or a file) that cannot become an account: scheduled like the others, its only task fails
    at once with the problem and alerts, so the mistake shows where the operator looks for that account."""

    @dag(
        dag_id=problem.dag_id,
        dag_display_name=f"Amazon orders sync · {problem.key} (misconfigured)",
        schedule=CronDataIntervalTimetable(DEFAULT_SCHEDULE, timezone="UTC"),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        default_args=account_default_args(problem.key),
        doc_md=f"### Amazon orders sync · `{problem.key}`: misconfigured\n\n{problem.message}\n\nFix the accounts "
               f"file (`{ACCOUNTS_FILE_ENV}`); the DAG becomes the account's sync DAG when the file is next parsed.",
        tags=[*account_tags(problem.key), "misconfigured"],
    )
    def misconfigured():
        @task(task_display_name="Check Order Settings", retries=0)
        def check_settings() -> None:
            from airflow.sdk.exceptions import AirflowFailException

            raise AirflowFailException(problem.message)

        check_settings()

    return misconfigured()


ACCOUNTS, PROBLEMS = read_accounts(os.environ.get(ACCOUNTS_FILE_ENV))
DAGS = {account.dag_id: account_sync_dag(account) for account in ACCOUNTS}
DAGS.update({problem.dag_id: misconfigured_dag(problem) for problem in PROBLEMS})
