"""Amazon's CANCELLATION block, decoded (typed and tolerant paths alike), checked and transformed: who asked, who
cancelled, the units cancelled, and the order's open buyer request."""

from __future__ import annotations

import copy

import msgspec
import pandas as pd
import pytest

from amazon_channel.frames import batches_from_pages
from amazon_channel.transform import transform
from amazon_channel.validate import MISSING, cancellation_checks

pytestmark = pytest.mark.unit

REQUEST = {"requester": "BUYER", "cancelReason": "Ordered by mistake"}
EXECUTION = {"cancelledBy": "AMAZON", "cancelReason": "Not shipped by the ship-by date"}


def item(item_id: str, ordered: int, fulfilled: int = 0, unfulfilled: int | None = None, **cancellation) -> dict:
    entry = {"orderItemId": item_id, "quantityOrdered": ordered, "product": {"sellerSku": f"SKU-{item_id}"},
             "fulfillment": {"quantityFulfilled": fulfilled,
                             "quantityUnfulfilled": ordered - fulfilled if unfulfilled is None else unfulfilled}}
    if cancellation:
        entry["cancellation"] = cancellation
    return entry


def order(order_id: str, *items: dict, status: str = "UNSHIPPED") -> dict:
    return {"orderId": order_id, "createdTime": "2026-03-01T10:00:00Z", "lastUpdatedTime": "2026-03-01T12:00:00Z",
            "salesChannel": {"marketplaceId": "ATVPDKIKX0DER"},
            "fulfillment": {"fulfillmentStatus": status, "fulfilledBy": "MERCHANT"}, "orderItems": list(items)}


ORDERS = [
    order("111-0000001-0000001", item("1", 2), item("2", 1, cancellationRequest=REQUEST)),  # open request
    order("111-0000002-0000002", item("3", 3, unfulfilled=1, cancellationRequest=REQUEST,
                                      cancellationExecution={"cancelledBy": "BUYER", "cancelReason": "x"}),
          item("4", 1)),  # 2 of 3 units cancelled at the buyer's request, the rest to ship
    order("111-0000003-0000003", item("5", 2, unfulfilled=0, cancellationExecution=EXECUTION),
          item("6", 1, unfulfilled=0, cancellationRequest=REQUEST), status="CANCELLED"),  # cancelled whole
    order("111-0000004-0000004", item("7", 1)),  # no cancellation at all
]


def decoded(orders: list, tolerant: bool = False):
    page = {"orders": [*orders, "forces the tolerant path"] if tolerant else orders}
    return next(batches_from_pages([msgspec.json.encode(page)], size=100))


def test_the_block_reads_the_same_on_the_typed_and_the_tolerant_path():
    fast, slow = decoded(ORDERS), decoded(ORDERS, tolerant=True)

    pd.testing.assert_frame_equal(fast.items, slow.items)
    assert fast.problems == {}
    columns = ["cancel_requested_by", "cancel_request_reason", "cancelled_by", "cancel_reason", "quantity_unfulfilled"]
    assert fast.items.loc[2, columns].tolist() == ["BUYER", "Ordered by mistake", "BUYER", "x", 1]
    assert fast.items.loc[4, columns].tolist() == [None, None, "AMAZON", "Not shipped by the ship-by date", 0]
    assert fast.items.loc[0, columns].tolist() == [None, None, None, None, 2]


@pytest.mark.parametrize(("cancellation", "problem"), [
    ("cancelled", "orderItems[0].cancellation: not an object"),
    ({"cancellationRequest": ["BUYER"]}, "orderItems[0].cancellation.cancellationRequest: not an object"),
    ({"cancellationExecution": 1}, "orderItems[0].cancellation.cancellationExecution: not an object"),
])
def test_a_block_that_is_not_an_object_makes_its_order_malformed_not_uncancelled(cancellation, problem):
    bad = copy.deepcopy(ORDERS[3])
    bad["orderItems"][0]["cancellation"] = cancellation

    batch = decoded([ORDERS[0], bad])

    assert batch.problems == {1: [problem]}


def test_a_null_block_reads_as_none():
    quiet = copy.deepcopy(ORDERS[3])
    quiet["orderItems"][0]["cancellation"] = None

    batch = decoded([quiet])

    assert batch.problems == {} and batch.items.loc[0, "cancelled_by"] is None


def checks(**columns) -> dict:
    frame = pd.DataFrame({"quantity": [2], "quantity_shipped": [0], "quantity_unfulfilled": [None],
                          "cancel_requested_by": [None], "cancel_request_reason": [None], "cancelled_by": [None],
                          "cancel_reason": [None], **{k: [v] for k, v in columns.items()}}, dtype=object)
    return cancellation_checks(frame).iloc[0].to_dict()


@pytest.mark.parametrize(("columns", "expected"), [
    ({}, {"cancel_requested_by": None, "cancelled_by": None, "cancelled_units_within_ordered": True}),
    ({"cancel_requested_by": "BUYER"}, {"cancel_requested_by": "BUYER"}),
    ({"cancel_request_reason": "why"}, {"cancel_requested_by": MISSING}),  # a request must name its requester
    ({"cancel_reason": "why"}, {"cancelled_by": MISSING}),
    ({"cancelled_by": "AMAZON", "quantity_unfulfilled": 0}, {"cancelled_units_within_ordered": True}),
    ({"cancelled_by": "AMAZON", "quantity_shipped": 3, "quantity_unfulfilled": 0},
     {"cancelled_units_within_ordered": False}),  # -1 units cancelled
    ({"cancelled_by": "AMAZON", "quantity_unfulfilled": 1.5}, {"cancelled_units_within_ordered": False}),
    ({"cancelled_by": "AMAZON", "quantity_unfulfilled": True}, {"cancelled_units_within_ordered": False}),
    ({"quantity_shipped": 5}, {"cancelled_units_within_ordered": True}),  # no execution: not this rule's business
])
def test_cancellation_checks(columns, expected):
    got = checks(**columns)

    assert {k: got[k] for k in expected} == expected


def test_transform_counts_cancelled_units_and_flags_open_requests():
    batch = decoded(ORDERS)

    orders, items = transform(*batch.rows(list(range(len(ORDERS)))))

    by_order = orders.set_index("amazon_order_id")
    assert by_order["cancel_requested"].tolist() == [True, False, False, False]
    assert by_order["cancel_request_reason"].iloc[0] == "Ordered by mistake"
    assert by_order["cancel_request_reason"].iloc[1:].isna().all()
    assert by_order["items_unshipped"].tolist() == [3, 2, 0, 1]  # cancelled units are not awaiting shipment
    assert items.set_index("order_item_id")["qty_canceled"].to_dict() == {
        "1": 0, "2": 0, "3": 2, "4": 0, "5": 2, "6": 1, "7": 0}
    assert items.set_index("order_item_id").loc["5", ["cancelled_by", "cancel_reason"]].tolist() == [
        "AMAZON", "Not shipped by the ship-by date"]
