"""Cancel from Commerce: the `cancel` command and staff cancellations reach Amazon through the order-acknowledgement
feed of the emulator's Feeds API, exactly once, on all three databases."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select, update

from amazon_channel.cancellation import push_cancellations
from amazon_channel.commerce.schema import (
    channel_amazon_cancellation,
    channel_amazon_order_item,
    channel_amazon_package,
    sales_creditmemo,
    sales_order,
)
from amazon_channel.commerce.shipments import create_shipment
from amazon_channel.orders_view import order_detail
from amazon_channel.shipping import carrier_mapping, push_tracking, reconcile_shipments
from amazon_channel.spapi import SpApiError
from amazon_channel.tools.cancel import main as cancel
from tests.integration.commerce_queries import channel_orders, commerce_orders, reservations
from tests.integration.pipeline_steps import amazon_orders
from tests.support import ROOT

pytestmark = [pytest.mark.emulator]
FAST = 0.2  # the emulator's feed processing time (real seconds) where the test is not about waiting
W1 = datetime(2026, 3, 9, 10, tzinfo=UTC)


def unshipped_orders(steps, client) -> list[dict]:
    """Import a batch; its processing Commerce orders of Unshipped merchant orders, with their channel items."""
    steps.stage("import", amazon_orders(client))
    steps.after_extract("import")
    channel = channel_orders(steps.engine)
    orders = [o for o in commerce_orders(steps.engine).values() if o["state"] == "processing"
              and channel[o["ext_order_id"]]["status"] == "Unshipped"
              and channel[o["ext_order_id"]]["fulfillment_channel"] == "MFN"]
    i = channel_amazon_order_item.c
    with steps.engine.connect() as conn:
        for order in orders:
            order["items"] = conn.execute(select(i.order_item_id, i.qty_ordered).where(
                i.amazon_order_id == order["ext_order_id"]).order_by(i.order_item_id)).all()
    assert len(orders) >= 3
    return orders


def push(steps, client, **options) -> dict:
    return push_cancellations(steps.engine, client, **{"time_budget": 30, "poll_first": 0.1, **options})


def outbox(engine) -> dict[str, dict]:
    with engine.connect() as conn:
        return {r["amazon_order_id"]: dict(r) for r in conn.execute(select(channel_amazon_cancellation)).mappings()}


def packages(engine, amazon_order_id: str) -> list[dict]:
    p = channel_amazon_package.c
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(channel_amazon_package).where(
            p.amazon_order_id == amazon_order_id).order_by(p.id)).mappings()]


def sent_to_amazon(emulator, amazon_order_id=None) -> list[dict]:
    return [c for c in emulator.get("cancellations")["cancellations"]
            if amazon_order_id is None or c["orderId"] == amazon_order_id]


def ship_at_amazon(client, emulator, order: dict) -> None:
    """The seller ships the whole order some other way (Seller Central): Amazon says SHIPPED, Commerce knows nothing."""
    truth = emulator.get(f"orders/{order['ext_order_id']}")
    now = datetime.fromisoformat(emulator.get("health")["now"].replace("Z", "+00:00"))
    client.confirm_shipment(order["ext_order_id"], truth["marketplaceId"], {
        "packageReferenceId": "1", "carrierCode": "UPS", "trackingNumber": "1Z999AA10123456784",
        "shipDate": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "orderItems": [{"orderItemId": item_id, "quantity": qty} for item_id, qty in order["items"]]})
    assert emulator.get(f"orders/{order['ext_order_id']}")["status"] == "SHIPPED"


def next_run_imports(steps, emulator, run_id: str) -> None:
    """A later DAG run's import: the emulator's clock moves on and the changed orders are loaded."""
    now = datetime.fromisoformat(emulator.advance(180).replace("Z", "+00:00"))
    end = now - timedelta(minutes=2)
    steps.extract(run_id, end - timedelta(minutes=10), end)
    steps.after_extract(run_id)


def set_commerce_state(engine, amazon_order_id: str, state: str) -> None:
    """Staff or an ERP change the order in Commerce directly."""
    with engine.begin() as conn:
        conn.execute(update(sales_order).where(sales_order.c.ext_order_id == amazon_order_id)
                     .values(state=state, status=state))


def test_a_cancel_command_reaches_amazon_once_and_closes_the_commerce_order(steps, client, emulator, commerce_url):
    # Arrange
    emulator.configure(feed_processing_seconds=FAST)
    order = unshipped_orders(steps, client)[0]
    amazon_id = order["ext_order_id"]
    assert reservations(steps.engine)[amazon_id] < 0

    # Act
    code = cancel([order["increment_id"], "--reason", "NoInventory", "--db", commerce_url])
    queued = outbox(steps.engine)[amazon_id]
    summary = push(steps, client)

    # Assert
    assert code == 0 and queued["state"] == "pending" and queued["reason"] == "NoInventory"
    assert [item["orderItemId"] for item in json.loads(queued["items"])] == [i for i, _ in order["items"]]
    assert summary == {"feeds_created": 1, "sent": 1, "accepted": 1, "problems": []}
    assert emulator.get(f"orders/{amazon_id}")["status"] == "CANCELLED"
    (received,) = sent_to_amazon(emulator, amazon_id)
    assert received["result"] == "applied" and received["reason"] == "NoInventory"
    row = outbox(steps.engine)[amazon_id]
    assert row["state"] == "accepted" and row["feed_id"] == received["feedId"] and row["message_id"] == 1
    commerce = commerce_orders(steps.engine)[amazon_id]
    assert commerce["state"] == "closed" and commerce["total_refunded"] == commerce["total_paid"]
    with steps.engine.connect() as conn:
        memos = conn.execute(select(sales_creditmemo.c.grand_total).where(
            sales_creditmemo.c.order_id == commerce["entity_id"])).scalars().all()
    assert memos == [commerce["grand_total"]]
    channel = channel_orders(steps.engine)[amazon_id]
    assert channel["status"] == "Canceled" and channel["note"].startswith("Cancelled at Amazon (NoInventory)")
    assert reservations(steps.engine)[amazon_id] == 0

    # A later run sends nothing again, and the import of Amazon's CANCELLED order changes nothing more.
    assert "sent" not in push(steps, client)
    next_run_imports(steps, emulator, "later")
    assert "sent" not in push(steps, client)
    assert len(emulator.get("feeds")["feeds"]) == 1 and len(sent_to_amazon(emulator, amazon_id)) == 1
    assert list(outbox(steps.engine)) == [amazon_id]
    assert commerce_orders(steps.engine)[amazon_id]["state"] == "closed"
    assert reservations(steps.engine)[amazon_id] == 0


def test_staff_cancellations_are_sent_and_a_shipped_order_is_refused(steps, client, emulator, commerce_url, capsys):
    # Arrange: one order Amazon has meanwhile shipped (another way), one still Unshipped; both cancelled in Commerce
    emulator.configure(feed_processing_seconds=FAST)
    shipped, unshipped = unshipped_orders(steps, client)[:2]
    ship_at_amazon(client, emulator, shipped)
    next_run_imports(steps, emulator, "later")
    assert channel_orders(steps.engine)[shipped["ext_order_id"]]["status"] == "Shipped"

    # Act
    refused_at_once = cancel([shipped["ext_order_id"], "--reason", "NoInventory", "--db", commerce_url])
    message = capsys.readouterr().err
    for order in (shipped, unshipped):
        set_commerce_state(steps.engine, order["ext_order_id"], "canceled")
    summary = push(steps, client)

    # Assert
    assert refused_at_once == 2 and "is Shipped at Amazon; only Unshipped orders can be cancelled" in message
    assert summary["detected"] == 2 and summary["refused"] == 1 and summary["accepted"] == 1
    assert [p["amazon_order_id"] for p in summary["problems"]] == [shipped["ext_order_id"]]
    rows = outbox(steps.engine)
    assert rows[unshipped["ext_order_id"]]["reason"] == "GeneralAdjustment"
    assert rows[unshipped["ext_order_id"]]["state"] == "accepted"
    assert rows[shipped["ext_order_id"]]["state"] == "refused" and rows[shipped["ext_order_id"]]["feed_id"] is None
    assert "only Unshipped orders can be cancelled" in channel_orders(steps.engine)[shipped["ext_order_id"]]["note"]
    assert [c["orderId"] for c in sent_to_amazon(emulator)] == [unshipped["ext_order_id"]]


def test_amazon_refusing_a_cancellation_is_recorded_with_its_words(steps, client, emulator, commerce_url):
    # Arrange: cancelled in Commerce while Unshipped; Amazon ships it before the feed arrives
    emulator.configure(feed_processing_seconds=FAST)
    order = unshipped_orders(steps, client)[0]
    amazon_id = order["ext_order_id"]
    assert cancel([amazon_id, "--reason", "CustomerExchange", "--db", commerce_url]) == 0
    ship_at_amazon(client, emulator, order)

    # Act
    summary = push(steps, client)

    # Assert
    assert summary["rejected"] == 1 and "accepted" not in summary
    assert summary["problems"][0]["amazon_order_id"] == amazon_id and "shipped" in summary["problems"][0]["error"]
    row = outbox(steps.engine)[amazon_id]
    (received,) = sent_to_amazon(emulator, amazon_id)
    assert received["result"] == "refused" and received["message"] in row["last_error"]
    assert row["state"] == "rejected"
    assert channel_orders(steps.engine)[amazon_id]["note"].startswith("Amazon refused to cancel the order: ")
    assert commerce_orders(steps.engine)[amazon_id]["state"] == "canceled"  # not refunded: Amazon shipped it
    with steps.engine.connect() as conn:  # the order page shows the refusal in Amazon's words
        shown = order_detail(conn, amazon_id)["cancellation"]
    assert shown["state"] == "rejected" and shown["reason"] == "CustomerExchange"
    assert received["message"] in shown["last_error"]
    assert "sent" not in push(steps, client)  # a refusal is final: never re-sent blindly


def test_a_buyer_request_holds_the_package_and_cancelling_in_commerce_cancels_at_amazon(steps, client, emulator):
    # Arrange: the buyer asks Amazon to cancel; the warehouse ships anyway, so the package is held
    emulator.configure(feed_processing_seconds=FAST)
    order = unshipped_orders(steps, client)[0]
    amazon_id = order["ext_order_id"]
    emulator.admin.post(f"{emulator.base_url}/_emulator/orders/{amazon_id}/cancellation-request",
                        json={"reason": "Found it cheaper"}).raise_for_status()
    next_run_imports(steps, emulator, "later")
    assert channel_orders(steps.engine)[amazon_id]["cancel_requested"]
    now = datetime.fromisoformat(emulator.get("health")["now"].replace("Z", "+00:00"))
    create_shipment(steps.engine, order["increment_id"], "ups", "1Z999AA10123456784", now=now)
    reconcile_shipments(steps.engine, carrier_mapping(None))
    assert [p["state"] for p in packages(steps.engine, amazon_id)] == ["held"]

    # Act: staff cancel the order in Commerce (no reason given); the next run reconciles, then sends it
    set_commerce_state(steps.engine, amazon_id, "canceled")
    reconcile_shipments(steps.engine, carrier_mapping(None))
    summary = push(steps, client)
    pushed = push_tracking(steps.engine, client)

    # Assert
    assert summary["detected"] == 1 and summary["accepted"] == 1
    assert outbox(steps.engine)[amazon_id]["reason"] == "BuyerCanceled"
    (received,) = sent_to_amazon(emulator, amazon_id)
    assert received["result"] == "applied" and received["reason"] == "BuyerCanceled"
    truth = emulator.get(f"orders/{amazon_id}")
    assert truth["status"] == "CANCELLED" and truth["packages"] == [] and "sent" not in pushed
    assert [p["state"] for p in packages(steps.engine, amazon_id)] == ["canceled"]
    assert commerce_orders(steps.engine)[amazon_id]["state"] == "closed"
    assert channel_orders(steps.engine)[amazon_id]["status"] == "Canceled"
    assert reservations(steps.engine)[amazon_id] == 0


@pytest.mark.airflow
def test_dag_runs_send_a_commerce_cancellation_to_amazon(pipeline_env, emulator, commerce, commerce_url):
    # Arrange: a run imports the orders; staff cancel one in Commerce
    from tests.support import run_sync

    emulator.configure(feed_processing_seconds=FAST)
    window = {"window_start": "2026-03-09T00:00:00Z", "window_end": "2026-03-09T06:00:00Z"}
    assert run_sync(W1, **window).state == "success"
    channel = channel_orders(commerce)
    amazon_id = next(k for k, v in commerce_orders(commerce).items() if v["state"] == "processing"
                     and channel[k]["status"] == "Unshipped" and not channel[k]["cancel_requested"])
    assert cancel([amazon_id, "--reason", "ShippingAddressUndeliverable", "--db", commerce_url]) == 0

    # Act
    assert run_sync(W1, **window).state == "success"

    # Assert
    assert emulator.get(f"orders/{amazon_id}")["status"] == "CANCELLED"
    assert [c["reason"] for c in sent_to_amazon(emulator, amazon_id)] == ["ShippingAddressUndeliverable"]
    assert outbox(commerce)[amazon_id]["state"] == "accepted"
    assert commerce_orders(commerce)[amazon_id]["state"] == "closed" and reservations(commerce)[amazon_id] == 0


@pytest.mark.airflow
def test_dag_runs_take_a_buyer_request_through_a_held_package_to_a_cancellation_at_amazon(
        pipeline_env, emulator, commerce):
    # Arrange: a run imports the orders; a buyer asks Amazon to cancel one, and the warehouse ships it anyway
    from tests.support import run_sync

    emulator.configure(feed_processing_seconds=FAST)
    now = datetime.fromisoformat(emulator.get("health")["now"].replace("Z", "+00:00"))
    history = {"window_start": iso(now - timedelta(days=2)), "window_end": iso(now - timedelta(minutes=2))}
    assert run_sync(W1, **history).state == "success"
    channel = channel_orders(commerce)
    order = next(o for k, o in commerce_orders(commerce).items() if o["state"] == "processing"
                 and channel[k]["status"] == "Unshipped" and not channel[k]["cancel_requested"])
    amazon_id = order["ext_order_id"]
    emulator.admin.post(f"{emulator.base_url}/_emulator/orders/{amazon_id}/cancellation-request",
                        json={"reason": "Ordered by mistake"}).raise_for_status()
    create_shipment(commerce, order["increment_id"], "ups", "1Z999AA10123456784", now=now)
    emulator.advance(600)
    recent = {"window_start": iso(now - timedelta(minutes=5)), "window_end": iso(now + timedelta(minutes=5))}

    # Act 1: the next run sees the request and holds the package
    assert run_sync(W1, **recent).state == "success"

    # Assert 1
    assert channel_orders(commerce)[amazon_id]["cancel_requested"]
    assert [p["state"] for p in packages(commerce, amazon_id)] == ["held"]
    assert emulator.get(f"orders/{amazon_id}")["packages"] == [] and commerce_orders(commerce)[amazon_id][
        "state"] == "processing"

    # Act 2: staff cancel the order in Commerce; the next run sends the cancellation, the one after reads Amazon
    set_commerce_state(commerce, amazon_id, "canceled")
    assert run_sync(W1, **recent).state == "success"
    emulator.advance(600)
    later = {"window_start": iso(now), "window_end": iso(now + timedelta(minutes=15))}
    assert run_sync(W1, **later).state == "success"

    # Assert 2: Amazon cancelled it once, with the buyer's reason; nothing was shipped; Commerce closed and released
    (received,) = sent_to_amazon(emulator, amazon_id)
    assert received["result"] == "applied" and received["reason"] == "BuyerCanceled"
    truth = emulator.get(f"orders/{amazon_id}")
    assert truth["status"] == "CANCELLED" and truth["packages"] == []
    assert [p["state"] for p in packages(commerce, amazon_id)] == ["canceled"]
    assert outbox(commerce)[amazon_id]["state"] == "accepted"
    assert channel_orders(commerce)[amazon_id]["status"] == "Canceled"
    assert commerce_orders(commerce)[amazon_id]["state"] == "closed" and reservations(commerce)[amazon_id] == 0


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


CRASHING_RUN = """
import json, os
from amazon_channel.cancellation import push_cancellations
from amazon_channel.commerce.db import commerce_engine
from amazon_channel.spapi import SpApiClient, SpApiConfig

