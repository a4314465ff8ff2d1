"""Buyer data sealed at rest, on each database: a raw read of the channel tables, the quarantine and staging shows
no buyer's name, e-mail, phone or street, while the pipeline and the Orders view read them as Amazon sent them; keys
rotate; data stored before encryption is sealed by the retention DAG's reseal."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import msgspec
import pytest
from sqlalchemy import select

from amazon_channel import crypto
from amazon_channel.commerce.schema import channel_amazon_order, metadata
from amazon_channel.orders_view import OrderFilter, list_orders, order_detail
from amazon_channel.retention import reseal
from amazon_channel.settings import parse_settings
from tests.support import table_checksums

pytestmark = [pytest.mark.emulator]

START, END = datetime(2026, 3, 8, tzinfo=UTC), datetime(2026, 3, 8, 4, tzinfo=UTC)


@pytest.fixture
def keys():
    """The process's keys for one test; the environment's (the test key) again after it."""
    yield crypto.use_keys
    crypto.use_keys(None)
    crypto._from_environment = False


def raw_text(engine, staging=None) -> str:
    """What a dump of the channel tables and a copy of the staging folder (if given) hold: the tables read without
    their types, the staged files' bytes. (Commerce's own tables hold the order's address for Commerce to use, as
    Magento's do.)"""
    parts = []
    with engine.connect() as conn:
        for table in (t for t in metadata.sorted_tables if t.name.startswith("channel_")):
            parts += [repr(row) for row in conn.exec_driver_sql(f"SELECT * FROM {table.name}")]
    for url, name in staging.files() if staging else []:
        with staging.fs.open(f"{url.split('://', 1)[-1]}/{name}", "rb") as handle:
            parts.append(repr(handle.read()))
    return "\n".join(parts)


def buyer_values(truth: dict, orders: dict) -> set[str]:
    """The loaded orders' buyer data Amazon shared (merchant orders): name, e-mail, phone, street."""
    return {truth[i]["buyer"][k] for i, row in orders.items() if row.buyer_email
            for k in ("name", "email", "phone", "street")}


def test_buyer_data_is_sealed_in_a_raw_read_and_reads_back_for_the_pipeline_and_the_view(steps, emulator):
    steps.extract("sealed", START, END)
    steps.after_extract("sealed")
    staged = [o for page in steps.staging.read_bytes(steps.path("sealed", "extract"), ".json")
              for o in msgspec.json.decode(page)["orders"]]
    bad = copy.deepcopy(next(o for o in staged if o.get("buyer", {}).get("buyerEmail")))
    bad["orderId"] = "12-3456"  # quarantined with its payload
    steps.stage("bad", [bad])
    steps.after_extract("bad", parse_settings({"max_bad_share": 1}))
    truth = {o["orderId"]: o for o in emulator.truth("2026-03-07T00:00:00Z", "2026-03-09T00:00:00Z")}
    with steps.engine.connect() as conn:
        orders = {r.amazon_order_id: r for r in conn.execute(select(channel_amazon_order))}
    values = buyer_values(truth, orders)
    assert len(values) > 40

    # A raw read holds none of them, nor the quarantined order's e-mail.
    raw = raw_text(steps.engine, steps.staging)
    assert [v for v in values | {bad["buyer"]["buyerEmail"]} if v in raw] == []
    assert "enc1:" in raw

    # Read through the schema they are Amazon's values; the view finds and shows them.
    merchant = next(i for i, r in orders.items() if r.buyer_email)
    assert (orders[merchant].buyer_email, orders[merchant].ship_phone) == (
        truth[merchant]["buyer"]["email"], truth[merchant]["buyer"]["phone"])
    name = truth[merchant]["buyer"]["name"]
    with steps.engine.connect() as conn:
        found = list_orders(conn, OrderFilter(buyer_name=name.upper()[1:-1]), sort="buyer_name")
        detail = order_detail(conn, merchant)
    assert merchant in [r["amazon_order_id"] for r in found["rows"]] and found["total"] >= 1
    assert all(name.lower()[1:-1] in r["buyer_name"].lower() for r in found["rows"])
    assert detail["order"]["buyer_name"] == name and detail["order"]["ship_street"] == truth[merchant]["buyer"][
        "street"]


def test_keys_rotate_and_data_from_before_encryption_gets_sealed(steps, emulator, keys):
    # Stored before encryption was configured: plain.
    keys(None)
    steps.extract("plain", START, END)
    steps.after_extract("plain")
    truth = {o["orderId"]: o for o in emulator.truth("2026-03-07T00:00:00Z", "2026-03-09T00:00:00Z")}
    with steps.engine.connect() as conn:
        orders = {r.amazon_order_id: r for r in conn.execute(select(channel_amazon_order))}
    values = buyer_values(truth, orders)
    assert values and all(v in raw_text(steps.engine, steps.staging) for v in values)
    plain = table_checksums(steps.engine)

    # Keys configured: the old rows still read; reseal seals them.
    first, second = crypto.new_key(), crypto.new_key()
    keys(first)
    assert table_checksums(steps.engine) == plain
    done = reseal(steps.engine)
    assert done["resealed"]["channel_amazon_order.buyer_name"] > 0
    database = raw_text(steps.engine)
    assert [v for v in values if v in database] == []
    assert table_checksums(steps.engine) == plain
    assert reseal(steps.engine)["resealed"] == {}  # nothing left

    # Rotation: the new key first; reseal; the old key can go.
    keys(f"{second},{first}")
    assert sum(reseal(steps.engine)["resealed"].values()) == sum(done["resealed"].values())
    keys(second)
    assert table_checksums(steps.engine) == plain
    keys(first)  # a deployment that lost the new key: an error naming the key, never the data
    with pytest.raises(crypto.BuyerDataKeyError, match="not among the configured keys") as err:
        table_checksums(steps.engine)
    assert not any(v in str(err.value) for v in values)
