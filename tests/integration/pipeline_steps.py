"""The DAG's task sequence as plain calls of the same step functions the tasks call, for tests that need many
runs quickly."""

from __future__ import annotations

from datetime import datetime

from amazon_channel.extract import Window, extract_orders
from amazon_channel.retention import erased_among
from amazon_channel.settings import parse_settings
from amazon_channel.steps import (
    Run,
    check_settings_step,
    load_customers_step,
    load_orders_step,
    transform_step,
    validate_step,
)

DEFAULT = parse_settings(None)
DAG_ID = "amazon_orders_sync"


class Steps:
    """The DAG's task sequence on real staging and a real database; each run id is one DAG run of the account's DAG
    (`account_id`, "default" unless given; another account's DAG has its own id and so its own staging)."""

    def __init__(self, engine, staging, client=None, account_id: str = "default"):
        self.engine, self.staging, self.client, self.account_id = engine, staging, client, account_id
        self.dag_id = DAG_ID if account_id == "default" else f"{DAG_ID}__{account_id}"

    def run(self, run_id: str) -> Run:
        return Run(self.dag_id, run_id, self.staging, self.account_id)

    def path(self, run_id, step):
        return self.run(run_id).path(step)

    def extract(self, run_id, start, end):
        """Extract a fixed window (the DAG derives it from the data interval; see test_dag for that); like the DAG,
        orders whose buyer data was erased are staged without it."""
        return extract_orders(self.client, self.staging, self.path(run_id, "extract"), Window(start, end),
                              erased_among=lambda ids: erased_among(self.engine, ids))

    def stage(self, run_id, orders):
        """Put hand-made orders where extract would have put Amazon's pages."""
        self.staging.clear(self.path(run_id, "extract"))
        self.staging.write_json(self.path(run_id, "extract"), "page-00001.json", {"orders": orders})

    def after_extract(self, run_id, settings=DEFAULT, extracted=None, reprocess_unchanged=False):
        """check → validate → transform → load; given extract's summary, the run is recorded for sync health."""
        run = self.run(run_id)
        check_settings_step(self.engine, settings, run, staging_retention_days=7)
        validated = validate_step(self.engine, run, run.path("extract"), settings, reprocess_unchanged)
        transformed = transform_step(run, validated["staging_path"])
        load_customers_step(self.engine, run, transformed["staging_path"], settings)
        loaded = load_orders_step(self.engine, run, transformed["staging_path"], settings, extracted)
        return validated, loaded


def amazon_orders(client, start="2026-03-09T00:00:00Z", end="2026-03-09T06:00:00Z"):
    s, e = (datetime.fromisoformat(t.replace("Z", "+00:00")) for t in (start, end))
    return [o for page in client.search_pages(last_updated_after=s, last_updated_before=e) for o in page.orders]
