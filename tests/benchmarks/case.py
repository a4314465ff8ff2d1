"""One benchmark case in its own process (so its peak memory is its own): the pipeline's steps after extract on
N staged orders into one database, then the same window again, then (optionally) the naive baseline, the
database's bulk floor, the Orders grid and the buyer-data retention of every loaded order (and of the staged
files). Prints one JSON object.

    python -m tests.benchmarks.case --url URL --source DIR --orders N [--naive K] [--floor] [--grid]
                                    [--retention [--scrub]]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import MetaData, func, select, update

from amazon_channel import steps
from amazon_channel.commerce.db import commerce_engine
from amazon_channel.commerce.schema import channel_amazon_order, metadata
from amazon_channel.crypto import unseal_bytes
from amazon_channel.retention import FINISHED, erase_expired, erased_since, parse_retention_settings, scrub_staging
from amazon_channel.settings import parse_settings
from amazon_channel.staging import Staging
from amazon_channel.tools.demo import seed_catalog

SETTINGS = parse_settings(None)
# The tables the load step writes, in foreign-key order: the "same rows" for the floor.
LOADED_TABLES = [t.name for t in metadata.sorted_tables if t.name in {
    "customer_entity", "channel_amazon_order", "channel_amazon_order_item", "sales_order", "sales_order_item",
    "sales_order_address", "inventory_reservation", "channel_amazon_order_note"}]


def reset(url: str):
    engine = commerce_engine(url)
    existing = MetaData()
    existing.reflect(engine)
    existing.drop_all(engine)
    seed_catalog(engine)
    return engine


def stage(source: Path, staging: Staging, path: str, n: int) -> int:
    """The first n orders of the source extract, as extract would have staged them."""
    staging.clear(path)
    taken, page_no = 0, 0
    for page in sorted(source.glob("page-*.json")):
        orders = json.loads(unseal_bytes(page.read_bytes()))["orders"][: n - taken]  # extract sealed them
        page_no += 1
        staging.write_json(path, f"page-{page_no:05d}.json", {"orders": orders})
        taken += len(orders)
        if taken >= n:
            break
    return taken


def in_task_process(fn):
    """Run one step in a forked child, as Airflow runs each task in a process of its own (LocalExecutor forks):
    returns (seconds, result, that process's peak RSS in MB)."""
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)

    def child():
        try:
            started = time.perf_counter()
            result = fn()
            send.send((time.perf_counter() - started, result,
                       resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))
        except BaseException as exc:  # noqa: BLE001 (reported to the parent, which raises)
            send.send(exc)

    process = ctx.Process(target=child)
    process.start()
    outcome = receive.recv()
    process.join()
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


def pipeline(url: str, staging: Staging, run_id: str) -> dict:
    """validate → transform → load (customers + orders), each timed in its own process, as the DAG's tasks."""
    run = steps.Run("bench", run_id, staging)
    extracted = {"window_start": "2026-01-01T00:00:00Z", "window_end": "2026-03-10T12:00:00Z", "api_calls": 0,
                 "throttled": 0}
    t_validate, validated, m_validate = in_task_process(lambda: steps.validate_step(
        commerce_engine(url), run, run.path("extract"), SETTINGS))
    t_transform, transformed, m_transform = in_task_process(lambda: steps.transform_step(
        run, validated["staging_path"]))
    t_customers, _, m_customers = in_task_process(lambda: steps.load_customers_step(
        commerce_engine(url), run, transformed["staging_path"], SETTINGS))
    t_orders, loaded, m_orders = in_task_process(lambda: steps.load_orders_step(
        commerce_engine(url), run, transformed["staging_path"], SETTINGS, extracted))
    return {"validate_s": t_validate, "transform_s": t_transform, "load_s": t_customers + t_orders,
            "total_s": t_validate + t_transform + t_customers + t_orders, "validated": validated,
            "transformed_orders": transformed["orders"], "transformed_items": transformed["items"], "loaded": loaded,
            "peak_rss_mb": {"validate": m_validate, "transform": m_transform, "load": max(m_customers, m_orders)}}


