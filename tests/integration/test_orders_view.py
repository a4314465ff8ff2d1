"""The Amazon Orders view's queries on the three databases, against data the real pipeline loaded."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from fastapi import Request
from markupsafe import escape
from sqlalchemy import select, update

from amazon_channel.commerce.schema import channel_amazon_order, channel_amazon_order_item
from amazon_channel.orders_view import (
    ERASED,
    HIDDEN,
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


# What the buyer-data retention DAG empties on an order (amazon_channel.retention; its own tests cover the erasure)
ERASED_COLUMNS = ("buyer_name", "buyer_email", "ship_name", "ship_street", "ship_city", "ship_phone")
ERASED_AT = datetime(2026, 4, 20, 9, 30, tzinfo=UTC)
OP, VIEWER = "op", "viewer"


@pytest.fixture
def erased_order(engine, loaded):
    """A merchant order with a buyer and an address, erased as the retention DAG does it; restored afterwards, as
    the other tests share the database. Yields its id and its kept postcode."""
    o, i = channel_amazon_order.c, channel_amazon_order_item.c
    with engine.connect() as conn:
        order = conn.execute(select(channel_amazon_order).where(
            o.fulfillment_channel == "MFN", o.buyer_name.is_not(None), o.ship_street.is_not(None),
            o.ship_postcode.is_not(None), o.status.not_in(PENDING_STATUSES),
            o.amazon_order_id.not_in([loaded["shipped"], loaded["rejected"]]),
            select(i.id).where(i.amazon_order_id == o.amazon_order_id).exists())
            .order_by(o.amazon_order_id).limit(1)).mappings().one()
        gift_messages = conn.execute(select(i.id, i.gift_message)
                                     .where(i.amazon_order_id == order["amazon_order_id"])).all()
    mine = o.amazon_order_id == order["amazon_order_id"]
    with engine.begin() as conn:
        conn.execute(update(channel_amazon_order).where(mine)
                     .values(**dict.fromkeys(ERASED_COLUMNS), buyer_data_erased_at=ERASED_AT))
        conn.execute(update(channel_amazon_order_item).where(i.amazon_order_id == order["amazon_order_id"])
                     .values(gift_message=None))
    try:
        yield order["amazon_order_id"], order["ship_postcode"]
    finally:
        with engine.begin() as conn:
            conn.execute(update(channel_amazon_order).where(mine).values(
                **{c: order[c] for c in ERASED_COLUMNS}, buyer_data_erased_at=order["buyer_data_erased_at"]))
            for item_id, message in gift_messages:
                conn.execute(update(channel_amazon_order_item).where(i.id == item_id).values(gift_message=message))


@pytest.fixture
def view(engine, monkeypatch):
    """The Amazon Orders web app on this database, as a user of the role in `get`'s first argument (op sees buyer
    data, viewer does not). Airflow's login and roles themselves are tests/integration/test_ui.py's."""
    import amazon_orders_view
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi.testclient import TestClient

    monkeypatch.setitem(amazon_orders_view.app.dependency_overrides, get_user, user_of_role)
    monkeypatch.setattr(amazon_orders_view, "sees_buyer_data", lambda user: user == OP)
    monkeypatch.setattr(amazon_orders_view, "_connect", engine.connect)
    client = TestClient(amazon_orders_view.app)

    def get(user: str, path: str, **params):
        return client.get(path, params=params, headers={"X-Test-Role": user})

    return get


def user_of_role(request: Request) -> str:
    """The user of `view` (its annotation is resolved at module level: FastAPI injects a Request by its type)."""
    return request.headers["X-Test-Role"]


def buyer_cell(grid_html: str) -> str:
    """The grid's buyer cell, of its one order."""
    (cell,) = re.findall(r'<td class="buyer">(.*?)</td>', grid_html)
    return cell


def buyer_card(detail_html: str) -> str:
    """The order page's buyer and shipping address card."""
    return detail_html.split('id="buyer"', 1)[1].split("<h3>Items</h3>", 1)[0]


def test_an_erased_orders_buyer_data_shows_as_erased_with_its_date(view, erased_order):
    # Arrange
    order, postcode = erased_order

    for user in (OP, VIEWER):
        # Act
        (row,) = view(user, "/api/orders", order_number=order).json()["rows"]
        grid = view(user, "/", order_number=order).text
        detail = view(user, f"/orders/{order}").text

        # Assert
        assert datetime.fromisoformat(row["buyer_data_erased_at"]) == ERASED_AT, user
        assert row["amazon_order_id"] == order and all(row[c] is None for c in ERASED_COLUMNS if c in row), user
        assert ERASED in buyer_cell(grid) and "Buyer data erased on 2026-04-20 09:30 UTC" in buyer_cell(grid), user
        assert ("<b>Buyer data erased</b> on 2026-04-20 09:30 UTC (retention period ended; Amazon Data Protection "
                "Policy)") in detail, user
        assert f'<td class="gift-message"><span class="muted">{ERASED}</span></td>' in detail, user
        card = buyer_card(detail)
        assert (postcode in card) == (user == OP) and (HIDDEN in card) == (user == VIEWER), user  # it is kept


def test_an_order_not_erased_shows_its_buyer_data_as_before(view, engine, loaded, erased_order):
    # Arrange
    order = loaded["shipped"]
    with engine.connect() as conn:
        name = conn.execute(select(channel_amazon_order.c.buyer_name)
                            .where(channel_amazon_order.c.amazon_order_id == order)).scalar_one()

    for user, shown in ((OP, name), (VIEWER, HIDDEN)):
        # Act
        (row,) = view(user, "/api/orders", order_number=order).json()["rows"]
        grid = view(user, "/", order_number=order).text
        detail = view(user, f"/orders/{order}").text

        # Assert
        assert row["buyer_data_erased_at"] is None and row["buyer_name"] == shown, user
        assert buyer_cell(grid) == escape(shown), user
        assert "buyer-data-erased" not in detail and ERASED not in grid + detail, user
        assert escape(shown) in buyer_card(detail) and (escape(name) in grid + detail) == (user == OP), user


def test_searching_or_sorting_by_buyer_data_is_for_roles_that_see_it(view):
    for params in ({"buyer_name": "an"}, {"sort": "buyer_name"}):
        for path in ("/", "/api/orders"):
            # Act
            refused, allowed = view(VIEWER, path, **params), view(OP, path, **params)

            # Assert
            assert refused.status_code == 403 and refused.json()["detail"].startswith("buyer_name: "), params
            assert allowed.status_code == 200, params
