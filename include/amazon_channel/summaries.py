"""What each step of the sync hands to the next (its task's XCom value): small, typed, JSON-serialisable counts
and staging paths, never rows."""

from __future__ import annotations

from typing import NotRequired, TypedDict


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
    buyer_data_withheld: NotRequired[int]  # orders past their retention period, staged without buyer data


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
    cancel_requests_new: list[str]  # Amazon order ids of buyer cancellation requests first seen now (up to 100)
    cancel_requests_new_count: int
    orders_of_other_accounts: int  # left out: their order id is stored under another account (see validation)


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
    packages_held: int  # an open buyer cancellation request
    packages_released: int  # the request ended or staff released the hold
    packages_canceled: int  # the order was cancelled before its package went out
    orders_completed: int


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


class CancellationProblem(TypedDict):
    amazon_order_id: str
    state: str  # rejected (Amazon refused it) or refused (not sent: the order is no longer Unshipped)
    error: str


class CancelSummary(TypedDict, total=False):
    """Counts of what push_cancellations did (one that never happened is left out) and up to 20 orders whose
    cancellation Amazon refused or that could not be sent: Commerce has them cancelled, Amazon does not."""

    detected: int  # Commerce orders cancelled outside the `cancel` command, given an outbox row
    refused: int
    feeds_created: int
    sent: int
    accepted: int
    rejected: int
    retry_next_run: int
    left_for_next_run: int
    report_not_read: int
    waiting_for_amazon: int  # rows of feeds Amazon had not finished: the next run asks again
    problems: list[CancellationProblem]
