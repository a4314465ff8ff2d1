"""Every task body of the `amazon_orders_sync` DAG, in DAG order: the DAG only wires these and maps their errors.

Each step reads its input from run-scoped staging or the databases, writes its own output, and returns a small
typed summary (the task's XCom). Every step is idempotent for a run: it replaces its staged output, and database
writes are upserts.
"""

from __future__ import annotations

import gc
import json
import logging
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from .accounts import DEFAULT_ACCOUNT_ID
from .batching import IN_LIST, chunked
from .commerce.db import upsert
from .commerce.schema import channel_amazon_order, channel_amazon_quarantine, customer_entity, ensure_schema, store
from .errors import NotRetryableError
from .settings import OrderSettings
from .staging import Staging
from .summaries import (
    CancelSummary,
    CustomersSummary,
    ExtractSummary,
    LoadSummary,
    PushSummary,
    ReconcileSummary,
    RunRecord,
    SettingsSummary,
    TransformSummary,
    ValidateSummary,
)

if TYPE_CHECKING:
    import pandas as pd

    from .spapi import SpApiClient

log = logging.getLogger(__name__)

PUSH_BUDGET_SHARE = 0.8  # of the task's timeout: push stops sending in time to record every outcome
PUSH_CALL_DEADLINE_S = 120  # per package; what does not go out waits for the next run
# Of the task's timeout: how long push_cancellations sends and waits for Amazon's processing (minutes at Amazon)
# while the seller's pool slot is held; later results are read by the next run.
CANCEL_BUDGET_SHARE = 0.1


@dataclass(frozen=True)
class Run:
    """One DAG run's identity and staging: each step writes under `path(step)`."""

    dag_id: str
    run_id: str
    staging: Staging
    account_id: str = DEFAULT_ACCOUNT_ID  # the seller account (accounts file): every row the run writes carries it

    def path(self, step: str) -> str:
        return self.staging.run_path(self.dag_id, self.run_id, step)


@contextmanager
def bulk_work():
    """Python's cyclic garbage collector rescans every live object as a step builds millions of small ones (parsed
    JSON, row dicts): that made JSON parsing 8x slower here. So: pause it, and collect only at chunk boundaries
    (`collect_cycles`), with everything alive before then frozen out of the scan. Reference counting still frees
    everything else at once."""
    enabled = gc.isenabled()
    gc.disable()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
        if enabled:
            gc.enable()


def collect_cycles() -> None:
    gc.collect()
    gc.freeze()  # the survivors (imports, accumulated results) are not scanned again


# ---- 1. check_settings ----------------------------------------------------------------------------------------

def check_settings_step(engine: Engine, settings: OrderSettings, run: Run, staging_retention_days: float
                        ) -> SettingsSummary:
    """Create missing tables, check that the settings point at stores and customers that exist, and delete staged
    run folders older than the retention period (they hold buyer data)."""
    ensure_schema(engine)
    configured = [("default", settings.default), *((m, settings.for_marketplace(m)) for m in settings.marketplaces)]
    customers = {mp.predefined_customer_id for _, mp in configured} - {None}
    with engine.connect() as conn:
        stores = set(conn.execute(select(store.c.store_id)).scalars())
        found = set(conn.execute(select(customer_entity.c.entity_id)
                                 .where(customer_entity.c.entity_id.in_(customers))).scalars()) if customers else set()
    problems = []
    for name, mp in configured:
        if mp.store_id not in stores:
            problems.append(f"{name}: store_id {mp.store_id} does not exist (stores: {sorted(stores)})")
        if mp.predefined_customer_id is not None and mp.predefined_customer_id not in found:
            problems.append(f"{name}: predefined_customer_id {mp.predefined_customer_id} does not exist")
    if problems:
        raise NotRetryableError("Order Settings do not match the Commerce database: " + "; ".join(problems))
    purged = run.staging.purge(run.dag_id, staging_retention_days)
    return {"stores": sorted(stores), "marketplace_overrides": sorted(settings.marketplaces),
            "max_bad_share": settings.max_bad_share, "staging_runs_purged": len(purged)}


