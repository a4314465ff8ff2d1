"""
### Amazon buyer data retention (Amazon's Data Protection Policy)

Daily. Erases the personal data of Amazon buyers whose orders are past their retention period, for every seller
account in the Commerce database, so it can run, be cleared and be backfilled on its own.

**The period.** 30 days (per Commerce store, Variable `amazon_channel_buyer_data_retention`) after the order's
delivery: Amazon's delivery promise (`deliverByWindow`), or the order's last change when later; a week after the
last change without a promise. Canceled orders: 30 days after cancellation. Orders still being fulfilled keep
their data. More than 30 days needs a `legal_hold` naming why.

**What is erased.** Names, e-mail, phone, street lines, city and gift messages: in `channel_amazon_order` and its
items, in the Commerce guest orders (`sales_order`, `sales_order_address`, `sales_order_item`; unless the store
sets `erase_commerce_guest_data: false`, the merchant's own legal decision), in quarantine payloads and in staged
pages. Kept: ids, amounts, states, SKUs, dates, postcode, region, country, company and tax registration (tax
invoices). Commerce customer accounts are not touched. Each erased order is stamped
`channel_amazon_order.buyer_data_erased_at`; the Amazon Orders view shows it.

**Encryption at rest.** Buyer data in the channel tables, quarantine payloads and staged pages is sealed (AES-SIV)
with the keys of the connection `amazon_channel_buyer_data_key` (password: keys newest first, comma-separated) or
`AMAZON_CHANNEL_BUYER_DATA_KEYS`; `python -m amazon_channel.crypto new-key` makes one. To rotate: put a new key
first, let this DAG run (or trigger it), then remove the old key.

**Tasks.**
1. `erase_expired_buyer_data`: the database; the run's interval end is "now" (a backfilled day erases what had
   expired by then). Idempotent: erased orders are skipped; buyer data found again on one is erased again.
2. `reseal_buyer_data`: seals with the current key what is not yet (data from before encryption, or under an
   older key).
3. `scrub_staged_pages`: redacts erased orders from the sync DAGs' staged pages and frames (a backfill staged
   before the erasure), so every run can still be re-run from any task.

A later extract or backfill of an old window stages erased orders without their buyer data: it never comes back.
The return values carry counts, never buyer data.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from airflow.sdk import CronDataIntervalTimetable, dag, get_current_context, task
from amazon_channel_alerts import ChannelAlert
from channel_common import STAGING_RETENTION_DAYS, TASK_RETRIES, commerce_db, fail_fast, staging

SCHEDULE = "30 3 * * *"  # daily at 03:30 UTC, away from the top of the hour when the sync DAGs start


def _settings():
    from airflow.sdk import Variable

    from amazon_channel.retention import VARIABLE_NAME, parse_retention_settings

    return parse_retention_settings(Variable.get(VARIABLE_NAME, default=None))


def _as_of() -> datetime:
    """The run's interval end (a manual run: now), never in the future."""
    from amazon_channel.timeutil import utcnow

    end = get_current_context().get("data_interval_end")
    return min(end, utcnow()) if end is not None else utcnow()


@dag(
    dag_id="amazon_buyer_data_retention",
    dag_display_name="Amazon buyer data retention",
    schedule=CronDataIntervalTimetable(SCHEDULE, timezone="UTC"),
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args={
        "owner": "amazon-channel",
        "retries": TASK_RETRIES,
        "retry_delay": timedelta(minutes=5),
        "execution_timeout": timedelta(hours=2),
        "on_failure_callback": ChannelAlert("failure", account_id="all"),
    },
    doc_md=__doc__,
    tags=["amazon", "commerce", "privacy"],
)
def amazon_buyer_data_retention():
    @task(task_display_name="Erase expired buyer data")
    def erase_expired_buyer_data() -> dict:
        """Erases the buyer data of every order past its period (see the DAG's docs) and stamps it; counts only."""
        from amazon_channel.commerce.schema import ensure_schema
        from amazon_channel.retention import erase_expired
        from amazon_channel.timeutil import utcnow

        with fail_fast(), commerce_db() as engine:
            ensure_schema(engine)
            return erase_expired(engine, _settings(), _as_of(), utcnow())

    @task(task_display_name="Scrub staged pages")
    def scrub_staged_pages() -> dict:
        """Redacts the orders erased within the staging retention period from every staged page and frame."""
        from amazon_channel.retention import erased_since, scrub_staging
        from amazon_channel.timeutil import utcnow

        with fail_fast(), commerce_db() as engine:
            since = utcnow() - timedelta(days=STAGING_RETENTION_DAYS + 1)  # older staged runs are purged anyway
            return scrub_staging(staging(), erased_since(engine, since), _settings(), _as_of())

    @task(task_display_name="Seal buyer data with the current key")
    def reseal_buyer_data() -> dict:
        """Seals with the current buyer data key what is not yet: values from before keys were configured, and
        values under an older key (rotation). Counts per column."""
        from amazon_channel.retention import reseal

        with fail_fast(), commerce_db() as engine:
            return reseal(engine)

    erase_expired_buyer_data() >> reseal_buyer_data() >> scrub_staged_pages()


amazon_buyer_data_retention()
