"""Buyer data past its retention period, on each database: erased from the channel tables, the Commerce guest
orders, quarantine payloads and staging; everything else byte-identical; orders inside their period untouched; a
backfill of the old window does not bring it back."""

from __future__ import annotations

import copy
import hashlib
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from sqlalchemy import select

from amazon_channel.commerce.schema import (
    channel_amazon_order,
    channel_amazon_quarantine,
    metadata,
    sales_order,
    sales_order_address,
)
from amazon_channel.retention import (
    CHANNEL_ORDER_PII,
    COMMERCE_ADDRESS_PII,
    erase_expired,
    erased_since,
    parse_retention_settings,
    scrub_staging,
)
from amazon_channel.rules import PLACEHOLDER_EMAIL_DOMAIN
from amazon_channel.settings import parse_settings
from tests.support import table_checksums

pytestmark = [pytest.mark.emulator]

START, END = datetime(2026, 3, 8, tzinfo=UTC), datetime(2026, 3, 8, 8, tzinfo=UTC)
ERASED_AT = datetime(2026, 4, 20, 3, 30, tzinfo=UTC)
PERSONAL = set(CHANNEL_ORDER_PII) | {"gift_message", "customer_firstname", "customer_lastname",
                                            "customer_email", "buyer_data_erased_at", "payload"} | {
    f"address.{c}" for c in COMMERCE_ADDRESS_PII}


def non_personal_checksums(engine) -> dict[str, str]:
    """sha256 of every table's rows without the columns erasure may change."""
    sums = {}
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            personal = PERSONAL | {c.split(".")[1] for c in PERSONAL if table.name == "sales_order_address"
                                   and c.startswith("address.")}
            columns = [c for c in table.columns if c.name not in personal]
            rows = sorted(repr(tuple(row)) for row in conn.execute(select(*columns)))
            sums[table.name] = hashlib.sha256("\n".join(rows).encode()).hexdigest()
    return sums


def everything_stored(engine, staging) -> str:
    """Every value of every table, and every staged page and frame, as one text to search."""
    parts = []
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            parts += [repr(tuple(row)) for row in conn.execute(select(table))]
    for url, name in staging.files():
        if name.endswith(".json"):
            parts.append(msgspec.json.decode(staging.read_file(url, name)).__repr__())
        elif name.endswith(".parquet"):  # each value as it is (CSV would double quotes inside values, and is slow)
            frame = staging.read_frame(url, name)
            parts += [str(value) for column in frame for value in frame[column].dropna().tolist()]
    return "\n".join(parts)


def expected_expiry(row) -> datetime | None:
    """The policy, written out again here: Canceled 30 days after cancellation, Shipped 30 days after the promised
    delivery (or the last change when later; a week after it without a promise); others never."""
    if row.status == "Canceled":
        return row.last_updated + timedelta(days=30)
    if row.status == "Shipped":
        start = max(row.deliver_by, row.last_updated) if row.deliver_by else row.last_updated + timedelta(days=7)
        return start + timedelta(days=30)
    return None


