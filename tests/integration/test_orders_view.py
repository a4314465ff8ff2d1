"""The Amazon Orders view's queries on the three databases, against data the real pipeline loaded."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from amazon_channel.orders_view import (
    OrderFilter,
    blocked_orders,
    filter_choices,
    list_orders,
    order_detail,
    quarantine_count,
    sync_health,
)
from amazon_channel.rules import PENDING_STATUSES
from tests.integration.commerce_queries import channel_orders
from tests.integration.pipeline_steps import Steps
from tests.integration.ui_data import BLOCKED_SKU, HOURS, populate
from tests.support import DIALECTS, empty_commerce_db, emulator_client

pytestmark = [pytest.mark.emulator]


@pytest.fixture(scope="module", params=DIALECTS)
def view_db(request, emulator_process, tmp_path_factory):
    """A Commerce DB per dialect that the real pipeline steps filled once: (engine, what populate made). The tests
    here only read it."""
    from amazon_channel.commerce.db import commerce_engine
    from amazon_channel.staging import Staging

    folder = tmp_path_factory.mktemp("orders_view")
    engine = commerce_engine(empty_commerce_db(request, request.param, folder))
    emulator_process.reset()
    loaded = populate(Steps(engine, Staging(f"file://{folder}/staging"), emulator_client(emulator_process)),
                      emulator_process)
    emulator_process.reset()
    yield engine, loaded
    engine.dispose()


@pytest.fixture
def engine(view_db):
    return view_db[0]


@pytest.fixture
def loaded(view_db):
    return view_db[1]


def all_rows(conn, f=None, sort="purchase_date", descending=True):
    f = f or OrderFilter()
    first = list_orders(conn, f, sort, descending, page=1, page_size=200)
    rows = list(first["rows"])
    for page in range(2, first["pages"] + 1):
        rows += list_orders(conn, f, sort, descending, page=page, page_size=200)["rows"]
    assert len(rows) == first["total"]
    return rows


def test_grid_lists_every_non_pending_order_once_with_its_commerce_order(engine, loaded):
    channel = channel_orders(engine)
    with engine.connect() as conn:
        rows = all_rows(conn)
    ids = [r["amazon_order_id"] for r in rows]
    assert len(ids) == len(set(ids))
    assert set(ids) == {k for k, o in channel.items() if o["status"] not in PENDING_STATUSES}
    assert any(o["status"] in PENDING_STATUSES for o in channel.values())  # there were some to hide
    for row in rows:
        due = row["status"] in ("Unshipped", "PartiallyShipped", "Shipped", "Error")
        if due and BLOCKED_SKU not in (row["note"] or ""):
            assert row["sales_order_increment_id"], (row["note"], row["fulfillment_channel"])
    assert [r["purchase_date"] for r in rows] == sorted((r["purchase_date"] for r in rows), reverse=True)


def test_filters_paging_and_sorting_happen_in_the_database(engine, loaded):
    channel = [o for o in channel_orders(engine).values() if o["status"] not in PENDING_STATUSES]
    with engine.connect() as conn:
        by_total = all_rows(conn, sort="grand_total", descending=False)
        totals = [r["grand_total"] for r in by_total if r["grand_total"] is not None]
        assert totals == sorted(totals) and isinstance(totals[0], Decimal)  # numeric, not text, order

        low, high = Decimal("20.00"), Decimal("60.00")
        in_range = all_rows(conn, OrderFilter(total_min=low, total_max=high))
        assert {r["amazon_order_id"] for r in in_range} == {
            o["amazon_order_id"] for o in channel if o["grand_total"] is not None and low <= o["grand_total"] <= high}

        sample = next(o for o in channel if o["buyer_name"] and len(o["buyer_name"]) > 4)
        part = sample["buyer_name"][1:4].lower()
        named = all_rows(conn, OrderFilter(buyer_name=part))
        assert sample["amazon_order_id"] in {r["amazon_order_id"] for r in named}
        assert all(part in r["buyer_name"].lower() for r in named)

        number = list_orders(conn, OrderFilter(order_number=sample["amazon_order_id"][4:12]))
        assert sample["amazon_order_id"] in {r["amazon_order_id"] for r in number["rows"]}
        if sample["sales_order_increment_id"]:
            by_commerce = list_orders(conn, OrderFilter(order_number=sample["sales_order_increment_id"]))
            assert by_commerce["rows"][0]["amazon_order_id"] == sample["amazon_order_id"]
        assert list_orders(conn, OrderFilter(order_number="%"))["total"] == 0  # LIKE wildcards are escaped

        choices = filter_choices(conn)
        assert choices["accounts"] == ["default"]  # no accounts file: every row is the single account's
        assert list_orders(conn, OrderFilter(account_id="default"))["total"] == len(channel)
        assert list_orders(conn, OrderFilter(account_id="eu"))["total"] == 0
        assert not set(choices["statuses"]) & set(PENDING_STATUSES)
        marketplace = choices["marketplaces"][0]
        shipped = all_rows(conn, OrderFilter(status="Unshipped", marketplace_id=marketplace))
        assert shipped and {(r["status"], r["marketplace_id"]) for r in shipped} == {("Unshipped", marketplace)}
        assert "Error" in choices["statuses"]  # the rejected tracking number
        assert [r["amazon_order_id"] for r in all_rows(conn, OrderFilter(status="Error"))] == [loaded["rejected"]]
        assert loaded["rejected"] not in {r["amazon_order_id"] for r in all_rows(conn, OrderFilter(status="Unshipped"))}

        day = min(o["purchase_date"] for o in channel).date()
        dated = all_rows(conn, OrderFilter(purchased_from=day, purchased_to=day))
        assert {r["amazon_order_id"] for r in dated} == {o["amazon_order_id"] for o in channel
                                                         if o["purchase_date"].date() == day}

        first, second = (list_orders(conn, page=p, page_size=25)["rows"] for p in (1, 2))
        assert len(first) == 25 and not {r["amazon_order_id"] for r in first} & {r["amazon_order_id"] for r in second}
        with pytest.raises(ValueError, match="cannot sort"):
            list_orders(conn, sort="buyer_email")


def test_order_detail_shows_items_shipments_packages_and_note_history(engine, loaded):
    with engine.connect() as conn:
        shipped = order_detail(conn, loaded["shipped"])
        rejected = order_detail(conn, loaded["rejected"])
        assert order_detail(conn, "000-0000000-0000000") is None
    assert shipped["items"] and shipped["commerce_order"]["increment_id"]
    assert shipped["shipments"][0]["tracks"][0]["track_number"] == "1Z999AA10123456784"
    assert shipped["packages"][0]["state"] == "sent"
    assert [n["note"] for n in shipped["notes"]][-1].startswith("Commerce order #")
    package = rejected["packages"][0]
    assert package["state"] == "failed" and "tracking number is invalid" in package["last_error"]
    assert package["amazon_request_id"]
    notes = [n["note"] for n in rejected["notes"]]  # newest first
    assert notes[0].startswith("Tracking bad tracking! rejected by Amazon") and notes[-1].startswith("Commerce order #")


def test_blocked_orders_and_sync_health(engine, loaded):
    with engine.connect() as conn:
        blocked = blocked_orders(conn)
        health = sync_health(conn, now=loaded["window_end"] + timedelta(minutes=30))
        quarantined = quarantine_count(conn)
    assert blocked and all(b["note"] == f"Cannot create order: product {BLOCKED_SKU} is disabled" for b in blocked)
    channel = channel_orders(engine)
    assert {(h["account_id"], h["marketplace_id"]) for h in health} == {
        ("default", o["marketplace_id"]) for o in channel.values()}
    for h in health:
        assert h["last_window_end"] == loaded["window_end"] and h["lag_minutes"] == 30
        ends = [r["window_end"] for r in h["recent_runs"]]  # from the run that first saw the marketplace on
        assert ends == [loaded["window_end"] - timedelta(hours=n) for n in range(len(ends) - 1, -1, -1)]
        created = sum(1 for o in channel.values() if o["marketplace_id"] == h["marketplace_id"] and o["sales_order_id"])
        assert h["created_recent"] == created
    assert max(len(h["recent_runs"]) for h in health) == HOURS
    assert sum(h["push_failed"] for h in health) == 1 and sum(h["push_confirmed"] for h in health) == 1
    assert quarantined == 0
