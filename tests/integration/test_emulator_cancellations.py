"""The emulator's cancellations: the CANCELLATION block, buyer requests, Amazon's auto-cancel, and the Feeds API's
order-acknowledgement feed with its processing report, refusals, rate limits and ground truth (over HTTP)."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET

import pytest
import requests

from amazon_channel.emulator.world import World
from amazon_channel.shipping import DEFAULT_CARRIERS
from amazon_channel.timeutil import parse_iso
from tests.integration.spapi_models import FEEDS, ORDERS, assert_valid
from tests.support import EMULATOR_ARGS, EMULATOR_CLOCK

pytestmark = [pytest.mark.emulator]
BLOCKS = "FULFILLMENT,CANCELLATION"
WHOLE_WORLD = {"lastUpdatedAfter": "2026-01-01T00:00:00Z", "lastUpdatedBefore": "2026-03-10T11:58:00Z"}
XML = "text/xml; charset=UTF-8"
US, UK = "ATVPDKIKX0DER", "A1F83G8C2ARO7P"


@pytest.fixture
def api(emulator):
    session = requests.Session()
    session.headers["x-amz-access-token"] = emulator.token()

    def call(method, path, **kwargs):
        return session.request(method, emulator.base_url + path, **kwargs)

    return call


@pytest.fixture(scope="module")
def world() -> World:
    """The server's world built here from its start arguments, to find orders by fate."""
    args = dict(zip(EMULATOR_ARGS[::2], EMULATOR_ARGS[1::2], strict=True))
    clock = int(parse_iso(EMULATOR_CLOCK).timestamp())
    return World(int(args["--seed"]), int(args["--orders"]), clock - int(args["--history-days"]) * 86400,
                 clock + int(args["--future-days"]) * 86400)


def get_order(api, order_id):
    response = api("GET", f"/orders/2026-01-01/orders/{order_id}", params={"includedData": BLOCKS})
    assert response.status_code == 200, response.text
    return response.json()["order"]


def unshipped(emulator, marketplace=US, open_request=False) -> list[dict]:
    """Ground truth of unshipped merchant orders of a marketplace (without an open buyer request by default)."""
    return [t for t in emulator.truth(*WHOLE_WORLD.values())
            if t["status"] == "UNSHIPPED" and t["fulfilledBy"] == "MERCHANT" and t["marketplaceId"] == marketplace
            and t["cancelRequestOpen"] == open_request]


def confirm(api, truth, items, ref="1", carrier="UPS"):
    return api("POST", f"/orders/v0/orders/{truth['orderId']}/shipmentConfirmation", json={
        "marketplaceId": truth["marketplaceId"], "packageDetail": {
            "packageReferenceId": ref, "carrierCode": carrier, "trackingNumber": "1Z999AA10123456784",
            "shipDate": "2026-03-10T11:30:00Z", "orderItems": items}})


def whole(truth):
    return [{"orderItemId": i["orderItemId"], "quantity": i["quantity"]} for i in truth["money"]["items"]]


def acknowledgement(*messages) -> bytes:
    """An order-acknowledgement feed; messages are (order id, status code, [(item id, reason)])."""
    body = "".join(
        f"<Message><MessageID>{n}</MessageID><OrderAcknowledgement><AmazonOrderID>{order_id}</AmazonOrderID>"
        f"<StatusCode>{status}</StatusCode>"
        + "".join(f"<Item><AmazonOrderItemCode>{item}</AmazonOrderItemCode><CancelReason>{reason}</CancelReason>"
                  "</Item>" for item, reason in items)
        + "</OrderAcknowledgement></Message>"
        for n, (order_id, status, items) in enumerate(messages, start=1))
    return ('<?xml version="1.0" encoding="UTF-8"?><AmazonEnvelope xmlns:xsi="http://www.w3.org/2001/XMLSchema-'
            'instance" xsi:noNamespaceSchemaLocation="amzn-envelope.xsd"><Header><DocumentVersion>1.01'
            '</DocumentVersion><MerchantIdentifier>SELLER</MerchantIdentifier></Header><MessageType>'
            f"OrderAcknowledgement</MessageType>{body}</AmazonEnvelope>").encode()