# ---- 2. extract_orders ----------------------------------------------------------------------------------------

def extract_step(client: SpApiClient, run: Run, interval_start: datetime | None, interval_end: datetime | None,
                 window_start: str | None = None, window_end: str | None = None,
                 overlap: timedelta | None = None, engine: Engine | None = None) -> ExtractSummary:
    """Stage every order Amazon changed in the run's window (explicit window params win over the interval). With the
    Commerce `engine`, orders whose buyer data retention erased are staged without it."""
    from .extract import DEFAULT_OVERLAP, extract_orders, window_for_run

    try:
        window = window_for_run(interval_start, interval_end, window_start, window_end,
                                DEFAULT_OVERLAP if overlap is None else overlap)
    except ValueError as exc:  # no usable window: retrying cannot help
        raise NotRetryableError(str(exc)) from None
    from .retention import erased_among

    return extract_orders(client, run.staging, run.path("extract"), window, client.config.marketplace_ids or None,
                          None if engine is None else (lambda ids: erased_among(engine, ids)))


# ---- 3. validate_orders --------------------------------------------------------------------------------------

VALIDATE_CHUNK_ORDERS = 25_000  # orders held in memory at once; GX's fixed cost per chunk favours large ones
QUARANTINE_PAYLOAD_BYTES = 65_535  # the most a MariaDB TEXT holds; a larger payload keeps its start and a marker
# Written as \uXXXX escapes in quarantine payloads, which stay valid JSON (json.dumps already escapes the C0
# controls): NUL, DEL and the C1 controls, the bidi and line-separator characters, and lone surrogates, which UTF-8
# (so no database) cannot hold. The pattern holds the characters themselves.
_PAYLOAD_ESCAPES = "[\x00\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ud800-\udfff]"
_NOT_REEXAMINABLE = object()


def stored_state(engine: Engine, orders: pd.DataFrame, account_id: str = DEFAULT_ACCOUNT_ID
                 ) -> tuple[set[int], dict[int, str]]:
    """For a batch of account `account_id`, in one lookup: the positions of orders the account already holds at this
    Amazon last-update time or a newer one (nothing to do for them: a re-run, an overlapping window, a backfill over
    imported hours), and the positions of orders stored under another account, with that account (Amazon order ids
    are unique, so such an order is refused, never moved). Anything unparseable is checked; only well-formed order
    ids are looked up (the others cannot be stored, and some cannot even be sent)."""
    import pandas as pd

    from .frames import is_order_id

    updated = pd.to_datetime(orders["last_updated"].astype("string"), utc=True, errors="coerce", format="ISO8601")
    incoming = pd.DataFrame({"id": orders["order_id"], "updated": updated})
    incoming = incoming[incoming["id"].map(is_order_id).astype(bool)]
    o, stored, owner = channel_amazon_order.c, {}, {}
    with engine.connect() as conn:
        for ids in chunked(list(incoming["id"].unique()), IN_LIST):
            for order_id, last_updated, account in conn.execute(
                    select(o.amazon_order_id, o.last_updated, o.account_id).where(o.amazon_order_id.in_(ids))):
                stored[order_id], owner[order_id] = last_updated, account
    held_by = incoming["id"].map(owner)
    foreign = held_by.notna() & held_by.ne(account_id)
    known = pd.to_datetime(incoming["id"].map(stored), utc=True)
    unchanged = ~foreign & incoming["updated"].notna() & known.notna() & (known >= incoming["updated"])
    return set(incoming.index[unchanged]), held_by[foreign].to_dict()


def unchanged_orders(engine: Engine, orders: pd.DataFrame, account_id: str = DEFAULT_ACCOUNT_ID) -> set[int]:
    """Positions of orders the account already holds at this Amazon last-update time or a newer one."""
    return stored_state(engine, orders, account_id)[0]


