"""Amazon's cancellation data inward, through the real steps into each database: a buyer's open request flags the
order, notes it once and is listed for the alert; Amazon's item-level cancellations set the Commerce items'
qty_canceled and give back those units' reservation exactly once; bad cancellation data is quarantined.
Hand-made orders of the official shape first, then the emulator's buyer over HTTP."""

from __future__ import annotations

import copy
import json

import pytest
from sqlalchemy import select

from amazon_channel.commerce.schema import (
    channel_amazon_order_item,
    channel_amazon_order_note,
    channel_amazon_quarantine,
    sales_order_item,
)
from amazon_channel.settings import parse_settings
from tests.integration.commerce_queries import channel_orders, commerce_orders, reservations
from tests.integration.pipeline_steps import amazon_orders
from tests.integration.test_commerce_money import US, Amazon, later, load
from tests.support import table_checksums

pytestmark = [pytest.mark.emulator]

REQUEST = {"requester": "BUYER", "cancelReason": "Changed mind about purchase"}


@pytest.fixture
def amazon(client):
    return Amazon(client)


def two_item_order(amazon: Amazon) -> dict:
    """An Unshipped merchant order of 2 + 1 units, no cancellation data yet."""
    order = amazon.order(US, [amazon.item(2, "10.00", "20.00"), amazon.item(1, "5.00", "5.00")])
    for item in order["orderItems"]:
        item.pop("cancellation", None)
    return order


def with_cancellation(order: dict, index: int, minutes: int = 30, request: dict | None = None,
                      execution: dict | None = None, unfulfilled: int | None = None, **fulfillment) -> dict:
    """The order as Amazon sends it later, item `index` carrying this CANCELLATION block (and quantityUnfulfilled)."""
    newer = later(order, minutes, **fulfillment)
    item = newer["orderItems"][index]
    item["cancellation"] = {k: v for k, v in (("cancellationRequest", request),
                                              ("cancellationExecution", execution)) if v}
    if unfulfilled is not None:
        item["fulfillment"]["quantityUnfulfilled"] = unfulfilled
    return newer


def notes(engine, amazon_order_id: str) -> list[str]:
    n = channel_amazon_order_note.c
    with engine.connect() as conn:
        return list(conn.execute(select(n.note).where(n.amazon_order_id == amazon_order_id).order_by(n.id)).scalars())


def item_rows(engine, table, key: str, value) -> dict[str, dict]:
    with engine.connect() as conn:
        rows = conn.execute(select(table).where(table.c[key] == value)).mappings().all()
    return {r["order_item_id" if table is channel_amazon_order_item else "ext_order_item_id"]: dict(r) for r in rows}


def test_an_open_buyer_request_flags_the_order_notes_it_once_and_clears_when_amazon_closes_it(steps, amazon):
    order = two_item_order(amazon)
    load(steps, "placed", order)
    requested = with_cancellation(order, 1, request=REQUEST)

    loaded = load(steps, "requested", requested)
    again = load(steps, "requested-again", with_cancellation(order, 1, minutes=45, request=REQUEST))

    oid = order["orderId"]
    channel = channel_orders(steps.engine)[oid]
    assert (channel["cancel_requested"], channel["cancel_request_reason"]) == (True, "Changed mind about purchase")
    item = item_rows(steps.engine, channel_amazon_order_item, "amazon_order_id", oid)[
        requested["orderItems"][1]["orderItemId"]]
    assert (item["cancel_requested_by"], item["cancel_request_reason"], item["cancelled_by"], item["qty_canceled"]
            ) == ("BUYER", "Changed mind about purchase", None, 0)
    expected = ("Buyer asked Amazon to cancel: Changed mind about purchase; packages are held until you cancel the "
                "order in Commerce or release the hold")
    assert notes(steps.engine, oid).count(expected) == 1 and channel["note"] == expected
    assert (loaded["cancel_requests_new"], loaded["cancel_requests_new_count"]) == ([oid], 1)
    assert (again["cancel_requests_new"], again["cancel_requests_new_count"]) == ([], 0)  # alerted once

    load(steps, "withdrawn", later(order, 60))  # Amazon no longer lists the request
    assert channel_orders(steps.engine)[oid]["cancel_requested"] is False
    load(steps, "requested-later", with_cancellation(order, 1, minutes=75, request=REQUEST))
    load(steps, "cancelled", with_cancellation(order, 1, minutes=90, request=REQUEST, fulfillmentStatus="CANCELLED"))
    assert channel_orders(steps.engine)[oid]["cancel_requested"] is False  # a cancelled order has no open request


