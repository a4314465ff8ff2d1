"""The bodies of the DAG's tasks after extract: each reads its input from staging and writes its own output.

Every step is idempotent for a run: it replaces its staged output, and database writes are upserts.
"""

from __future__ import annotations

import gc
import json
import logging
from collections import Counter
from contextlib import contextmanager

from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from .commerce.db import upsert
from .commerce.schema import channel_amazon_order, channel_amazon_quarantine, customer_entity, ensure_schema, store
from .settings import OrderSettings
from .staging import Staging
from .timeutil import parse_iso

log = logging.getLogger(__name__)


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


VALID_FILE_ORDERS = 5000
VALIDATE_CHUNK_ORDERS = 10_000  # raw orders held in memory at once


def check_settings(engine: Engine, settings: OrderSettings) -> dict:
    """Create missing tables, then check that the settings point at stores and customers that exist."""
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
        raise ValueError("Order Settings do not match the Commerce database: " + "; ".join(problems))
    return {"stores": sorted(stores), "marketplace_overrides": sorted(settings.marketplaces),
            "max_bad_share": settings.max_bad_share}


def unchanged_orders(engine: Engine, batch: list) -> set[str]:
    """Orders the Commerce DB already holds at this Amazon last-update time or a newer one: nothing to do for them
    (a re-run, an overlapping window, a backfill over imported hours). Anything unparseable is not skipped."""
    incoming = {}
    for order in batch:
        try:
            incoming[order["orderId"]] = parse_iso(order["lastUpdatedTime"])
        except (TypeError, KeyError, ValueError, AttributeError):
            continue
    o, ids, stored = channel_amazon_order.c, list(incoming), {}
    with engine.connect() as conn:
        for start in range(0, len(ids), 1000):
            stored.update(conn.execute(select(o.amazon_order_id, o.last_updated)
                                       .where(o.amazon_order_id.in_(ids[start:start + 1000]))).all())
    return {order_id for order_id, updated in stored.items() if updated >= incoming[order_id]}


def _chunks_of_orders(staging: Staging, path: str, size: int):
    """The staged orders, `size` at a time: memory stays flat however large the window."""
    chunk: list = []
    for page in staging.read_json_files(path):
        chunk.extend(page["orders"])
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@bulk_work()
def validate_step(engine: Engine, staging: Staging, extract_path: str, out_path: str, run_id: str,
                  settings: OrderSettings, reprocess_unchanged: bool = False) -> dict:
    """Validate the run's changed orders plus everything still in quarantine; stage the valid ones, quarantine the
    rest. Orders already loaded at this version are skipped unless `reprocess_unchanged`."""
    from .validate import KNOWN_MARKETPLACES, quarantine_key, validate_orders

    marketplaces = KNOWN_MARKETPLACES + settings.extra_marketplace_ids
    q = channel_amazon_quarantine.c
    with engine.connect() as conn:
        waiting = dict(conn.execute(select(q.quarantine_key, q.payload).where(q.resolved.is_(False))).all())
    staging.clear(out_path)
    failed: dict[str, dict] = {}
    passed: set[str] = set()
    batch_keys: set[str] = set()
    reasons: Counter = Counter()
    counts = Counter()

    def check(orders: list) -> None:
        result = validate_orders(orders, marketplaces)
        reasons.update(result.reasons)
        for order, why in result.failed:
            order_id = order.get("orderId") if isinstance(order, dict) else None
            failed[quarantine_key(order)] = {
                "quarantine_key": quarantine_key(order), "amazon_order_id": str(order_id)[:64] if order_id else None,
                "reasons": json.dumps(why), "payload": json.dumps(order, ensure_ascii=False, default=str),
                "first_seen_run": run_id, "last_seen_run": run_id, "resolved": False, "resolution": None}
        passed.update(quarantine_key(o) for o in result.valid)
        for start in range(0, len(result.valid), VALID_FILE_ORDERS):
            counts["files"] += 1
            staging.write_json(out_path, f"valid-{counts['files']:05d}.json",
                               {"orders": result.valid[start:start + VALID_FILE_ORDERS]})
        counts["valid"] += len(result.valid)

    for extracted in _chunks_of_orders(staging, extract_path, VALIDATE_CHUNK_ORDERS):
        skip = set() if reprocess_unchanged else unchanged_orders(engine, extracted)
        batch = [o for o in extracted if not (isinstance(o, dict) and o.get("orderId") in skip)]
        counts["extracted"] += len(extracted)
        counts["checked"] += len(batch)
        batch_keys.update(quarantine_key(o) for o in batch)
        if batch:
            check(batch)
        del extracted, batch
        collect_cycles()  # validation (GX) leaves reference cycles
    reexamined = [json.loads(payload) for key, payload in waiting.items() if key not in batch_keys]
    if reexamined:
        check(reexamined)

    passed -= set(failed)
    released = [key for key in waiting if key in passed]
    with engine.begin() as conn:
        upsert(conn, channel_amazon_quarantine, list(failed.values()), ["quarantine_key"],
               ["amazon_order_id", "reasons", "payload", "last_seen_run", "resolved", "resolution"])
        if released:
            conn.execute(update(channel_amazon_quarantine).where(q.quarantine_key.in_(released))
                         .values(resolved=True, resolution=f"passed validation in run {run_id}"))
    bad_in_batch = sum(1 for key in batch_keys if key in failed)
    share = bad_in_batch / counts["checked"] if counts["checked"] else 0.0
    summary = {"staging_path": out_path, "extracted": counts["extracted"],
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


@bulk_work()
def transform_step(staging: Staging, valid_path: str, out_path: str) -> dict:
    import pandas as pd

    from .transform import newest_versions, transform

    parts = [transform(doc["orders"]) for doc in staging.read_json_files(valid_path)] or [transform([])]
    orders, items = newest_versions(pd.concat([p[0] for p in parts], ignore_index=True),
                                    pd.concat([p[1] for p in parts], ignore_index=True))
    staging.clear(out_path)
    staging.write_frame(out_path, "orders.parquet", orders)
    staging.write_frame(out_path, "items.parquet", items)
    return {"staging_path": out_path, "orders": len(orders), "items": len(items),
            "by_status": orders["status"].value_counts().sort_index().to_dict(),
            "commerce_state": orders["commerce_state"].value_counts().sort_index().to_dict()}


@bulk_work()
def load_customers_step(engine: Engine, staging: Staging, transformed_path: str, settings: OrderSettings) -> dict:
    from .commerce.load import load_customers

    return load_customers(engine, staging.read_frame(transformed_path, "orders.parquet"), settings)


@bulk_work()
def load_orders_step(engine: Engine, staging: Staging, transformed_path: str, settings: OrderSettings,
                     run: dict | None = None) -> dict:
    from .commerce.load import load_orders

    return load_orders(engine, staging.read_frame(transformed_path, "orders.parquet"),
                       staging.read_frame(transformed_path, "items.parquet"), settings, run)