def other_account_reason(account_id: str) -> str:
    return f"order already belongs to account {account_id}"


def account_quarantine_key(key: str, account_id: str) -> str:
    """The key of an account's quarantine row when another account holds a row under the plain key (the same order
    id arriving from two accounts): unique per account, within the column's 64 characters."""
    import hashlib

    return "acct:" + hashlib.sha256(f"{account_id}\x00{key}".encode()).hexdigest()[:56]


def _escape_for_storage(text: str) -> str:
    import re

    return re.sub(_PAYLOAD_ESCAPES, lambda m: f"\\u{ord(m.group()):04x}", text)


def bounded_payload(text: str) -> tuple[str, str | None]:
    """`text` as a quarantine payload: escaped for storage and at most QUARANTINE_PAYLOAD_BYTES of UTF-8, and None;
    or, when longer, its start with a truncation marker, and the reason saying so. A truncated payload is no longer
    JSON: it is not re-examined, and stays until a newer valid version of the order passes."""
    text = _escape_for_storage(text)
    data = text.encode("utf-8")
    if len(data) <= QUARANTINE_PAYLOAD_BYTES:
        return text, None
    marker = f"\n... [payload truncated: {len(data):,} bytes in all]"
    head = data[:QUARANTINE_PAYLOAD_BYTES - len(marker.encode("utf-8"))].decode("utf-8", "ignore")
    return head + marker, (f"payload: truncated to {QUARANTINE_PAYLOAD_BYTES:,} of {len(data):,} bytes (not "
                           f"re-examined; kept until a newer valid version of the order passes)")


def quarantine_payload(order) -> tuple[str, str | None]:
    """The order as JSON for its quarantine row (see bounded_payload)."""
    return bounded_payload(json.dumps(order, ensure_ascii=False, default=str))


def _storable_id(value) -> str | None:
    """An order id as sent, for the quarantine's amazon_order_id: escaped (no NUL, no control) and at most 64."""
    return None if value is None or value == "" else json.dumps(str(value)[:64])[1:-1][:64]


def reexaminable(payload: str):
    """A quarantined order decoded again for re-examination, or _NOT_REEXAMINABLE when its payload is not the order's
    JSON (truncated, or an excerpt of an order extract could not stage) or decodes to one staging could not hold."""
    import msgspec

    try:
        order = json.loads(payload)
        msgspec.json.encode(order)
    except (ValueError, TypeError, OverflowError, RecursionError, msgspec.EncodeError):
        return _NOT_REEXAMINABLE
    return order


def rejected_at_extract(staging: Staging, extract_path: str) -> list[dict]:
    """The orders extract set aside because they could not be staged (reason, detail, order id, excerpt)."""
    import msgspec

    from .extract import REJECTED_FOLDER

    folder = f"{extract_path}/{REJECTED_FOLDER}"
    if not staging.exists(folder):
        return []
    return [entry for content in staging.read_bytes(folder, ".json")
            for entry in msgspec.json.decode(content)["rejected"]]


