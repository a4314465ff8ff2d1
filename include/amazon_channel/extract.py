"""Extract: every order Amazon changed in a run's window, written page by page to run-scoped staging.

A page is staged whole when it can be (the usual case, one encode). When it cannot, each order is tried on its own:
one that cannot be staged as UTF-8 JSON (a lone surrogate such as "\\ud800", which Python's JSON parser accepts
and UTF-8 cannot encode) is set aside with its reason and a bounded, escaped excerpt under `rejected/`, and the rest
of the page is staged as usual. Validation turns every set-aside order into a quarantine row.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import msgspec

from .frames import is_order_id
from .retention import redact_erased
from .spapi import SpApiClient
from .staging import Staging
from .summaries import ExtractSummary
from .timeutil import iso_z, parse_iso, utcnow

log = logging.getLogger(__name__)

AMAZON_MIN_LAG = timedelta(minutes=2)  # searchOrders' upper bound must be at least this far behind now
DEFAULT_OVERLAP = timedelta(minutes=15)
REJECTED_FOLDER = "rejected"  # under the extract path: rejected-NNNNN.json, one per page that had any
EXCERPT_CHARS = 16 * 1024  # of a set-aside order's escaped JSON (ASCII, so as many bytes)
# What staging (msgspec) raises for an order it cannot write: UnicodeEncodeError (a ValueError) for lone
# surrogates, RecursionError for absurd nesting, TypeError/OverflowError for anything else it has no JSON for.
UNSTAGEABLE = (ValueError, TypeError, OverflowError, RecursionError, msgspec.EncodeError)
_LABEL = re.compile(r"[A-Za-z0-9_]{1,40}")


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
                   marketplace_ids: list[str] | None = None,
                   erased_among: Callable[[list[str]], set[str]] | None = None) -> ExtractSummary:
    """Write every page of the window's searchOrders results under `path`; return counts, not rows.
    `erased_among(order_ids)` names the orders whose buyer data retention has erased: they are staged without it,
    so a backfill of an old window never stores it again (amazon_channel.retention)."""
    staging.clear(path)
    statuses: Counter = Counter()
    channels: Counter = Counter()
    pages = received = orders = rejected = redacted = 0
    bounds = [iso_z(window.start), iso_z(window.end)]
    for page in client.search_pages(last_updated_after=window.start, last_updated_before=window.end,
                                    marketplace_ids=marketplace_ids):
        pages += 1
        received += page.received
        orders += len(page.orders)
        for order in page.orders:
            fulfillment = order.get("fulfillment") if isinstance(order, dict) else None
            fulfillment = fulfillment if isinstance(fulfillment, dict) else {}
            statuses[_label(fulfillment.get("fulfillmentStatus"))] += 1
            channels[_label(fulfillment.get("fulfilledBy"))] += 1
        page_orders = page.orders
        if erased_among is not None:
            erased = erased_among([o["orderId"] for o in page_orders
                                   if isinstance(o, dict) and isinstance(o.get("orderId"), str)])
            if erased:
                page_orders, redacted = redact_erased(page_orders, erased), redacted + len(erased)
        set_aside = stage_page(staging, path, page.number, bounds, page_orders)
        rejected += len(set_aside)
        log.info("page %d: %d orders (%d new, %d set aside)", page.number, page.received, len(page.orders),
                 len(set_aside))
    summary: ExtractSummary = {
        "window_start": iso_z(window.start), "window_end": iso_z(window.end), "staging_path": path,
        "pages": pages, "orders": orders, "duplicates_dropped": received - orders, "rejected": rejected,
        "by_status": dict(sorted(statuses.items())), "by_fulfilled_by": dict(sorted(channels.items())),
        "api_calls": client.stats.calls, "throttled": client.stats.throttled,
    }
    if redacted:
        summary["buyer_data_withheld"] = redacted  # orders past their retention period: staged without it
    if rejected:
        log.warning("%d orders could not be staged as JSON; they are set aside under %s/%s and validation "
                    "quarantines them", rejected, path, REJECTED_FOLDER)
    log.info("extracted %d orders in %d pages for %s .. %s", orders, pages,
             summary["window_start"], summary["window_end"])
    return summary


def _label(value) -> str:
    """A status or channel as a summary key: as sent when it looks like one, else UNKNOWN (missing) or INVALID."""
    if value is None:
        return "UNKNOWN"
    return value if isinstance(value, str) and _LABEL.fullmatch(value) else "INVALID"


def stage_page(staging: Staging, path: str, number: int, bounds: list[str], orders: list) -> list[dict]:
    """Stage page `number` as `page-NNNNN.json`; orders that cannot be staged go to `rejected/rejected-NNNNN.json`
    instead (returned). The whole page is tried first: the per-order pass runs only for a page that fails."""
    name = f"page-{number:05d}.json"
    try:
        staging.write_json(path, name, {"window": bounds, "orders": orders})
        return []
    except UNSTAGEABLE:
        pass  # some order cannot be written: find it; the file is written again below
    good, set_aside = [], []
    for order in orders:
        try:
            msgspec.json.encode(order)
        except UNSTAGEABLE as exc:
            set_aside.append(rejected_entry(order, exc))
        else:
            good.append(order)
    staging.write_json(path, name, {"window": bounds, "orders": good})
    if set_aside:
        staging.write_json(f"{path}/{REJECTED_FOLDER}", f"rejected-{number:05d}.json",
                           {"window": bounds, "rejected": set_aside})
    return set_aside


def rejected_entry(order, exc: BaseException) -> dict:
    """What is kept of an order that cannot be staged: why, its order id when it has a well-formed one, and an
    excerpt of at most EXCERPT_CHARS characters of its escaped JSON (ASCII) with a note of the whole size."""
    order_id = order.get("orderId") if isinstance(order, dict) else None
    return {"reason": f"order: cannot be staged as UTF-8 JSON ({type(exc).__name__})",
            "detail": _escaped(str(exc))[:300], "order_id": order_id if is_order_id(order_id) else None,
            "excerpt": excerpt(order)}


def excerpt(order) -> str:
    """The order as escaped JSON (every non-ASCII character as \\uXXXX, so lone surrogates, NUL and controls
    too), cut to EXCERPT_CHARS with a note of the original size."""
    try:
        text = json.dumps(order, ensure_ascii=True, default=repr)
    except (ValueError, TypeError, OverflowError, RecursionError):
        try:
            text = ascii(order)
        except RecursionError:
            return f"<a {type(order).__name__} nested too deeply to be shown>"
    if len(text) <= EXCERPT_CHARS:
        return text
    return text[:EXCERPT_CHARS] + f"\n... [excerpt: the first {EXCERPT_CHARS:,} of {len(text):,} characters]"


def _escaped(text: str) -> str:
    return text.encode("ascii", "backslashreplace").decode("ascii")


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