def send_feed(api, content: bytes, marketplace=US) -> str:
    """createFeedDocument, upload to the pre-signed URL (no token), createFeed; returns the feed id."""
    created = api("POST", "/feeds/2021-06-30/documents", json={"contentType": XML})
    assert created.status_code == 201, created.text
    assert_valid(FEEDS, "CreateFeedDocumentResponse", created.json())
    upload = requests.put(created.json()["url"], data=content, headers={"Content-Type": XML})
    assert upload.status_code == 200, upload.text
    feed = api("POST", "/feeds/2021-06-30/feeds", json={
        "feedType": "POST_ORDER_ACKNOWLEDGEMENT_DATA", "marketplaceIds": [marketplace],
        "inputFeedDocumentId": created.json()["feedDocumentId"]})
    assert feed.status_code == 202, feed.text
    assert_valid(FEEDS, "CreateFeedResponse", feed.json())
    return feed.json()["feedId"]


def finished_feed(api, feed_id: str, timeout: float = 10) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        response = api("GET", f"/feeds/2021-06-30/feeds/{feed_id}")
        assert response.status_code == 200, response.text
        feed = response.json()
        assert_valid(FEEDS, "Feed", feed)
        if feed["processingStatus"] in ("DONE", "FATAL") or time.monotonic() > deadline:
            return feed
        time.sleep(0.05)


def report(api, feed: dict) -> ET.Element:
    response = api("GET", f"/feeds/2021-06-30/documents/{feed['resultFeedDocumentId']}")
    assert response.status_code == 200, response.text
    assert_valid(FEEDS, "FeedDocument", response.json())
    download = requests.get(response.json()["url"])
    assert download.status_code == 200
    return ET.fromstring(download.content)


def errors(root: ET.Element) -> dict[str, str]:
    """MessageID -> ResultDescription of the report's Error results."""
    return {r.findtext("MessageID"): r.findtext("ResultDescription") for r in root.iter("Result")
            if r.findtext("ResultCode") == "Error"}


# ---- rendering ------------------------------------------------------------------------------------------------

def test_cancellation_block_validates_and_tells_who_cancelled(api, emulator):
    emulator.configure(rate_scale=100000)
    params = {**WHOLE_WORLD, "includedData": BLOCKS}
    orders = []
    while True:
        body = api("GET", "/orders/2026-01-01/orders", params=params).json()
        assert_valid(ORDERS, "SearchOrdersResponse", body)
        orders.extend(body["orders"])
        if "pagination" not in body:
            break
        params["paginationToken"] = body["pagination"]["nextToken"]
    executions, open_requests = set(), 0
    for order in orders:
        status = order["fulfillment"]["fulfillmentStatus"]
        for item in order["orderItems"]:
            block = item.get("cancellation", {})
            execution = block.get("cancellationExecution")
            if execution:
                executions.add((execution["cancelledBy"], execution.get("cancelReason") == "Not shipped by the "
                                                                                          "ship-by date"))
                assert item["fulfillment"]["quantityUnfulfilled"] == 0
            if status == "CANCELLED":
                assert execution, order["orderId"]
            if "cancellationRequest" in block and not execution:
                open_requests += 1
                assert status == "UNSHIPPED" and block["cancellationRequest"]["requester"] == "BUYER"
    assert {("BUYER", False), ("AMAZON", False), ("AMAZON", True)} <= executions
    assert open_requests > 10
    cancelled = sum(o["fulfillment"]["fulfillmentStatus"] == "CANCELLED" for o in orders)
    assert 0.05 < cancelled / len(orders) < 0.15


def test_buyer_request_on_demand_and_in_the_ground_truth(api, emulator):
    truth = unshipped(emulator)[0]
    item_id = truth["money"]["items"][0]["orderItemId"]
    emulator.advance(600)
    response = emulator.admin.post(f"{emulator.base_url}/_emulator/orders/{truth['orderId']}/cancellation-request",
                                   json={"reason": "Ordered by mistake", "orderItemIds": [item_id]})
    assert response.status_code == 200, response.text
    assert response.json()["cancelRequestOpen"]
    order = get_order(api, truth["orderId"])
    assert_valid(ORDERS, "Order", order)
    assert order["lastUpdatedTime"] == "2026-03-10T12:10:00Z"
    assert order["fulfillment"]["fulfillmentStatus"] == "UNSHIPPED"
    blocks = {i["orderItemId"]: i.get("cancellation") for i in order["orderItems"]}
    assert blocks.pop(item_id) == {"cancellationRequest": {"requester": "BUYER", "cancelReason": "Ordered by mistake"}}
    assert not any(blocks.values())
    items = emulator.get(f"orders/{truth['orderId']}")["cancellation"]
    assert [i["orderItemId"] for i in items if i["requested"] and not i["executed"]] == [item_id]
    # Shipping closes the request; shipped or FBA orders cannot be asked about.
    assert confirm(api, truth, whole(truth)).status_code == 204
    order = get_order(api, truth["orderId"])
    assert not any("cancellation" in i for i in order["orderItems"])
    again = emulator.admin.post(f"{emulator.base_url}/_emulator/orders/{truth['orderId']}/cancellation-request")
    assert again.status_code == 409
    other = unshipped(emulator)[0]
    bad = emulator.admin.post(f"{emulator.base_url}/_emulator/orders/{other['orderId']}/cancellation-request",
                              json={"orderItemIds": ["00000000000000"]})
    assert bad.status_code == 400