@bulk_work()
def validate_step(engine: Engine, run: Run, extract_path: str, settings: OrderSettings,
                  reprocess_unchanged: bool = False) -> ValidateSummary:
    """Validate the run's changed orders plus everything still in quarantine; stage the valid ones (flat, typed
    Parquet for the transform), quarantine the rest, and the orders extract could not stage. Orders already loaded at
    this version are skipped unless `reprocess_unchanged`. A quarantined payload that is not the order's JSON (an
    excerpt, a truncated one) is not re-examined: it stays until a newer valid version of the order passes."""
    import hashlib

    from .frames import OrderBatch, batch_from_orders, batches_from_pages, is_order_id
    from .rules import KNOWN_MARKETPLACE_IDS
    from .validate import validate_batch

    staging, run_id, out_path, account_id = run.staging, run.run_id, run.path("valid"), run.account_id
    marketplaces = KNOWN_MARKETPLACE_IDS + settings.extra_marketplace_ids
    q = channel_amazon_quarantine.c
    with engine.connect() as conn:  # the account's own quarantine: another account's rows are its business
        waiting = dict(conn.execute(select(q.quarantine_key, q.payload)
                                    .where(q.resolved.is_(False), q.account_id == account_id)).all())
    staging.clear(out_path)
    failed: dict[str, dict] = {}
    passed: set[str] = set()
    batch_keys: set[str] = set()
    reasons: Counter = Counter()
    counts: Counter = Counter()

    def quarantine(key: str, order_id, why: list[str], payload: tuple[str, str | None]) -> None:
        text, truncated = payload
        failed[key] = {
            "quarantine_key": key, "account_id": account_id, "amazon_order_id": _storable_id(order_id),
            "reasons": json.dumps(why + ([truncated] if truncated else [])), "payload": text,
            "first_seen_run": run_id, "last_seen_run": run_id, "resolved": False, "resolution": None}

    def check(batch: OrderBatch, keys: list[str], skip: set[int], foreign: dict[int, str]) -> None:
        failures = validate_batch(batch, marketplaces, skip)
        for position, owner in foreign.items():  # valid or not, the order is not this account's to store
            failures[position] = [other_account_reason(owner), *failures.get(position, [])]
        for position, why in failures.items():
            reasons.update(why)
            order = batch.raw(position)
            quarantine(keys[position], order.get("orderId") if isinstance(order, dict) else None, why,
                       quarantine_payload(order))
        valid = [p for p in range(len(batch)) if p not in skip and p not in failures]
        passed.update(keys[p] for p in valid)
        if valid:
            counts["files"] += 1
            orders, items = batch.rows(valid, offset=counts["numbered"])
            staging.write_frame(out_path, f"valid-{counts['files']:05d}-orders.parquet", orders)
            staging.write_frame(out_path, f"valid-{counts['files']:05d}-items.parquet", items)
        counts["valid"] += len(valid)
        counts["numbered"] += len(batch)

    for batch in batches_from_pages(staging.read_bytes(extract_path, ".json"), VALIDATE_CHUNK_ORDERS):
        unchanged, foreign = stored_state(engine, batch.orders, account_id)
        skip = set() if reprocess_unchanged else unchanged
        counts["extracted"] += len(batch)
        counts["checked"] += len(batch) - len(skip)
        keys = batch.quarantine_keys()
        batch_keys.update(keys[p] for p in range(len(batch)) if p not in skip)
        check(batch, keys, skip, foreign)
        del batch
        collect_cycles()  # validation (GX) leaves reference cycles
    for entry in rejected_at_extract(staging, extract_path):
        excerpt, order_id = str(entry.get("excerpt") or ""), entry.get("order_id")
        key = order_id if is_order_id(order_id) else "sha256:" + hashlib.sha256(excerpt.encode()).hexdigest()[:56]
        reason = entry.get("reason") or "order: could not be staged"
        reasons[reason] += 1
        why = [reason] + ([f"detail: {entry['detail']}"] if entry.get("detail") else [])
        quarantine(key, order_id, why, bounded_payload(excerpt))
        batch_keys.add(key)
        counts["extracted"] += 1
        counts["checked"] += 1
    reexamined_keys, reexamined, kept = [], [], 0
    for key, payload in waiting.items():
        if key in batch_keys:
            continue  # this run brought a newer version
        order = reexaminable(payload)
        if order is _NOT_REEXAMINABLE:
            kept += 1
        else:
            reexamined_keys.append(key)
            reexamined.append(order)
    if reexamined:
        batch = batch_from_orders(reexamined)
        # each stays under the key it is stored by; one another account has stored meanwhile stays quarantined
        check(batch, reexamined_keys, set(), stored_state(engine, batch.orders, account_id)[1])
    if kept:
        log.info("%d quarantined orders are not re-examined (their payload is an excerpt or truncated); they stay "
                 "until a newer valid version passes", kept)

    passed -= set(failed)
    released = [key for key in waiting if key in passed]
    with engine.begin() as conn:
        rows = _own_quarantine_keys(conn, list(failed.values()), account_id)
        upsert(conn, channel_amazon_quarantine, rows, ["quarantine_key"],
               ["amazon_order_id", "reasons", "payload", "last_seen_run", "resolved", "resolution"],
               owner="account_id")
        if released:
            conn.execute(update(channel_amazon_quarantine)
                         .where(q.quarantine_key.in_(released), q.account_id == account_id)
                         .values(resolved=True, resolution=f"passed validation in run {run_id}"))
    bad_in_batch = sum(1 for key in batch_keys if key in failed)
    share = bad_in_batch / counts["checked"] if counts["checked"] else 0.0
    summary: ValidateSummary = {
        "staging_path": out_path, "extracted": counts["extracted"],
        "unchanged_skipped": counts["extracted"] - counts["checked"], "checked": counts["checked"],
        "reexamined_from_quarantine": len(reexamined), "valid": counts["valid"], "quarantined": len(failed),
        "new_in_quarantine": len(set(failed) - set(waiting)), "released_from_quarantine": len(released),
        "bad_share": round(share, 4), "top_reasons": reasons.most_common(5)}
    log.info("validation: %s", summary)
    if share > settings.max_bad_share:
        raise ValueError(f"{bad_in_batch} of {counts['checked']} orders ({share:.0%}) failed validation, above the "
                         f"max_bad_share of {settings.max_bad_share:.0%}; they are in channel_amazon_quarantine. "
                         f"Most common reasons: {summary['top_reasons']}")
    return summary