def rows_written(engine) -> dict[str, list[dict]]:
    with engine.connect() as conn:
        return {name: [dict(r) for r in conn.execute(select(metadata.tables[name])).mappings()]
                for name in LOADED_TABLES}


def bulk_floor(url: str, rows: dict[str, list[dict]]) -> float:
    """The same rows into empty tables with the same keys and indexes, the fastest plain way the database has:
    PostgreSQL COPY; one executemany transaction elsewhere."""
    import csv
    import io

    floor_url = url.replace("commerce.db", "floor.db") if url.startswith("sqlite") else url
    engine = reset(floor_url)
    started = time.perf_counter()
    with engine.begin() as conn:
        for name in LOADED_TABLES:
            table, data = metadata.tables[name], rows[name]
            if not data:
                continue
            if conn.dialect.name == "postgresql":
                buffer = io.StringIO()
                writer = csv.writer(buffer)
                columns = list(data[0])
                for row in data:
                    writer.writerow(["\\N" if row[c] is None else _pg(row[c]) for c in columns])
                buffer.seek(0)
                cursor = conn.connection.cursor()
                cursor.copy_expert(f"COPY {name} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')",
                                   buffer)
            else:
                conn.execute(table.insert(), data)
    elapsed = time.perf_counter() - started
    engine.dispose()
    return elapsed


def _pg(value):
    from datetime import datetime

    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat()
    return value


def naive_baseline(url: str, staging: Staging, transformed_path: str, k: int) -> dict:
    """What cart-based extensions do: per order, ORM objects inserted one row at a time, one commit per order."""
    import pandas as pd
    from sqlalchemy.orm import Session, registry

    from amazon_channel.commerce.load import ITEM_COLUMNS, ORDER_COLUMNS
    from amazon_channel.rules import buyer_identity

    engine = reset(url.replace("commerce.db", "naive.db") if url.startswith("sqlite") else url)
    mapper = registry()
    classes = {}
    for name in ("channel_amazon_order", "channel_amazon_order_item", "sales_order", "sales_order_item",
                 "sales_order_address", "inventory_reservation"):
        classes[name] = type(name, (), {})
        mapper.map_imperatively(classes[name], metadata.tables[name])
    orders = staging.read_frame(transformed_path, "orders.parquet")
    items = staging.read_frame(transformed_path, "items.parquet")
    orders = orders[orders["fulfillment_channel"].eq("MFN") & orders["status"].isin(["Unshipped", "Shipped"])].head(k)
    items = items[items["amazon_order_id"].isin(orders["amazon_order_id"])]
    by_order = {key: group for key, group in items.groupby("amazon_order_id")}
    firstname, lastname, email = buyer_identity(orders.astype({c: "string" for c in (
        "buyer_name", "ship_name", "buyer_email", "amazon_order_id")}))

    def value(v):
        if v is pd.NA or v is pd.NaT or v is None or (isinstance(v, float) and v != v):
            return None
        return v.item() if hasattr(v, "item") and not isinstance(v, pd.Timestamp) else v

    from decimal import Decimal

    started = time.perf_counter()
    for n, (_, o) in enumerate(orders.iterrows()):
        with Session(engine) as session:
            lines = by_order.get(o["amazon_order_id"], items.iloc[0:0])
            row = {c: value(o.get(c)) for c in ORDER_COLUMNS if c in o}
            session.add(classes["channel_amazon_order"](**{**row, "store_id": 1,
                                                          "subtotal": Decimal(int(o["subtotal_e4"])) / 10000,
                                                          "grand_total": Decimal(int(o["grand_total_e4"])) / 10000}))
            for _, line in lines.iterrows():
                session.add(classes["channel_amazon_order_item"](**{
                    **{c: value(line.get(c)) for c in ITEM_COLUMNS if c in line},
                    "unit_price": Decimal(int(line["unit_price_e4"])) / 10000}))
            sales = classes["sales_order"](
                increment_id=f"N{n:09d}", store_id=1, state="processing", status="processing", customer_id=None,
                customer_is_guest=True, customer_email=email.iloc[n], customer_firstname=firstname.iloc[n],
                customer_lastname=lastname.iloc[n], subtotal=Decimal(int(o["subtotal_e4"])) / 10000,
                tax_amount=0, shipping_amount=0, grand_total=Decimal(int(o["grand_total_e4"])) / 10000,
                order_currency_code=o["currency"], total_qty_ordered=int(lines["qty_ordered"].sum()),
                ext_order_id=o["amazon_order_id"], send_email=False, created_at=o["purchase_date"],
                updated_at=o["last_updated"])
            session.add(sales)
            session.flush()  # the cart's "place order": the id is needed for the children
            for _, line in lines.iterrows():
                price = Decimal(int(line["unit_price_e4"])) / 10000
                session.add(classes["sales_order_item"](
                    order_id=sales.entity_id, ext_order_item_id=line["order_item_id"], sku=line["sku"],
                    name=line["title"], qty_ordered=int(line["qty_ordered"]), qty_shipped=0, qty_canceled=0,
                    price=price, row_total=price * int(line["qty_ordered"])))
                session.add(classes["inventory_reservation"](sku=line["sku"], quantity=-int(line["qty_ordered"]),
                                                             ext_order_id=o["amazon_order_id"], event="order_placed"))
            for kind in ("shipping", "billing"):
                session.add(classes["sales_order_address"](
                    parent_id=sales.entity_id, address_type=kind, firstname=firstname.iloc[n],
                    lastname=lastname.iloc[n], street=value(o["ship_street"]), city=value(o["ship_city"]),
                    postcode=value(o["ship_postcode"]), country_id=value(o["ship_country"]), email=email.iloc[n],
                    is_placeholder=False))
            session.commit()
    elapsed = time.perf_counter() - started
    engine.dispose()
    return {"orders": len(orders), "seconds": elapsed, "orders_per_s": len(orders) / elapsed}