def test_auto_cancel_after_the_ship_by_date_unless_shipped(api, emulator, world):
    clock = int(parse_iso(EMULATOR_CLOCK).timestamp())
    due = [r for r in world.records if r.fate == "auto_cancel" and world.status(r.idx, clock) == "UNSHIPPED"
           and r.marketplace.marketplace_id == US][:2]
    assert len(due) == 2
    shipped = emulator.get(f"orders/{due[1].order_id}")
    assert confirm(api, shipped, whole(shipped)).status_code == 204
    emulator.advance(max(r.events[-1][0] for r in due) - clock + 1)
    cancelled = get_order(api, due[0].order_id)
    assert cancelled["fulfillment"]["fulfillmentStatus"] == "CANCELLED"
    assert all(i["cancellation"] == {"cancellationExecution": {"cancelledBy": "AMAZON", "cancelReason":
                                                               "Not shipped by the ship-by date"}}
               for i in cancelled["orderItems"])
    assert get_order(api, due[1].order_id)["fulfillment"]["fulfillmentStatus"] == "SHIPPED"


# ---- the order-acknowledgement feed ------------------------------------------------------------------------

def test_feed_cancels_what_it_may_and_reports_the_rest(api, emulator):
    emulator.configure(feed_processing_seconds=0.4)
    whole_order, partial, shipped, bad_reason, acknowledged = unshipped(emulator)[:5]
    assert confirm(api, shipped, whole(shipped)).status_code == 204
    fba = next(t for t in emulator.truth(*WHOLE_WORLD.values())
               if t["fulfilledBy"] == "AMAZON" and t["marketplaceId"] == US)
    british = unshipped(emulator, UK)[0]
    first_item = partial["money"]["items"][0]["orderItemId"]
    content = acknowledgement(
        (whole_order["orderId"], "Failure", []),
        (partial["orderId"], "Failure", [(first_item, "NoInventory")]),
        (shipped["orderId"], "Failure", []),
        (fba["orderId"], "Failure", []),
        ("999-0000000-0000000", "Failure", []),
        (british["orderId"], "Failure", []),
        (bad_reason["orderId"], "Failure", [(bad_reason["money"]["items"][0]["orderItemId"], "Changed my mind")]),
        (acknowledged["orderId"], "Success", []))
    emulator.advance(300)
    feed_id = send_feed(api, content)
    first_look = api("GET", f"/feeds/2021-06-30/feeds/{feed_id}").json()
    assert first_look["processingStatus"] == "IN_QUEUE" and "resultFeedDocumentId" not in first_look
    feed = finished_feed(api, feed_id)
    assert feed["processingStatus"] == "DONE" and feed["marketplaceIds"] == [US]
    root = report(api, feed)
    assert root.findtext(".//MessagesProcessed") == "8" and root.findtext(".//MessagesWithError") == "5"
    refused = errors(root)
    assert refused["3"] == "The order cannot be cancelled: it has been shipped."
    assert "fulfilled by Amazon" in refused["4"] and "not found" in refused["5"] and "not found" in refused["6"]
    assert "CancelReason" in refused["7"] and set(refused) == {"3", "4", "5", "6", "7"}

    cancelled = get_order(api, whole_order["orderId"])
    assert cancelled["fulfillment"]["fulfillmentStatus"] == "CANCELLED"
    assert cancelled["lastUpdatedTime"] == "2026-03-10T12:05:00Z"
    assert all(i["cancellation"]["cancellationExecution"]["cancelledBy"] == "MERCHANT"
               for i in cancelled["orderItems"])
    part = get_order(api, partial["orderId"])
    assert_valid(ORDERS, "Order", part)
    assert part["fulfillment"]["fulfillmentStatus"] == "UNSHIPPED"
    by_id = {i["orderItemId"]: i for i in part["orderItems"]}
    assert by_id[first_item]["cancellation"] == {"cancellationExecution": {"cancelledBy": "MERCHANT",
                                                                           "cancelReason": "NoInventory"}}
    assert by_id[first_item]["fulfillment"]["quantityUnfulfilled"] == 0
    # A cancelled item cannot be shipped; the rest can, and then the order is SHIPPED.
    refused_package = confirm(api, partial, whole(partial))
    assert refused_package.status_code == 400 and "cancelled" in refused_package.json()["errors"][0]["message"]
    rest = [i for i in whole(partial) if i["orderItemId"] != first_item]
    if rest:
        assert confirm(api, partial, rest).status_code == 204
        assert get_order(api, partial["orderId"])["fulfillment"]["fulfillmentStatus"] == "SHIPPED"

    truth = emulator.get("cancellations")["cancellations"]
    assert [(c["orderId"], c["result"]) for c in truth] == [
        (whole_order["orderId"], "applied"), (partial["orderId"], "applied"), (shipped["orderId"], "refused"),
        (fba["orderId"], "refused"), ("999-0000000-0000000", "refused"), (british["orderId"], "refused"),
        (bad_reason["orderId"], "refused")]
    assert truth[1]["items"] == [first_item] and truth[1]["reason"] == "NoInventory"
    assert truth[2]["message"] == refused["3"] and truth[0]["feedId"] == feed_id
    assert [f["feedId"] for f in emulator.get("feeds")["feeds"]] == [feed_id]