def test_amazon_cancelling_one_item_sets_qty_canceled_and_releases_its_units_once(steps, amazon):
    order = two_item_order(amazon)
    load(steps, "placed", order)
    oid = order["orderId"]
    assert reservations(steps.engine)[oid] == -3
    cancelled_item = order["orderItems"][0]["orderItemId"]  # 2 units; one cancelled, one left to ship
    partly = with_cancellation(order, 0, request=REQUEST, execution={"cancelledBy": "BUYER", "cancelReason": "x"},
                               unfulfilled=1)

    load(steps, "one-unit-cancelled", partly)
    before = table_checksums(steps.engine)
    load(steps, "rerun", partly)

    assert table_checksums(steps.engine) == before  # exactly once under reruns
    channel = channel_orders(steps.engine)[oid]
    assert (channel["status"], channel["cancel_requested"], channel["items_unshipped"]) == ("Unshipped", False, 2)
    channel_items = item_rows(steps.engine, channel_amazon_order_item, "amazon_order_id", oid)
    assert {k: v["qty_canceled"] for k, v in channel_items.items()} == {cancelled_item: 1,
                                                                       order["orderItems"][1]["orderItemId"]: 0}
    assert channel_items[cancelled_item]["cancelled_by"] == "BUYER"
    sales = commerce_orders(steps.engine)[oid]
    assert sales["state"] == "processing"
    commerce_items = item_rows(steps.engine, sales_order_item, "order_id", sales["entity_id"])
    assert commerce_items[cancelled_item]["qty_canceled"] == 1
    assert reservations(steps.engine)[oid] == -2  # the cancelled unit is back in stock

    # Amazon then cancels the whole order: the rest is released, nothing twice.
    load(steps, "all-cancelled", with_cancellation(partly, 0, minutes=30, request=REQUEST,
                                                   execution={"cancelledBy": "BUYER", "cancelReason": "x"},
                                                   unfulfilled=0, fulfillmentStatus="CANCELLED"))
    assert reservations(steps.engine)[oid] == 0
    assert commerce_orders(steps.engine)[oid]["state"] == "closed"
    assert {k: v["qty_canceled"] for k, v in item_rows(steps.engine, sales_order_item, "order_id",
                                                         sales["entity_id"]).items()} == {
        cancelled_item: 2, order["orderItems"][1]["orderItemId"]: 1}


BAD_CANCELLATIONS = [  # (the first item's cancellation, its fulfillment changes, the reason it is quarantined for)
    ({"cancellationExecution": {"cancelledBy": "SELLER", "cancelReason": "x"}}, {},
     "item cancelled_by: expect_column_values_to_be_in_set (SELLER)"),
    ({"cancellationRequest": {"requester": "AMAZON", "cancelReason": "x"}}, {},
     "item cancel_requested_by: expect_column_values_to_be_in_set (AMAZON)"),
    ({"cancellationRequest": {"cancelReason": "x"}}, {},
     "item cancel_requested_by: expect_column_values_to_be_in_set ((missing))"),
    ({"cancellationExecution": {"cancelledBy": "AMAZON"}}, {"quantityFulfilled": 3, "quantityUnfulfilled": 0},
     "item cancelled_units_within_ordered: expect_column_values_to_be_in_set"),
    ("cancelled", {}, "orderItems[0].cancellation: not an object"),
]


@pytest.mark.parametrize("commerce_url", ["sqlite"], indirect=True)  # validation is the same on every database
def test_cancellation_data_outside_amazons_model_quarantines_the_order(steps, amazon):
    bad = []
    for cancellation, fulfillment, _ in BAD_CANCELLATIONS:
        order = two_item_order(amazon)
        order["orderItems"][0]["cancellation"] = cancellation
        order["orderItems"][0]["fulfillment"].update(fulfillment)
        bad.append(order)
    steps.stage("bad", bad)

    validated, _ = steps.after_extract("bad", parse_settings({"max_bad_share": 1.0}))

    with steps.engine.connect() as conn:
        reasons = {row["amazon_order_id"]: json.loads(row["reasons"])
                   for row in conn.execute(select(channel_amazon_quarantine)).mappings()}
    assert validated["quarantined"] == len(bad)
    for order, (_, _, reason) in zip(bad, BAD_CANCELLATIONS, strict=True):
        assert reasons[order["orderId"]] == [reason]
    assert not set(reasons) & set(channel_orders(steps.engine))