def grid(url: str) -> dict:
    """The Orders view's queries at this size: median of 5 of each."""
    from decimal import Decimal
    from statistics import median

    from amazon_channel.orders_view import OrderFilter, filter_choices, list_orders

    engine = commerce_engine(url)
    cases = {
        "default page (newest first)": dict(),
        "filtered: Unshipped, buyer 'smi', total 20-200, by total, page 2": dict(
            f=OrderFilter(status="Unshipped", buyer_name="smi", total_min=Decimal(20), total_max=Decimal(200)),
            sort="grand_total", descending=False, page=2),
        "order number fragment": dict(f=OrderFilter(order_number="-00042")),
        "one day, one marketplace": dict(f=OrderFilter(marketplace_id="ATVPDKIKX0DER",
                                                       purchased_from=_day("2026-03-05"),
                                                       purchased_to=_day("2026-03-05"))),
        "page 500 of 50": dict(page=500),
    }
    results = {}
    with engine.connect() as conn:
        total = list_orders(conn)["total"]
        for name, kwargs in cases.items():
            times = []
            for _ in range(5):
                started = time.perf_counter()
                page = list_orders(conn, **kwargs)
                filter_choices(conn)
                times.append(time.perf_counter() - started)
            results[name] = {"ms": median(times) * 1000, "matches": page["total"]}
    engine.dispose()
    return {"grid_orders": total, "queries": results}


# A year after the bench's clock (2026-03-10): every Shipped or Canceled order is past its 30 days by then.
RETENTION_AS_OF = datetime(2027, 3, 10, tzinfo=UTC)
RETENTION = parse_retention_settings(None)