def test_expired_buyer_data_is_erased_everywhere_and_a_backfill_does_not_bring_it_back(steps, emulator):
    # Arrange: the window's orders loaded, then the day the retention runs: half the finished orders' periods are
    # over. Two quarantined orders carry buyer data of expired orders.
    steps.extract("import", START, END)
    steps.after_extract("import")
    truth = {o["orderId"]: o for o in emulator.truth("2026-03-07T00:00:00Z", "2026-03-09T00:00:00Z")}
    with steps.engine.connect() as conn:
        orders = {r.amazon_order_id: r for r in conn.execute(select(channel_amazon_order))}
    staged = [o for page in steps.staging.read_bytes(steps.path("import", "extract"), ".json")
              for o in msgspec.json.decode(page)["orders"]]
    expiries = sorted(e for e in map(expected_expiry, orders.values()) if e is not None)
    assert len(expiries) >= 20
    as_of = expiries[len(expiries) // 2]
    expired_ids = {i for i, r in orders.items() if (expected_expiry(r) or as_of + timedelta(1)) <= as_of}
    kept_ids = set(orders) - expired_ids
    canceled, stray = [copy.deepcopy(o) for o in staged if o["orderId"] in expired_ids
                       and orders[o["orderId"]].status == "Canceled" and o.get("buyer", {}).get("buyerEmail")][:2]
    canceled["orderItems"][0]["quantityOrdered"] = 0  # a bad newer version of a loaded order
    canceled["lastUpdatedTime"] = canceled["lastUpdatedTime"].replace("2026-03-08T", "2026-03-09T")
    stray_email = stray["buyer"]["buyerEmail"]
    stray["orderId"] = "12-3456"  # malformed: it never reaches the channel tables
    steps.stage("bad", [canceled, stray])
    steps.after_extract("bad", parse_settings({"max_bad_share": 1}))
    assert expired_ids and kept_ids
    before = non_personal_checksums(steps.engine)
    with steps.engine.connect() as conn:
        kept_rows = {r.amazon_order_id: tuple(r) for r in conn.execute(
            select(channel_amazon_order).where(channel_amazon_order.c.amazon_order_id.in_(kept_ids)))}
    # Values only an expired order has (names and streets repeat across buyers; e-mails and phones do not).
    kept_values = {v for i in kept_ids for v in truth[i]["buyer"].values() if isinstance(v, str)}
    expired_values = {v for i in expired_ids for k, v in truth[i]["buyer"].items()
                      if k in ("email", "phone", "name", "street") and v not in kept_values} | {stray_email}
    stored = everything_stored(steps.engine, steps.staging)
    assert sum(v in stored for v in expired_values) > len(expired_ids)  # the search can find them

    # Act
    settings = parse_retention_settings(None)
    summary = erase_expired(steps.engine, settings, as_of, ERASED_AT)
    scrubbed = scrub_staging(steps.staging, erased_since(steps.engine, ERASED_AT - timedelta(days=7)), settings,
                             as_of)

    # Assert: nothing personal of an expired order anywhere, everything else as it was.
    assert summary["orders_erased"] == len(expired_ids) and summary["quarantine_payloads_erased"] == 2
    assert scrubbed["staged_files_scrubbed"] > 0
    stored = everything_stored(steps.engine, steps.staging)
    assert [v for v in expired_values if v in stored] == []
    assert non_personal_checksums(steps.engine) == before
    with steps.engine.connect() as conn:
        rows = {r.amazon_order_id: r for r in conn.execute(select(channel_amazon_order))}
        guests = {r.ext_order_id: r for r in conn.execute(select(sales_order))}
        addresses = conn.execute(select(sales_order_address, sales_order.c.ext_order_id).join(
            sales_order, sales_order.c.entity_id == sales_order_address.c.parent_id)).all()
        payloads = conn.execute(select(channel_amazon_quarantine.c.payload)).scalars().all()
    for order_id in expired_ids:
        assert rows[order_id].buyer_data_erased_at == ERASED_AT
        assert all(getattr(rows[order_id], c) is None for c in CHANNEL_ORDER_PII)
        if order_id in guests:
            assert guests[order_id].customer_email == f"{order_id}@{PLACEHOLDER_EMAIL_DOMAIN}"
            assert guests[order_id].customer_firstname is None and guests[order_id].customer_lastname is None
    assert all(getattr(a, c) is None for a in addresses if a.ext_order_id in expired_ids for c in COMMERCE_ADDRESS_PII)
    assert {i: tuple(rows[i]) for i in kept_ids} == kept_rows  # inside their period: untouched
    assert len(payloads) == 2 and all(canceled["buyer"]["buyerEmail"] not in p and stray_email not in p
                                      for p in payloads)

    # Idempotent: a second run (a cleared task, a backfilled day) changes nothing.
    erased = table_checksums(steps.engine)
    again = erase_expired(steps.engine, parse_retention_settings(None), as_of, ERASED_AT + timedelta(days=1))
    assert again["orders_erased"] == again["orders_erased_again"] == again["quarantine_payloads_erased"] == 0
    assert table_checksums(steps.engine) == erased

    # A backfill of the old window, re-processing every order: the buyer data stays erased, in tables and staging.
    extracted = steps.extract("backfill", START, END)
    steps.after_extract("backfill", reprocess_unchanged=True)
    assert extracted["buyer_data_withheld"] == len(expired_ids & {o["orderId"] for o in staged})
    stored = everything_stored(steps.engine, steps.staging)
    assert [v for v in expired_values if v in stored] == []
    with steps.engine.connect() as conn:
        after = {r.amazon_order_id: r for r in conn.execute(select(channel_amazon_order))}
    assert all(getattr(after[i], c) is None for i in expired_ids for c in CHANNEL_ORDER_PII)
    assert {i: tuple(after[i]) for i in kept_ids} == kept_rows


@pytest.mark.airflow
@pytest.mark.parametrize("commerce_url", ["sqlite"], indirect=True)
def test_the_retention_dag_erases_what_expired_by_its_day_and_refuses_a_period_without_legal_hold(
        pipeline_env, emulator, commerce):
    from airflow.dag_processing.dagbag import DagBag

    from tests.support import ROOT, run_sync

    assert run_sync(datetime(2026, 3, 9, 10, tzinfo=UTC)).state == "success"
    dag = DagBag(dag_folder=str(ROOT / "dags")).get_dag("amazon_buyer_data_retention")
    pipeline_env.setenv("AIRFLOW_VAR_AMAZON_CHANNEL_BUYER_DATA_RETENTION", '{"default": {"days": 45}}')
    refused = dag.test(logical_date=datetime(2026, 5, 1, 3, 30, tzinfo=UTC))
    erase = next(ti for ti in refused.get_task_instances() if ti.task_id == "erase_expired_buyer_data")
    assert refused.state == "failed" and erase.state == "failed" and erase.try_number == 1  # no retries: a setting

    pipeline_env.delenv("AIRFLOW_VAR_AMAZON_CHANNEL_BUYER_DATA_RETENTION")
    with commerce.connect() as conn:
        before = {r.amazon_order_id: r for r in conn.execute(select(channel_amazon_order))}
    assert dag.test(logical_date=datetime(2026, 5, 2, 3, 30, tzinfo=UTC)).state == "success"
    with commerce.connect() as conn:
        after = {r.amazon_order_id: r for r in conn.execute(select(channel_amazon_order))}
    as_of = datetime(2026, 5, 3, 3, 30, tzinfo=UTC)  # the run's interval end
    expired_ids = {i for i, r in before.items() if (expected_expiry(r) or as_of + timedelta(1)) <= as_of}
    assert expired_ids and expired_ids != set(before)
    assert {i for i, r in after.items() if r.buyer_data_erased_at is not None} == expired_ids
    assert all(getattr(after[i], c) is None for i in expired_ids for c in CHANNEL_ORDER_PII)
    assert all(tuple(after[i]) == tuple(before[i]) for i in set(before) - expired_ids)