spec = json.loads(os.environ["CANCEL_RUN"])
client = SpApiClient(SpApiConfig.from_connection(spec["login"], spec["password"], spec["extra"]))
push_cancellations(commerce_engine(spec["url"]), client, time_budget=300, poll_first=0.1)
"""


def test_a_crash_between_create_feed_and_the_report_sends_nothing_twice(steps, client, emulator, commerce_url):
    # Arrange: Amazon takes long to process; the task is killed while it waits for the report
    emulator.configure(feed_processing_seconds=600)
    order = unshipped_orders(steps, client)[0]
    amazon_id = order["ext_order_id"]
    assert cancel([amazon_id, "--reason", "NoInventory", "--db", commerce_url]) == 0
    cfg = emulator.get("config")
    spec = {"login": cfg["client_id"], "password": cfg["client_secret"], "extra": emulator.connection_extra(),
            "url": commerce_url}
    task = subprocess.Popen([sys.executable, "-c", CRASHING_RUN], cwd=ROOT,
                            env={**os.environ, "CANCEL_RUN": json.dumps(spec)})
    try:
        deadline = time.monotonic() + 60
        while not (emulator.get("feeds")["feeds"] and outbox(steps.engine)[amazon_id]["state"] == "submitted"):
            assert task.poll() is None and time.monotonic() < deadline, "the task ended before its feed was submitted"
            time.sleep(0.05)
    finally:
        task.kill()  # SIGKILL: no clean-up of any kind
        task.wait(10)
    (feed,) = emulator.get("feeds")["feeds"]
    assert feed["processingStatus"] in ("IN_QUEUE", "IN_PROGRESS") and sent_to_amazon(emulator) == []

    # Act: Amazon finishes; the next run asks about the same feed
    emulator.configure(feed_processing_seconds=0)
    summary = push(steps, client)

    # Assert
    assert summary == {"accepted": 1, "problems": []}
    assert len(emulator.get("feeds")["feeds"]) == 1 and len(sent_to_amazon(emulator, amazon_id)) == 1
    row = outbox(steps.engine)[amazon_id]
    assert row["state"] == "accepted" and row["feed_id"] == feed["feedId"] and row["attempts"] == 1
    assert channel_orders(steps.engine)[amazon_id]["status"] == "Canceled"


def test_a_feed_still_processing_when_the_time_is_up_is_polled_by_the_next_run(steps, client, emulator, commerce_url):
    # Arrange
    emulator.configure(feed_processing_seconds=600)
    order = unshipped_orders(steps, client)[0]
    assert cancel([order["ext_order_id"], "--reason", "NoInventory", "--db", commerce_url]) == 0

    # Act
    first = push(steps, client, time_budget=0.5)
    emulator.configure(feed_processing_seconds=0)
    second = push(steps, client)

    # Assert
    assert first == {"feeds_created": 1, "sent": 1, "waiting_for_amazon": 1, "problems": []}
    assert second == {"accepted": 1, "problems": []}
    assert len(emulator.get("feeds")["feeds"]) == 1


@pytest.mark.parametrize("commerce_url", ["sqlite"], indirect=True)  # about Amazon's answers, not the database
def test_throttling_keeps_cancellations_for_the_next_run(steps, client, emulator, commerce_url):
    # Arrange: then a throttling storm on every Amazon-facing answer
    orders = unshipped_orders(steps, client)[:3]
    for order in orders:
        assert cancel([order["ext_order_id"], "--reason", "NoInventory", "--db", commerce_url]) == 0
    emulator.configure(feed_processing_seconds=FAST, throttle_rate=1.0)
    client.config.deadline = 1.0

    # Act
    stormy = push(steps, client)
    emulator.configure(throttle_rate=0.0)
    client.config.deadline = 30.0
    calm = push(steps, client)

    # Assert
    assert stormy == {"retry_next_run": 3, "problems": []}
    assert {row["state"] for row in outbox(steps.engine).values()} == {"accepted"}
    assert calm["sent"] == 3 and calm["accepted"] == 3
    channel = channel_orders(steps.engine)
    marketplaces = {channel[o["ext_order_id"]]["marketplace_id"] for o in orders}
    feeds = emulator.get("feeds")["feeds"]  # the storm created none: one per marketplace, by the calm run
    assert calm["feeds_created"] == len(feeds) == len(marketplaces)
    assert sorted(m for feed in feeds for m in feed["marketplaceIds"]) == sorted(marketplaces)


def test_feed_calls_keep_to_amazons_rate_limits(client, emulator):
    # Arrange: Amazon's own limits (getFeed: 2 per second after a burst of 15)
    emulator.configure(rate_scale=1)
    document = client.create_feed_document("text/xml; charset=UTF-8")
    client.upload_feed_document(document["url"], b"<AmazonEnvelope/>", "text/xml; charset=UTF-8")
    feed_id = client.create_feed("POST_ORDER_ACKNOWLEDGEMENT_DATA", ["ATVPDKIKX0DER"], document["feedDocumentId"])
    started = time.monotonic()

    # Act
    for _ in range(19):
        client.get_feed(feed_id)

    # Assert: the client waited for its tokens instead of being throttled
    assert time.monotonic() - started >= 1.5
    stats = emulator.get("stats")["operations"]
    assert all(stats[op]["throttled"] == 0 for op in ("createFeedDocument", "createFeed", "getFeed"))
    assert stats["getFeed"]["requests"] == 19


class DocumentStore(BaseHTTPRequestHandler):
    """A stand-in for the storage behind pre-signed URLs: /doc serves `content`, /moved redirects, PUTs are kept."""

    content = b""
    received: list = []

    def do_GET(self):  # noqa: N802 (http.server's name)
        type(self).received.append(("GET", self.path, {k.lower(): v for k, v in self.headers.items()}))
        if self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "http://127.0.0.2:9/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.content)))
        self.end_headers()
        self.wfile.write(self.content)

    def do_PUT(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(("PUT", self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def document_store():
    DocumentStore.received, DocumentStore.content = [], b""
    server = ThreadingHTTPServer(("127.0.0.1", 0), DocumentStore)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_feed_documents_travel_without_the_token_within_the_clients_bounds(client, document_store):
    # Arrange: the client holds an access token, and a small limit
    assert client.access_token()
    client.config.max_response_bytes = 10_000

    # Act
    client.upload_feed_document(f"{document_store}/doc", b"<AmazonEnvelope/>", "text/xml; charset=UTF-8")
    DocumentStore.content = gzip.compress(b"<AmazonEnvelope/>")
    small = client.download_feed_document({"url": f"{document_store}/doc", "compressionAlgorithm": "GZIP"})
    DocumentStore.content = gzip.compress(b" " * 1_000_000)  # 1 MB in about a kilobyte
    with pytest.raises(SpApiError, match="ResponseTooLarge"):
        client.download_feed_document({"url": f"{document_store}/doc", "compressionAlgorithm": "GZIP"})
    with pytest.raises(SpApiError, match="Redirect"):
        client.download_feed_document({"url": f"{document_store}/moved"})

    # Assert
    assert small == b"<AmazonEnvelope/>"
    (_, _, headers, body), *_ = DocumentStore.received
    assert body == b"<AmazonEnvelope/>" and headers["content-type"] == "text/xml; charset=UTF-8"
    assert not [name for _, _, headers, *_ in DocumentStore.received for name in headers
                if name.startswith("x-amz")]
    assert [path for _, path, *_ in DocumentStore.received] == ["/doc", "/doc", "/doc", "/moved"]