def test_resending_a_cancellation_records_it_once(api, emulator):
    emulator.configure(feed_processing_seconds=0)
    order = unshipped(emulator)[0]
    content = acknowledgement((order["orderId"], "Failure", []))
    for _ in range(2):  # a crash after createFeed makes the pipeline send the same cancellation again
        feed = finished_feed(api, send_feed(api, content))
        assert feed["processingStatus"] == "DONE" and not errors(report(api, feed))
    truth = emulator.get("cancellations")["cancellations"]
    assert [(c["orderId"], c["result"]) for c in truth] == [(order["orderId"], "applied")]
    assert len(emulator.get("feeds")["feeds"]) == 2


def test_malformed_feed_is_fatal_with_a_reason(api, emulator):
    emulator.configure(feed_processing_seconds=0)
    feed = finished_feed(api, send_feed(api, b"<AmazonEnvelope><Message>"))
    assert feed["processingStatus"] == "FATAL" and feed["resultFeedDocumentId"]
    assert "XML Parsing" in errors(report(api, feed))["0"]
    assert emulator.get("cancellations")["cancellations"] == []


def test_presigned_urls_refuse_tokens_other_content_types_and_unknown_ids(api, emulator):
    created = api("POST", "/feeds/2021-06-30/documents", json={"contentType": XML}).json()
    with_token = requests.put(created["url"], data=b"<x/>", headers={"Content-Type": XML,
                                                                     "x-amz-access-token": emulator.token()})
    assert with_token.status_code == 403 and b"not signed" in with_token.content
    assert requests.put(created["url"], data=b"<x/>", headers={"Content-Type": "text/plain"}).status_code == 403
    assert requests.put(created["url"] + "x", data=b"<x/>", headers={"Content-Type": XML}).status_code == 403
    no_document = api("POST", "/feeds/2021-06-30/feeds", json={
        "feedType": "POST_ORDER_ACKNOWLEDGEMENT_DATA", "marketplaceIds": [US], "inputFeedDocumentId": "nope"})
    assert no_document.status_code == 400
    assert_valid(FEEDS, "ErrorList", no_document.json())
    assert api("GET", "/feeds/2021-06-30/feeds/123").status_code == 404
    assert requests.get(f"{emulator.base_url}/feeds/2021-06-30/feeds/123").status_code == 403


def test_feed_operations_have_amazons_rate_limits(api, emulator):
    emulator.configure(rate_scale=1)
    answers = [api("POST", "/feeds/2021-06-30/feeds", json={}) for _ in range(16)]
    assert [a.status_code for a in answers] == [400] * 15 + [429]
    assert answers[0].headers["x-amzn-RateLimit-Limit"] == "0.0083"
    assert_valid(FEEDS, "ErrorList", answers[-1].json())
    assert api("GET", "/feeds/2021-06-30/documents/x").headers["x-amzn-RateLimit-Limit"] == "0.0222"
    assert emulator.get("stats")["operations"]["createFeed"]["throttled"] == 1


# ---- confirmShipment's carrier codes -------------------------------------------------------------------

def test_confirm_shipment_refuses_unknown_carrier_codes(api, emulator):
    truth = unshipped(emulator)[0]
    refused = confirm(api, truth, whole(truth), carrier="Bogus Express")
    assert refused.status_code == 400
    assert "carrier code 'Bogus Express' is not valid" in refused.json()["errors"][0]["message"]
    for code in sorted(set(DEFAULT_CARRIERS.values())):  # re-sending package 1 edits it with each code
        assert confirm(api, truth, whole(truth), carrier=code).status_code == 204, code
