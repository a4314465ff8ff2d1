"""Extract: every order Amazon changed in a run's window, written page by page to run-scoped staging."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from .spapi import SpApiClient
from .staging import Staging
from .summaries import ExtractSummary
from .timeutil import iso_z, parse_iso, utcnow

log = logging.getLogger(__name__)

AMAZON_MIN_LAG = timedelta(minutes=2)  # searchOrders' upper bound must be at least this far behind now
DEFAULT_OVERLAP = timedelta(minutes=15)


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime


def extraction_window(interval_start: datetime, interval_end: datetime, overlap: timedelta = DEFAULT_OVERLAP,
                      now: datetime | None = None) -> Window:
    """[interval start - overlap, min(interval end, now - 2 min)].

    The overlap re-reads the end of the previous window, which catches changes Amazon records late and
    the two minutes the previous run could not yet ask for; the load's upserts make re-reads harmless.
    """
    if interval_start.tzinfo is None or interval_end.tzinfo is None:
        raise ValueError("window bounds must be timezone-aware (UTC)")
    now = now or utcnow()
    end = min(interval_end, now - AMAZON_MIN_LAG)
    start = interval_start - overlap
    if start >= end:
        raise ValueError(f"empty extraction window: {iso_z(start)} .. {iso_z(end)} (the interval must end "
                         f"at least {AMAZON_MIN_LAG} before now)")
    return Window(start, end)


def extract_orders(client: SpApiClient, staging: Staging, path: str, window: Window,
                   marketplace_ids: list[str] | None = None) -> ExtractSummary:
    """Write every page of the window's searchOrders results under `path`; return counts, not rows."""
    staging.clear(path)
    statuses: Counter = Counter()
    channels: Counter = Counter()
    pages = received = orders = 0
    for page in client.search_pages(last_updated_after=window.start, last_updated_before=window.end,
                                    marketplace_ids=marketplace_ids):
        pages += 1
        received += page.received
        orders += len(page.orders)
        for order in page.orders:
            fulfillment = order.get("fulfillment") or {}
            statuses[fulfillment.get("fulfillmentStatus", "UNKNOWN")] += 1
            channels[fulfillment.get("fulfilledBy", "UNKNOWN")] += 1
        staging.write_json(path, f"page-{page.number:05d}.json",
                           {"window": [iso_z(window.start), iso_z(window.end)], "orders": page.orders})
        log.info("page %d: %d orders (%d new)", page.number, page.received, len(page.orders))
    summary: ExtractSummary = {
        "window_start": iso_z(window.start), "window_end": iso_z(window.end), "staging_path": path,
        "pages": pages, "orders": orders, "duplicates_dropped": received - orders,
        "by_status": dict(sorted(statuses.items())), "by_fulfilled_by": dict(sorted(channels.items())),
        "api_calls": client.stats.calls, "throttled": client.stats.throttled,
    }
    log.info("extracted %d orders in %d pages for %s .. %s", orders, pages,
             summary["window_start"], summary["window_end"])
    return summary


def window_for_run(interval_start: datetime | None, interval_end: datetime | None,
                   param_start: str | None = None, param_end: str | None = None,
                   overlap: timedelta = DEFAULT_OVERLAP, now: datetime | None = None) -> Window:
    """The window a DAG run extracts: explicit params win, else the run's data interval, else a clear error."""
    if param_start or param_end:
        if not (param_start and param_end):
            raise ValueError("give both window_start and window_end, or neither")
        return extraction_window(parse_iso(param_start), parse_iso(param_end), timedelta(0), now)
    if interval_start is None or interval_end is None:
        raise ValueError("this run has no data interval (a manual or asset-triggered run): trigger it with the "
                         "params window_start and window_end (ISO 8601, UTC), or use a scheduled run or backfill")
    return extraction_window(interval_start, interval_end, overlap, now)
