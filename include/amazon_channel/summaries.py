"""What each step of the sync hands to the next (its task's XCom value): small, typed, JSON-serialisable counts
and staging paths, never rows."""

from __future__ import annotations

from typing import TypedDict


class SettingsSummary(TypedDict):
    stores: list[int]
    marketplace_overrides: list[str]
    max_bad_share: float
    staging_runs_purged: int


class ExtractSummary(TypedDict):
    window_start: str
    window_end: str
    staging_path: str
    pages: int
    orders: int
    duplicates_dropped: int
    rejected: int  # orders that could not be staged as JSON: set aside under rejected/, quarantined by validation
    by_status: dict[str, int]
    by_fulfilled_by: dict[str, int]
    api_calls: int
    throttled: int


class ValidateSummary(TypedDict):
    staging_path: str
    extracted: int
    unchanged_skipped: int
    checked: int
    reexamined_from_quarantine: int
    valid: int
    quarantined: int
    new_in_quarantine: int
    released_from_quarantine: int
    bad_share: float
    top_reasons: list[tuple[str, int]]


class TransformSummary(TypedDict):
    staging_path: str
    orders: int
    items: int
    by_status: dict[str, int]
    commerce_state: dict[str, int]


class CustomersSummary(TypedDict):
    customers_considered: int
    customers_created: int


class LoadSummary(TypedDict):
    channel_orders_upserted: int
    fba_orders_not_shipped_yet: int
    commerce_orders_created: int
    orders_blocked: int
    commerce_orders_canceled: int


class RunRecord(TypedDict):
    """What sync health records of a run (one row per marketplace)."""

    run_id: str
    window_start: str
    window_end: str
    api_calls: int
    throttled: int




class ReconcileSummary(TypedDict, total=False):
    """Counts of what reconcile did (a kind of change that never happened may be left out)."""

    packages_new: int
    packages_empty: int
    packages_corrected: int
    packages_confirmed: int
    orders_completed: int
    channel_orders_moved: int


class RejectedPackage(TypedDict):
    amazon_order_id: str
    error: str
    request_id: str | None


class PushSummary(TypedDict, total=False):
    """Counts of push outcomes (one that never happened is left out) and up to 20 of Amazon's rejections."""

    sent: int
    failed: int
    retry_next_run: int
    given_up: int
    left_for_next_run: int
    rejected: list[RejectedPackage]
