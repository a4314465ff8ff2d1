"""amazon_orders_sync end to end (dag.test with real intervals) against the emulator, on all three databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import delete, text, update

from amazon_channel.commerce.schema import catalog_product
from tests.integration.commerce_queries import (
    channel_orders,
    commerce_orders,
    imported,
    reservations,
    should_have_commerce_order,
)
from tests.support import run_sync, set_order_settings, table_checksums

pytestmark = [pytest.mark.airflow, pytest.mark.emulator]
W1 = datetime(2026, 3, 9, 10, tzinfo=UTC)  # the run for [09:00, 10:00): extracts [08:45, 10:00]
W2 = datetime(2026, 3, 9, 11, tzinfo=UTC)  # the next one: [09:45, 11:00], overlapping W1


def test_interval_run_imports_by_the_rules_and_reruns_change_nothing(pipeline_env, emulator, commerce):
    assert run_sync(W1).state == "success"
    truth = {o["orderId"]: o for o in emulator.truth("2026-03-09T08:45:00Z", "2026-03-09T10:00:00Z")}
    channel, sales = channel_orders(commerce), commerce_orders(commerce)
    assert set(channel) == {k for k, v in truth.items() if imported(v)} and len(truth) > 15
    assert any(not imported(v) for v in truth.values())  # FBA orders Amazon has not shipped yet stay out
    expected_states = {}
    for order_id, order in truth.items():
        state = should_have_commerce_order(order["status"], order["fulfilledBy"])
        if state:
            expected_states[order_id] = state
    assert {k: v["state"] for k, v in sales.items()} == expected_states
    assert {"processing", "complete"} <= set(expected_states.values())
    # Merchant orders hold stock; FBA orders never touch it.
    held = reservations(commerce)
    for order_id, order in truth.items():
        if order["fulfilledBy"] == "AMAZON":
            assert order_id not in held
        elif expected_states.get(order_id) == "processing":
            assert held[order_id] < 0
    # Money is exact, and the channel row links its Commerce order.
    for order_id in list(expected_states)[:5]:
        amazon = emulator.get(f"orders/{order_id}")["order"]
        assert sales[order_id]["grand_total"] == Decimal(amazon["proceeds"]["grandTotal"]["amount"])
        assert sales[order_id]["order_currency_code"] == amazon["proceeds"]["grandTotal"]["currencyCode"]
        assert channel[order_id]["sales_order_increment_id"] == sales[order_id]["increment_id"]
        assert sales[order_id]["send_email"] is False or sales[order_id]["send_email"] == 0

    first = table_checksums(commerce)
    assert run_sync(W1).state == "success"  # the same window again
    assert table_checksums(commerce) == first
    assert run_sync(W2).state == "success"  # the next, overlapping window
    after_both = table_checksums(commerce)
    assert run_sync(W1).state == "success"  # an older window once more, after a newer one
    assert table_checksums(commerce) == after_both
    assert len(commerce_orders(commerce)) > len(sales)


def test_pending_orders_wait_then_become_commerce_orders_and_cancellations_follow(pipeline_env, emulator, commerce):
    emulator.advance(300)  # emulator time 12:05: orders placed since about 11:20 still await verification
    assert run_sync(W1, window_start="2026-03-10T06:00:00Z", window_end="2026-03-10T12:00:00Z").state == "success"
    channel, sales = channel_orders(commerce), commerce_orders(commerce)
    pending = [k for k, v in channel.items() if v["status"] in ("Pending", "PendingAvailability")
               and v["fulfillment_channel"] == "MFN"]
    assert pending and not set(pending) & set(sales)
    processing = [k for k, v in sales.items() if v["state"] == "processing"]
    assert processing

    now = emulator.advance(13 * 3600)
    end = datetime.fromisoformat(now.replace("Z", "+00:00")).replace(minute=0, second=0)
    assert run_sync(W1, window_start="2026-03-10T11:55:00Z", window_end=end.isoformat()).state == "success"
    channel, sales = channel_orders(commerce), commerce_orders(commerce)
    became_orders = 0
    for order_id in pending:
        truth = emulator.get(f"orders/{order_id}")
        state = should_have_commerce_order(truth["status"], truth["fulfilledBy"])
        assert (sales.get(order_id) or {}).get("state") == state
        became_orders += state is not None
    assert became_orders >= 1
    canceled = [k for k in processing if emulator.get(f"orders/{k}")["status"] == "CANCELLED"]
    assert canceled, "the seeded world cancels some verified merchant orders"
    held = reservations(commerce)
    for order_id in canceled:
        # Invoiced at import (Amazon orders are paid), so Amazon's cancellation refunds by credit memo: closed.
        assert sales[order_id]["state"] == "closed" and channel[order_id]["status"] == "Canceled"
        assert sales[order_id]["total_refunded"] == sales[order_id]["grand_total"]
        assert held[order_id] == 0  # the reservation was released
        assert "Canceled by Amazon" in channel[order_id]["note"]


def test_blocked_orders_are_kept_with_a_reason_and_created_once_fixed(pipeline_env, emulator, commerce):
    with commerce.begin() as conn:
        conn.execute(update(catalog_product).where(catalog_product.c.sku == "SKU-0001").values(enabled=False))
        conn.execute(update(catalog_product).where(catalog_product.c.sku == "SKU-0002").values(qty=0))
        conn.execute(delete(catalog_product).where(catalog_product.c.sku == "SKU-0003"))
    assert run_sync(W1).state == "success"
    channel, sales = channel_orders(commerce), commerce_orders(commerce)
    with commerce.connect() as conn:
        from sqlalchemy import select

        from amazon_channel.commerce.schema import channel_amazon_order_item as items

        skus: dict[str, set] = {}
        for order_id, sku in conn.execute(select(items.c.amazon_order_id, items.c.sku)):
            skus.setdefault(order_id, set()).add(sku)
    blocked = {k: v for k, v in channel.items() if v["note"] and v["note"].startswith("Cannot create order")}
    assert blocked and not set(blocked) & set(sales)
    for order_id, row in blocked.items():
        assert any(s in row["note"] for s in ("SKU-0001 is disabled", "SKU-0002 is out of stock",
                                              "SKU SKU-0003 not in catalog"))
        assert skus[order_id] & {"SKU-0001", "SKU-0002", "SKU-0003"}
    fba_out_of_stock = [k for k, v in channel.items() if v["fulfillment_channel"] == "AFN" and v["status"] == "Shipped"
                        and skus[k] & {"SKU-0001", "SKU-0002", "SKU-0003"} == {"SKU-0002"}]
    assert all(k in sales for k in fba_out_of_stock)  # FBA never checks Commerce stock

    with commerce.begin() as conn:
        conn.execute(update(catalog_product).values(enabled=True, qty=100_000))
        conn.execute(catalog_product.insert().values(sku="SKU-0003", name="Restored", enabled=True, qty=100_000,
                                                     manage_stock=True))
    assert run_sync(W2).state == "success"
    sales = commerce_orders(commerce)
    assert set(blocked) <= set(sales)
    channel = channel_orders(commerce)
    # Each says its Commerce order was created, unless its buyer has since asked Amazon to cancel: that note is newer.
    assert all(channel[k]["note"].startswith("Commerce order #")
               or (channel[k]["cancel_requested"] and channel[k]["note"].startswith("Buyer asked Amazon to cancel"))
               for k in blocked)


@pytest.mark.parametrize("commerce_url", ["postgresql"], indirect=True)  # the server that counts its sessions
def test_a_run_leaves_no_connection_to_the_commerce_database_open(pipeline_env, emulator, commerce):
    # dag.test runs every task in this process, as a long-lived worker process would: each task's connections must
    # close when its work is done (left to the garbage collector, a few DAG tests held most of PostgreSQL's 100).
    assert run_sync(W1).state == "success"

    commerce.dispose()  # the test's own engine: only the session counting remains
    with commerce.connect() as conn:
        others = conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                   "AND pid <> pg_backend_pid()")).scalar_one()
    assert others == 0


@pytest.mark.parametrize("commerce_url", ["sqlite"], indirect=True)  # they fail to parse before any database work
def test_broken_settings_fail_the_run_before_any_extraction(pipeline_env, emulator, commerce):
    set_order_settings(pipeline_env, {"default": {"customer_mode": "sometimes"}})
    run = run_sync(W1)
    assert run.state == "failed"
    assert emulator.get("stats")["operations"]["searchOrders"]["requests"] == 0
    assert channel_orders(commerce) == {}


def test_merchant_lifecycle_from_amazon_to_commerce_and_back(pipeline_env, emulator, commerce):
    """Pending (channel only) -> Unshipped (Commerce order) -> shipped in Commerce -> confirmShipment ->
    Amazon Shipped -> Commerce complete; the next run brings Amazon's Shipped to the channel order and confirms
    the package: all through DAG runs."""
    from amazon_channel.commerce.shipments import create_shipment

    emulator.advance(300)
    assert run_sync(W1, window_start="2026-03-10T06:00:00Z", window_end="2026-03-10T12:00:00Z").state == "success"
    pending = [k for k, v in channel_orders(commerce).items()
               if v["status"] == "Pending" and v["fulfillment_channel"] == "MFN"]
    assert pending and not set(pending) & set(commerce_orders(commerce))

    def emulator_now():
        return datetime.fromisoformat(emulator.get("health")["now"].replace("Z", "+00:00"))

    emulator.advance(2 * 3600)
    end = emulator_now().replace(second=0) - timedelta(minutes=3)
    assert run_sync(W1, window_start="2026-03-10T11:55:00Z", window_end=end.isoformat()).state == "success"
    sales = commerce_orders(commerce)
    channel = channel_orders(commerce)
    order_id = next(k for k in pending if k in sales and not channel[k]["cancel_requested"])  # else it is held
    assert sales[order_id]["state"] == "processing" and channel_orders(commerce)[order_id]["status"] == "Unshipped"

    create_shipment(commerce, order_id, "ups", "1Z999AA10123456784", now=emulator_now())
    shipped_at = emulator_now()
    # The next run pushes the tracking number (its window brings nothing new).
    assert run_sync(W1, window_start=(end - timedelta(minutes=1)).isoformat(),
                    window_end=end.isoformat()).state == "success"
    truth = emulator.get(f"orders/{order_id}")
    assert truth["status"] == "SHIPPED" and len(truth["packages"]) == 1
    assert len([n for n in emulator.get("notifications")["notifications"] if n["orderId"] == order_id]) == 1
    assert commerce_orders(commerce)[order_id]["state"] == "complete"
    assert channel_orders(commerce)[order_id]["status"] == "Unshipped"  # Amazon's word, as last extracted

    emulator.advance(300)
    end = emulator_now().replace(second=0) - timedelta(minutes=3)
    assert run_sync(W1, window_start=(shipped_at - timedelta(minutes=5)).isoformat(),
                    window_end=end.isoformat()).state == "success"
    from sqlalchemy import select

    from amazon_channel.commerce.schema import channel_amazon_package

    with commerce.connect() as conn:
        states = conn.execute(select(channel_amazon_package.c.state).where(
            channel_amazon_package.c.amazon_order_id == order_id)).scalars().all()
    assert states == ["confirmed"]  # Amazon's own data now lists our package
    assert channel_orders(commerce)[order_id]["status"] == "Shipped"