def erase(url: str) -> tuple[dict, set[str]]:
    """The retention DAG's first task on every loaded order, in a process of its own, then a second time (the daily
    check when nothing is due). The emulator's open orders (Unshipped, Pending...) never ship in the bench: one
    UPDATE makes them Shipped first. Returns the results and the erased orders (for `scrub`)."""
    o = channel_amazon_order.c
    engine = commerce_engine(url)
    with engine.begin() as conn:
        channel_orders = conn.execute(select(func.count()).select_from(channel_amazon_order)).scalar_one()
        made_shipped = conn.execute(update(channel_amazon_order).where(o.status.not_in(FINISHED))
                                    .values(status="Shipped")).rowcount
    engine.dispose()  # no pooled connection crosses a fork
    t_erase, erased, _ = in_task_process(lambda: erase_expired(commerce_engine(url), RETENTION, RETENTION_AS_OF,
                                                               RETENTION_AS_OF))
    t_again, again, _ = in_task_process(lambda: erase_expired(commerce_engine(url), RETENTION, RETENTION_AS_OF,
                                                              RETENTION_AS_OF))
    engine = commerce_engine(url)
    erased_ids = erased_since(engine, RETENTION_AS_OF)
    engine.dispose()
    return {"as_of": RETENTION_AS_OF.isoformat(), "channel_orders": channel_orders, "made_shipped": made_shipped,
            "erase_s": t_erase, "erased": erased, "again_s": t_again, "again": again}, erased_ids


def scrub(staging: Staging, erased: set[str]) -> dict:
    """The retention DAG's second task, in a process of its own, over the staged files both runs left."""
    files = [name for _, name in staging.files()]
    t_scrub, scrubbed, _ = in_task_process(lambda: scrub_staging(staging, erased, RETENTION, RETENTION_AS_OF))
    return {"scrub_s": t_scrub, "staged_pages": sum(n.endswith(".json") for n in files),
            "staged_frames": sum(n.endswith(".parquet") for n in files), **scrubbed}


def _day(text):
    from datetime import date

    return date.fromisoformat(text)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--source", required=True, type=Path)
    parser.add_argument("--orders", required=True, type=int)
    parser.add_argument("--work", required=True, type=Path)
    parser.add_argument("--naive", type=int, default=0)
    parser.add_argument("--floor", action="store_true")
    parser.add_argument("--grid", action="store_true")
    parser.add_argument("--retention", action="store_true")
    parser.add_argument("--scrub", action="store_true")
    args = parser.parse_args()

    import great_expectations  # noqa: F401  (imported once here: steps are timed without the ~2 s import)

    staging = Staging(f"file://{args.work}/staging")
    engine = reset(args.url)
    steps.check_settings_step(engine, SETTINGS, steps.Run("bench", "setup", staging), staging_retention_days=7)
    engine.dispose()  # no pooled connection crosses a fork
    staged = stage(args.source, staging, steps.Run("bench", "first", staging).path("extract"), args.orders)
    first = pipeline(args.url, staging, "first")
    staged_again = stage(args.source, staging, steps.Run("bench", "again", staging).path("extract"), args.orders)
    again = pipeline(args.url, staging, "again")
    result = {"url": args.url.split("://")[0], "orders": staged, "first": first, "again": again,
              "peak_rss_mb": max(first["peak_rss_mb"].values())}  # the largest task process
    if args.grid:
        result["grid"] = grid(args.url)
    engine = commerce_engine(args.url)
    if args.floor:
        written = rows_written(engine)
        result["rows_written"] = {k: len(v) for k, v in written.items()}
    engine.dispose()
    if args.retention:  # after the grid and the floor's rows (it erases names), before the floor (it drops tables)
        result["retention"], erased = erase(args.url)
    if args.floor:
        result["floor_s"] = bulk_floor(args.url, written)
    if args.naive:
        result["naive"] = naive_baseline(args.url, staging, staging.run_path("bench", "first", "transformed"),
                                         args.naive)
    if args.retention and args.scrub:  # after the naive baseline, which reads the staged frames
        result["retention"]["scrub"] = {**scrub(staging, erased), "staged_orders": staged + staged_again}
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
