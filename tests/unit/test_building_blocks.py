"""Pure-Python pieces, no services: token bucket, connection parsing, staging, the world's lifecycle.
(Time and extraction windows: test_time_and_windows.py.)"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from amazon_channel.commerce.db import HIDDEN, hide_quoted_values
from amazon_channel.emulator.world import CANCELLED, PENDING, SHIPPED, UNSHIPPED, Package, World
from amazon_channel.ratelimit import TokenBucket
from amazon_channel.spapi import SpApiConfig
from amazon_channel.staging import Staging, safe_segment

pytestmark = [pytest.mark.unit]


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_token_bucket_burst_then_rate():
    clock = FakeClock()
    bucket = TokenBucket(rate=0.5, burst=3, clock=clock)
    assert [bucket.try_acquire() for _ in range(4)] == [True, True, True, False]
    clock.now = 1.9
    assert not bucket.try_acquire()
    clock.now = 2.0
    assert bucket.try_acquire()
    assert bucket.reserve() == pytest.approx(2.0)  # on credit: the caller waits one refill period
    bucket.set_rate(2.0)
    clock.now = 4.0  # the debt was 1 token; at 2/s it is repaid after 0.5 s, so 3 tokens are back (capped)
    assert [bucket.try_acquire() for _ in range(4)] == [True, True, True, False]


def test_client_pacing_never_runs_ahead_of_the_servers_bucket_when_the_first_trip_was_slow():
    """Both buckets full; the client's first call takes 0.3 s to reach the server, later calls arrive at once. The
    client counts its refill from the first answer, so its call after the burst still finds a token at the server."""
    clock = FakeClock()
    client, server = TokenBucket(rate=2, burst=2, clock=clock), TokenBucket(rate=2, burst=2, clock=clock)
    waits = []
    for trip in (0.3, 0.0, 0.0):
        wait = client.reserve()
        waits.append(wait)
        clock.now += wait + trip
        assert server.try_acquire()  # the call arrives
        client.settle()  # and its answer comes back
    assert waits == [0.0, 0.0, pytest.approx(0.5)]


def test_token_bucket_drain_forgets_burst():
    clock = FakeClock()
    bucket = TokenBucket(rate=1, burst=10, clock=clock)
    bucket.drain()
    assert not bucket.try_acquire()


def test_config_from_connection():
    cfg = SpApiConfig.from_connection("id", "secret", {"refresh_token": "Atzr|r", "region": "eu",
                                                       "marketplace_ids": "A1PA6795UKMFR9, A1F83G8C2ARO7P",
                                                       "deadline": "30"})
    assert cfg.base_url == "https://sellingpartnerapi-eu.amazon.com"
    assert cfg.marketplace_ids == ["A1PA6795UKMFR9", "A1F83G8C2ARO7P"] and cfg.deadline == 30.0
    sandbox = SpApiConfig.from_connection("id", "secret", {"refresh_token": "r", "sandbox": "true"})
    assert sandbox.base_url == "https://sandbox.sellingpartnerapi-na.amazon.com"
    emulator = SpApiConfig.from_connection("id", "secret", {"refresh_token": "r", "endpoint": "http://127.0.0.1:9/"})
    assert emulator.base_url == "http://127.0.0.1:9"
    with pytest.raises(ValueError, match="refresh_token"):
        SpApiConfig.from_connection("id", "secret", {})
    with pytest.raises(ValueError, match="unknown SP-API region"):
        SpApiConfig.from_connection("id", "secret", {"refresh_token": "r", "region": "mars"})


def test_staging_rerun_replaces_output(tmp_path):
    staging = Staging(f"file://{tmp_path}")
    path = staging.run_path("amazon_orders_sync", "scheduled__2026-03-10T10:00:00+00:00", "extract")
    assert "scheduled__2026-03-10T10_00_00_00_00" in path and safe_segment("a/b") == "a_b"
    staging.clear(path)
    staging.write_json(path, "page-00001.json", {"orders": [1]})
    staging.write_json(path, "page-00002.json", {"orders": [2]})
    staging.clear(path)
    staging.write_json(path, "page-00001.json", {"orders": ["ü"]})
    assert [json.loads(page) for page in staging.read_bytes(path, ".json")] == [{"orders": ["ü"]}]


def test_staged_files_are_the_owners_alone(tmp_path):
    """Staged pages hold buyer data: 0600 files in 0700 folders below the staging root, whatever the umask."""
    import pandas as pd

    root = tmp_path / "staging"
    root.mkdir()
    root.chmod(0o755)  # the root may be a folder others use: its mode stays the operator's
    staging = Staging(f"file://{root}")
    path = staging.run_path("amazon_orders_sync", "manual__1", "extract")
    staging.clear(path)
    staging.write_json(path, "page-00001.json", {"orders": [{"buyerName": "x"}]})
    staging.write_json(f"{path}/rejected", "rejected-00001.json", {"rejected": []})  # a folder the write makes
    staging.write_frame(path, "valid.parquet", pd.DataFrame({"a": [1]}))

    modes = {p.relative_to(root).as_posix(): p.stat().st_mode & 0o777 for p in [root, *root.rglob("*")]}
    run = "amazon_orders_sync/manual__1"
    assert modes == {".": 0o755, "amazon_orders_sync": 0o700, run: 0o700, f"{run}/extract": 0o700,
                     f"{run}/extract/page-00001.json": 0o600, f"{run}/extract/rejected": 0o700,
                     f"{run}/extract/rejected/rejected-00001.json": 0o600, f"{run}/extract/valid.parquet": 0o600}


START = int(datetime(2026, 3, 1, tzinfo=UTC).timestamp())
END = START + 5 * 86400


def test_world_is_deterministic_and_sized():
    a, b = World(3, 2000, START, END), World(3, 2000, START, END)
    assert [r.order_id for r in a.records] == [r.order_id for r in b.records]
    assert a.order_json(10, END, {"BUYER"}) == b.order_json(10, END, {"BUYER"})
    assert len({r.order_id for r in a.records}) == 2000
    assert World(4, 50, START, END).records[0].order_id != a.records[0].order_id


def test_world_lifecycle_and_shipping():
    world = World(5, 3000, START, END)
    merchant = next(r for r in world.records if not r.fba and r.fate == "ship")
    assert world.status(merchant.idx, merchant.created - 1) is None  # not placed yet
    assert world.status(merchant.idx, merchant.created) == PENDING
    verified = merchant.events[1][0]
    assert world.status(merchant.idx, verified) == UNSHIPPED
    items = world.details(merchant.idx)["items"]
    world.confirm_package(merchant.idx, Package("1", "UPS", None, None, "1Z0000000001", "2026-03-02T00:00:00Z",
                                                {i["orderItemId"]: i["quantity"] for i in items}, "x"), verified + 60)
    assert world.status(merchant.idx, verified + 60) == SHIPPED
    assert world.last_change(merchant.idx, verified + 60) == (verified + 60, 1)
    fba = next(r for r in world.records if r.fba and r.fate == "amazon_ships")
    assert world.status(fba.idx, fba.events[-1][0]) == SHIPPED
    cancelled = next(r for r in world.records if r.fate == "cancel_unshipped")
    assert world.status(cancelled.idx, cancelled.events[-1][0]) == CANCELLED


def test_world_search_lists_each_order_once_at_its_latest_change():
    world = World(6, 3000, START, END)
    now = END
    hits = list(world.changes_between(START, END, now, None))
    ids = [idx for _, idx in hits]
    assert len(ids) == len(set(ids)) == 3000
    resumed = list(world.changes_between(START, END, now, hits[99][0]))
    assert [idx for _, idx in resumed] == ids[100:]


def test_staging_purge_removes_only_old_runs(tmp_path):
    import os
    import time

    staging = Staging(f"file://{tmp_path}")
    for run in ("old_run", "new_run"):
        path = staging.run_path("amazon_orders_sync", run, "extract")
        staging.clear(path)
        staging.write_json(path, "page-00001.json", {"orders": []})
    old = time.time() - 10 * 86400
    for root, _, files in os.walk(tmp_path / "amazon_orders_sync" / "old_run"):
        for name in files:
            os.utime(os.path.join(root, name), (old, old))
    assert staging.purge("amazon_orders_sync", older_than_days=7) == ["old_run"]
    assert sorted(os.listdir(tmp_path / "amazon_orders_sync")) == ["new_run"]
    assert staging.purge("other_dag", older_than_days=7) == []


@pytest.mark.parametrize(("message", "kept"), [
    ('duplicate key value violates unique constraint "uq"\nDETAIL:  Key (email, website_id)=(a(b)@x.org, 1) already '
     'exists.', 'Key (email, website_id)=' + HIDDEN + ' already exists.'),
    ('insert or update on table "sales_order_address" violates foreign key constraint "fk"\nDETAIL:  Key '
     '(parent_id)=(7) is not present in table "sales_order".', 'Key (parent_id)=' + HIDDEN + ' is not present'),
    ('null value in column "created_at" of relation "customer_entity" violates not-null constraint\nDETAIL:  '
     'Failing row contains (3, 1, a(b)@x.org, Jane, null).', 'Failing row contains ' + HIDDEN),
    ('value too long for type character varying(64)\nCONTEXT:  COPY tmp_orders, line 3, column city: "a(b)@x.org"',
     'COPY tmp_orders, line 3: ' + HIDDEN),
    ('invalid input syntax for type integer: "a(b)@x.org"', 'invalid input syntax for type integer: ' + HIDDEN),
    ("Duplicate entry 'a(b)@x.org-1' for key 'uq_customer_email_website'",
     "Duplicate entry " + HIDDEN + " for key 'uq_customer_email_website'"),
    ("Incorrect string value: '\\xF0\\x9F a(b)@x.org' for column `city` at row 1",
     "Incorrect string value: " + HIDDEN + " for column `city` at row 1"),
])
def test_database_messages_keep_the_rule_and_lose_the_values(message, kept):
    hidden = hide_quoted_values(message)
    assert kept in hidden and "a(b)@x.org" not in hidden
