"""Decoding staged pages into flat frames: the typed fast path and the tolerant path agree, nothing is lost.
(Money in detail: test_money_frames.py.)"""

from __future__ import annotations

import msgspec
import pandas as pd
import pytest

from amazon_channel.emulator.order_json import INCLUDED_DATA
from amazon_channel.emulator.world import World
from amazon_channel.frames import batch_from_orders, batches_from_pages
from tests.unit.test_money_frames import us_example
from tests.unit.test_money_transform import transformed

pytestmark = pytest.mark.unit
START, END = 1_767_225_600, 1_767_225_600 + 5 * 86_400  # 2026-01-01 .. 01-06 UTC


def sample_orders(n: int) -> list[dict]:
    world = World(11, n, START, END)
    return [world.order_json(i, END, set(INCLUDED_DATA)) for i in range(n)]


def test_a_page_reads_the_same_on_the_typed_and_the_tolerant_path():
    # Arrange: the same orders, once on a clean page and once beside an order that forces the tolerant path
    orders = sample_orders(40)
    clean = msgspec.json.encode({"orders": orders})
    mixed = msgspec.json.encode({"orders": [*orders, "not an order"]})

    # Act
    fast = next(batches_from_pages([clean], size=1000))
    tolerant = next(batches_from_pages([mixed], size=1000))

    # Assert
    pd.testing.assert_frame_equal(fast.orders, tolerant.orders.iloc[:40])
    pd.testing.assert_frame_equal(fast.items, tolerant.items)
    fast_proceeds, tolerant_proceeds = fast.proceeds(list(range(40))), tolerant.proceeds(list(range(40)))
    pd.testing.assert_frame_equal(fast_proceeds.items, tolerant_proceeds.items)
    pd.testing.assert_frame_equal(fast_proceeds.orders, tolerant_proceeds.orders)
    for fast_frame, tolerant_frame in zip(fast.rows(list(range(40))), tolerant.rows(list(range(40))), strict=True):
        pd.testing.assert_frame_equal(fast_frame, tolerant_frame)
    assert fast.problems == {} and tolerant.problems == {40: ["order: not a JSON object"]}
    assert fast.orders["order_id"].tolist() == [o["orderId"] for o in orders]
    assert len(fast_proceeds.items) > 40 and fast_proceeds.items["e4"].notna().all()  # the emulator's orders are priced


def test_pages_batch_by_size_and_each_order_keeps_its_raw_json():
    orders = sample_orders(30)
    pages = [msgspec.json.encode({"orders": orders[i:i + 10]}) for i in range(0, 30, 10)]

    batches = list(batches_from_pages(pages, size=20))

    assert [len(b) for b in batches] == [20, 10]
    assert batches[0].raw(13) == orders[13] and batches[1].raw(9) == orders[29]
    assert batches[0].items["order_pos"].max() < 20  # items point at their order within the batch
    assert batches[0].quarantine_keys() == [o["orderId"] for o in orders[:20]]


@pytest.mark.parametrize(("order", "problem"), [
    ({"orderId": "1"}, "orderItems: not a list of objects"),
    ({"orderId": "1", "orderItems": "x"}, "orderItems: not a list of objects"),
    ({"orderId": "1", "orderItems": [None]}, "orderItems: not a list of objects"),
    ([], "order: not a JSON object"),
])
def test_broken_structure_is_reported_not_raised(order, problem):
    batch = batch_from_orders([order])

    assert batch.problems == {0: [problem]}
    assert batch.quarantine_keys()[0].startswith("sha256:")  # no usable order id: keyed by its content


def test_the_delivery_promise_is_read_for_merchant_and_fba_orders_and_parsed_to_utc():
    # Arrange: the emulator's orders, and one whose promise Amazon wrote with an offset
    orders = sample_orders(40)
    offset = us_example()
    offset["fulfillment"]["deliverByWindow"] = {"earliestDateTime": "2026-03-12T09:00:00+02:00",
                                                "latestDateTime": "2026-03-14T14:00:00+02:00"}

    # Act
    channel, _ = transformed(*orders, offset)

    # Assert
    assert str(channel["deliver_by"].dt.tz) == "UTC"
    assert channel.loc[offset["orderId"], "deliver_by"] == pd.Timestamp("2026-03-14T12:00:00Z")
    assert {o["fulfillment"]["fulfilledBy"] for o in orders} == {"MERCHANT", "AMAZON"}
    for order in orders:
        row = channel.loc[order["orderId"]]
        assert row["deliver_by"] == pd.Timestamp(order["fulfillment"]["deliverByWindow"]["latestDateTime"])
        if order["fulfillment"]["fulfilledBy"] == "MERCHANT":
            assert row["deliver_by"] > row["latest_ship_date"]  # the promise is after the ship-by date