def _own_quarantine_keys(conn, rows: list[dict], account_id: str) -> list[dict]:
    """The rows, each under a key no other account's quarantine row has: a key another account holds (the same
    order id quarantined by both) becomes the account's own (account_quarantine_key)."""
    q = channel_amazon_quarantine.c
    taken: set[str] = set()
    for keys in chunked([row["quarantine_key"] for row in rows], IN_LIST):
        taken.update(conn.execute(select(q.quarantine_key).where(q.quarantine_key.in_(keys),
                                                                 q.account_id != account_id)).scalars())
    return [{**row, "quarantine_key": account_quarantine_key(row["quarantine_key"], account_id)}
            if row["quarantine_key"] in taken else row for row in rows]


def data_quality_alert(summary: ValidateSummary) -> dict | None:
    """The detail of a data-quality alert when this run put new rows into quarantine, else None."""
    if not summary["new_in_quarantine"]:
        return None
    return {k: summary[k] for k in ("checked", "quarantined", "new_in_quarantine", "bad_share", "top_reasons")}


# ---- 4. transform_orders -------------------------------------------------------------------------------------

@bulk_work()
def transform_step(run: Run, valid_path: str) -> TransformSummary:
    """pandas: exact money, Amazon status to channel status and Commerce state; staging only."""
    from .transform import transform

    staging, out_path = run.staging, run.path("transformed")
    orders, items = transform(staging.read_frames(valid_path, "-orders.parquet"),
                              staging.read_frames(valid_path, "-items.parquet"))
    staging.clear(out_path)
    staging.write_frame(out_path, "orders.parquet", orders)
    staging.write_frame(out_path, "items.parquet", items)
    return {"staging_path": out_path, "orders": len(orders), "items": len(items),
            "by_status": orders["status"].value_counts().sort_index().to_dict(),
            "commerce_state": orders["commerce_state"].value_counts().sort_index().to_dict()}


# ---- 5./6. load_customers, load_orders ------------------------------------------------------------------------