def test_the_emulators_buyer_asks_to_cancel_and_the_next_run_shows_it(steps, emulator, client):
    orders = amazon_orders(client)
    target = next(o for o in orders if o["fulfillment"]["fulfilledBy"] == "MERCHANT"
                  and o["fulfillment"]["fulfillmentStatus"] == "UNSHIPPED"
                  and not any("cancellation" in i for i in o["orderItems"]))
    steps.stage("before", copy.deepcopy(orders))
    steps.after_extract("before")
    oid = target["orderId"]
    assert channel_orders(steps.engine)[oid]["cancel_requested"] is False

    response = emulator.admin.post(f"{emulator.base_url}/_emulator/orders/{oid}/cancellation-request",
                                   json={"reason": "Found a better price"})
    response.raise_for_status()
    steps.stage("after", [client.get_order(oid)])
    _, loaded = steps.after_extract("after")

    channel = channel_orders(steps.engine)[oid]
    assert (channel["cancel_requested"], channel["cancel_request_reason"]) == (True, "Found a better price")
    assert oid in loaded["cancel_requests_new"]
    assert commerce_orders(steps.engine)[oid]["state"] == "processing"


def test_the_orders_view_flags_filters_and_details_cancellations(steps, amazon):
    from amazon_orders_view import parse_grid_query, templates
    from fastapi import HTTPException
    from starlette.datastructures import QueryParams

    from amazon_channel.orders_view import list_orders, order_detail

    plain, requested, partly = two_item_order(amazon), two_item_order(amazon), two_item_order(amazon)
    load(steps, "placed", plain, requested, partly)
    load(steps, "later", with_cancellation(requested, 1, request=REQUEST),
         with_cancellation(partly, 0, execution={"cancelledBy": "AMAZON", "cancelReason": "Out of stock"},
                           unfulfilled=1))

    query = parse_grid_query(QueryParams("cancel_requested=1"))
    with steps.engine.connect() as conn:
        flagged = list_orders(conn, query.filters)["rows"]
        everything = list_orders(conn)["rows"]
        detail = order_detail(conn, partly["orderId"])
        asked = order_detail(conn, requested["orderId"])

    assert [r["amazon_order_id"] for r in flagged] == [requested["orderId"]]
    assert {r["amazon_order_id"]: r["cancel_requested"] for r in everything} == {
        plain["orderId"]: False, requested["orderId"]: True, partly["orderId"]: False}
    assert [i["qty_canceled"] for i in detail["items"]] == [1, 0]
    grid_html = templates.env.get_template("orders.html").render(
        base="", grid={"rows": everything, "total": 3, "page": 1, "pages": 1, "page_size": 50},
        choices={"statuses": [], "marketplaces": []}, sortable=(), page_sizes=(50,), link=lambda **_: "?",
        q=QueryParams(""))
    assert grid_html.count("Cancel requested</span>") == 1
    assert 'title="Changed mind about purchase">Cancel requested' in grid_html
    detail_html = templates.env.get_template("order.html").render(base="", d=detail, commerce_url="")
    assert "Cancelled by AMAZON: Out of stock" in detail_html
    asked_html = templates.env.get_template("order.html").render(base="", d=asked, commerce_url="")
    assert 'id="cancel-request"' in asked_html and "Requested by BUYER: Changed mind about purchase" in asked_html
    with pytest.raises(HTTPException, match="cancel_requested must be 1 or 0"):
        parse_grid_query(QueryParams("cancel_requested=yes"))


@pytest.mark.airflow
@pytest.mark.parametrize("commerce_url", ["sqlite"], indirect=True)
def test_the_dag_alerts_once_when_a_buyer_asks_to_cancel(pipeline_env, receiver, emulator):
    from datetime import UTC, datetime

    from tests.support import run_sync

    now = emulator.get("health")["now"]
    truth = emulator.truth("2026-03-10T09:00:00Z", now)
    target = next(o for o in truth if o["fulfilledBy"] == "MERCHANT" and o["status"] == "UNSHIPPED"
                  and not o["cancelRequestOpen"])
    emulator.admin.post(f"{emulator.base_url}/_emulator/orders/{target['orderId']}/cancellation-request",
                        json={"reason": "Found a better price"}).raise_for_status()
    emulator.advance(7200)  # the request (made at 12:00) lies in the window of the run for [12:00, 13:00)

    first = run_sync(datetime(2026, 3, 10, 13, tzinfo=UTC))
    second = run_sync(datetime(2026, 3, 10, 13, tzinfo=UTC), reprocess_unchanged=True)

    assert first.state == second.state == "success"
    alerts = [r["alert"] for r in receiver if r["alert"]["kind"] == "cancel_request"]
    assert len(alerts) == 1 and target["orderId"] in alerts[0]["cancel_requests_new"]
    assert alerts[0]["task_id"] == "load_orders" and "buyer" not in json.dumps(alerts[0]).lower()
