"""The DAG's task sequence as plain calls, for tests that need many runs quickly (same code as the tasks)."""

from __future__ import annotations

from datetime import datetime

from amazon_channel.extract import Window, extract_orders
from amazon_channel.pipeline import check_settings, load_customers_step, load_orders_step, transform_step, validate_step
from amazon_channel.settings import parse_settings

DEFAULT = parse_settings(None)


class Steps:
    """The DAG's task sequence, for one run id, on real staging and a real database."""

    def __init__(self, engine, staging, client=None):
        self.engine, self.staging, self.client = engine, staging, client

    def path(self, run_id, step):
        return self.staging.run_path("amazon_orders_sync", run_id, step)

    def extract(self, run_id, start, end):
        return extract_orders(self.client, self.staging, self.path(run_id, "extract"), Window(start, end))

    def stage(self, run_id, orders):
        """Put hand-made orders where extract would have put Amazon's pages."""
        self.staging.clear(self.path(run_id, "extract"))
        self.staging.write_json(self.path(run_id, "extract"), "page-00001.json", {"orders": orders})

    def after_extract(self, run_id, settings=DEFAULT, extracted=None):
        """validate → transform → load; given extract's summary, the run is recorded for sync health as in the DAG."""
        check_settings(self.engine, settings)
        validated = validate_step(self.engine, self.staging, self.path(run_id, "extract"), self.path(run_id, "valid"),
                                  run_id, settings)
        transformed = transform_step(self.staging, validated["staging_path"], self.path(run_id, "transformed"))
        load_customers_step(self.engine, self.staging, transformed["staging_path"], settings)
        run = extracted and {"run_id": run_id, **{k: extracted[k] for k in ("window_start", "window_end", "api_calls",
                                                                             "throttled")}}
        loaded = load_orders_step(self.engine, self.staging, transformed["staging_path"], settings, run)
        return validated, loaded


def amazon_orders(client, start="2026-03-09T00:00:00Z", end="2026-03-09T06:00:00Z"):
    s, e = (datetime.fromisoformat(t.replace("Z", "+00:00")) for t in (start, end))
    return [o for page in client.search_pages(last_updated_after=s, last_updated_before=e) for o in page.orders]