@bulk_work()
def load_customers_step(engine: Engine, run: Run, transformed_path: str, settings: OrderSettings
                        ) -> CustomersSummary:
    """Customers for stores set to "create new customer"; an existing e-mail is reused."""
    from .commerce.load import load_customers

    return load_customers(engine, run.staging.read_frame(transformed_path, "orders.parquet"), settings)


def run_record(run: Run, extracted: ExtractSummary) -> RunRecord:
    return {"run_id": run.run_id, "window_start": extracted["window_start"], "window_end": extracted["window_end"],
            "api_calls": extracted["api_calls"], "throttled": extracted["throttled"]}


@bulk_work()
def load_orders_step(engine: Engine, run: Run, transformed_path: str, settings: OrderSettings,
                     extracted: ExtractSummary | None = None) -> LoadSummary:
    """One transaction: channel tables, Commerce orders for every due order, cancellations; with `extracted`, the
    run's row in sync health."""
    from .commerce.load import load_orders

    return load_orders(engine, run.staging.read_frame(transformed_path, "orders.parquet"),
                       run.staging.read_frame(transformed_path, "items.parquet"), settings,
                       run_record(run, extracted) if extracted else None, account_id=run.account_id)


def cancel_request_alert(summary: LoadSummary) -> dict | None:
    """The detail of an alert when this load saw buyers' cancellation requests for the first time (order ids
    only), else None."""
    if not summary.get("cancel_requests_new_count"):
        return None
    return {k: summary[k] for k in ("cancel_requests_new_count", "cancel_requests_new")}


# ---- 7./8./9. reconcile_shipments, push_cancellations, push_tracking ---------------------------------------------

def reconcile_step(engine: Engine, carrier_mapping_json: str | None, account_id: str = DEFAULT_ACCOUNT_ID
                   ) -> ReconcileSummary:
    """The account's new Commerce shipments become outbox packages; its shipped orders complete; listed packages are
    confirmed."""
    from .shipping import carrier_mapping, reconcile_shipments

    try:
        carriers = carrier_mapping(carrier_mapping_json)
    except ValueError as exc:
        raise NotRetryableError(str(exc)) from None
    return reconcile_shipments(engine, carriers, account_id=account_id)


def push_cancellations_step(engine: Engine, client: SpApiClient, task_timeout: timedelta,
                            account_id: str = DEFAULT_ACCOUNT_ID) -> CancelSummary:
    """The account's Commerce cancellations to Amazon with its client (order-acknowledgement feed): send, then wait
    for Amazon's results at most CANCEL_BUDGET_SHARE of the task's timeout; feeds not done by then are polled by the
    next run."""
    from .cancellation import push_cancellations

    client.config.deadline = min(client.config.deadline, PUSH_CALL_DEADLINE_S)
    return push_cancellations(engine, client, time_budget=task_timeout.total_seconds() * CANCEL_BUDGET_SHARE,
                              account_id=account_id)


def cancellation_alert(summary: CancelSummary) -> dict | None:
    """The detail of an alert when Amazon refused cancellations or some could not be sent (Commerce has those
    orders cancelled, Amazon does not), else None."""
    if not summary.get("problems"):
        return None
    return {"rejected": summary.get("rejected", 0), "refused": summary.get("refused", 0),
            "orders": summary["problems"]}


def push_step(engine: Engine, client: SpApiClient, task_timeout: timedelta, account_id: str = DEFAULT_ACCOUNT_ID
              ) -> PushSummary:
    """confirmShipment for each pending package of the account, with its client, stopping in time to record every
    outcome before the task's timeout; one package never waits longer than PUSH_CALL_DEADLINE_S."""
    from .shipping import push_tracking

    client.config.deadline = min(client.config.deadline, PUSH_CALL_DEADLINE_S)
    return push_tracking(engine, client, time_budget=task_timeout.total_seconds() * PUSH_BUDGET_SHARE,
                         account_id=account_id)
