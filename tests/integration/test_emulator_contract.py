"""The emulator speaks Amazon's contract: every body validates against the official models, every rule holds."""

from __future__ import annotations

import base64
import json
import time

import pytest
import requests

from tests.integration.spapi_models import ORDERS, ORDERS_V0, assert_valid

pytestmark = [pytest.mark.emulator]
ALL_BLOCKS = "BUYER,RECIPIENT,PROCEEDS,PROMOTION,TAX,FULFILLMENT,PACKAGES"  # what the pipeline asks for
DAY = {"lastUpdatedAfter": "2026-03-09T00:00:00Z", "lastUpdatedBefore": "2026-03-10T00:00:00Z"}


@pytest.fixture
def api(emulator):
    session = requests.Session()
    session.headers["x-amz-access-token"] = emulator.token()

    def call(method, path, **kwargs):
        return session.request(method, emulator.base_url + path, **kwargs)

    return call


def search(api, **params):
    return api("GET", "/orders/2026-01-01/orders", params=params)


def first_order(api, **filters):
    body = search(api, **DAY, includedData=ALL_BLOCKS, **filters).json()
    return body["orders"][0]


def assert_error(response, status, model=ORDERS, definition="ErrorList", code="InvalidInput"):
    assert response.status_code == status, response.text
    assert response.headers.get("x-amzn-RequestId")
    body = response.json()
    assert_valid(model, definition, body)
    assert body["errors"][0]["code"] == code
    return body["errors"][0]["message"]


# ---- conformance of every answer -----------------------------------------------------------------

def test_search_pages_validate_with_and_without_included_data(api):
    for included in (ALL_BLOCKS, None):
        params = {**DAY, **({"includedData": included} if included else {})}
        response = search(api, **params)
        assert response.status_code == 200
        assert float(response.headers["x-amzn-RateLimit-Limit"]) > 0
        body = response.json()
        assert len(body["orders"]) == 100 and body["pagination"]["nextToken"]
        assert_valid(ORDERS, "SearchOrdersResponse", body)


def test_every_kind_of_order_validates(api, emulator):
    """All statuses, both channels, all marketplaces, every kind of amount: walk the whole world with every block."""
    # About 50 pages back to back: faster than searchOrders' quota allows (throttling has tests of its own)
    emulator.configure(page_token_ttl=86400, rate_scale=100_000)
    seen_status, seen_channel, seen_currency = set(), set(), set()
    params = {"lastUpdatedAfter": "2026-02-28T00:00:00Z", "lastUpdatedBefore": "2026-03-10T11:58:00Z",
              "includedData": ALL_BLOCKS}
    while True:
        response = search(api, **params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert_valid(ORDERS, "SearchOrdersResponse", body)
        for order in body["orders"]:
            seen_status.add(order["fulfillment"]["fulfillmentStatus"])
            seen_channel.add(order["fulfillment"]["fulfilledBy"])
            seen_currency.update(i["product"]["price"]["unitPrice"]["currencyCode"]
                                 for i in order["orderItems"] if "price" in i["product"])
        if "pagination" not in body:
            break
        params["paginationToken"] = body["pagination"]["nextToken"]
    assert {"PENDING", "UNSHIPPED", "SHIPPED", "CANCELLED", "PENDING_AVAILABILITY"} <= seen_status
    assert seen_channel == {"MERCHANT", "AMAZON"}
    assert seen_currency == {"USD", "GBP", "EUR", "JPY"}


def test_get_order_validates_and_404(api):
    order = first_order(api)
    response = api("GET", f"/orders/2026-01-01/orders/{order['orderId']}", params={"includedData": ALL_BLOCKS})
    assert response.status_code == 200
    assert_valid(ORDERS, "GetOrderResponse", response.json())
    assert response.json()["order"] == order
    assert_error(api("GET", "/orders/2026-01-01/orders/999-0000000-0000000"), 404, code="NotFound")


def test_error_shapes_validate(api, emulator):
    assert_error(search(api), 400)
    no_token = requests.get(f"{emulator.base_url}/orders/2026-01-01/orders", params=DAY)
    assert_error(no_token, 403, code="Unauthorized")
    emulator.configure(rate_scale=0.001)
    # The 400 above was charged to the bucket too, as Amazon does: 19 more use up the burst of 20.
    answers = [search(api, **DAY) for _ in range(20)]
    throttled = answers[-1]
    assert_error(throttled, 429, code="QuotaExceeded")
    assert "x-amzn-RateLimit-Limit" not in throttled.headers
    assert emulator.get("stats")["operations"]["searchOrders"]["throttled"] == 1
    emulator.configure(rate_scale=2000, error_rate=1.0)
    time.sleep(0.2)  # let the emptied bucket refill a token at the restored rate
    failing = search(api, **DAY)
    assert failing.status_code in (500, 503)
    assert_valid(ORDERS, "ErrorList", failing.json())


# ---- searchOrders parameter rules ---------------------------------------------------------------

@pytest.mark.parametrize("params, fragment", [
    ({}, "Exactly one of createdAfter and lastUpdatedAfter"),
    ({"createdAfter": "2026-03-09T00:00:00Z", "lastUpdatedAfter": "2026-03-09T00:00:00Z"}, "Exactly one"),
    ({"createdAfter": "2026-03-09T00:00:00Z", "lastUpdatedBefore": "2026-03-10T00:00:00Z"}, "cannot be combined"),
    ({"lastUpdatedAfter": "2026-03-09T00:00:00Z", "createdBefore": "2026-03-10T00:00:00Z"}, "cannot be combined"),
    ({"lastUpdatedAfter": "2026-03-09T00:00:00Z", "lastUpdatedBefore": "2026-03-10T11:59:00Z"}, "two minutes"),
    ({"createdAfter": "2026-03-09T00:00:00Z", "createdBefore": "2026-03-10T12:30:00Z"}, "two minutes"),
    ({"lastUpdatedAfter": "2026-03-09T00:00:00Z", "lastUpdatedBefore": "2026-03-08T00:00:00Z"}, "equal to or after"),
    ({"lastUpdatedAfter": "yesterday"}, "ISO 8601"),
    ({**DAY, "maxResultsPerPage": "0"}, "between 1 and 100"),
    ({**DAY, "maxResultsPerPage": "101"}, "between 1 and 100"),
    ({**DAY, "maxResultsPerPage": "ten"}, "between 1 and 100"),
    ({**DAY, "fulfillmentStatuses": "SHIPPED,LOST"}, "LOST"),
    ({**DAY, "fulfilledBy": "SELLER"}, "MERCHANT and AMAZON"),
    ({**DAY, "marketplaceIds": "XX"}, "Invalid marketplaceIds"),
    ({**DAY, "includedData": "BUYER,EVERYTHING"}, "EVERYTHING"),
])
def test_search_parameter_rules(api, params, fragment):
    assert fragment in assert_error(search(api, **params), 400)


def test_before_defaults_to_two_minutes_ago_and_is_echoed(api):
    body = search(api, lastUpdatedAfter="2026-03-10T11:00:00Z").json()
    assert body["lastUpdatedBefore"] == "2026-03-10T11:58:00Z"
    assert all(o["lastUpdatedTime"] <= "2026-03-10T11:58:00Z" for o in body["orders"])


@pytest.mark.parametrize("name, value, path", [
    ("fulfillmentStatuses", "UNSHIPPED", ("fulfillment", "fulfillmentStatus")),
    ("fulfilledBy", "AMAZON", ("fulfillment", "fulfilledBy")),
    ("marketplaceIds", "A1VC38T7YXB528", ("salesChannel", "marketplaceId")),
])
def test_filters(api, name, value, path):
    orders = search(api, **DAY, includedData="FULFILLMENT", **{name: value}).json()["orders"]
    assert orders
    assert {o[path[0]][path[1]] for o in orders} == {value}


def test_included_data_returns_only_requested_blocks(api):
    bare = search(api, **DAY, fulfillmentStatuses="UNSHIPPED").json()["orders"][0]
    assert set(bare) == {"orderId", "createdTime", "lastUpdatedTime", "programs", "salesChannel", "orderItems"}
    assert all(set(item) == {"orderItemId", "quantityOrdered", "product"} for item in bare["orderItems"])
    buyer_only = search(api, **DAY, fulfillmentStatuses="UNSHIPPED", fulfilledBy="MERCHANT",
                        includedData="BUYER").json()["orders"][0]
    assert "buyer" in buyer_only and "recipient" not in buyer_only and "proceeds" not in buyer_only


def test_created_after_search_orders_by_creation(api):
    orders = search(api, createdAfter="2026-03-09T00:00:00Z", createdBefore="2026-03-09T06:00:00Z").json()["orders"]
    times = [o["createdTime"] for o in orders]
    assert times == sorted(times) and times[0] >= "2026-03-09T00:00:00Z" and times[-1] <= "2026-03-09T06:00:00Z"


def test_pagination_token_rules(api, emulator):
    first = search(api, **DAY, maxResultsPerPage=10).json()
    token = first["pagination"]["nextToken"]
    assert json.loads(base64.b64decode(token))  # base64 with '+/=', which the client must URL-encode
    # Page size and includedData may change between pages; the search itself may not.
    second = search(api, **DAY, maxResultsPerPage=50, includedData="BUYER", paginationToken=token)
    assert second.status_code == 200
    assert not {o["orderId"] for o in first["orders"]} & {o["orderId"] for o in second.json()["orders"]}
    changed = search(api, lastUpdatedAfter="2026-03-09T01:00:00Z", lastUpdatedBefore=DAY["lastUpdatedBefore"],
                     paginationToken=token)
    assert "same search parameters" in assert_error(changed, 400)
    assert "not a token" in assert_error(search(api, **DAY, paginationToken="garbage!"), 400)
    emulator.configure(page_token_ttl=60)
    emulator.advance(61)
    assert "expired" in assert_error(search(api, **DAY, paginationToken=token), 400)


# ---- lifecycle, confirmShipment and ground truth ---------------------------------------------------

def test_orders_move_through_their_lifecycle_on_the_emulator_clock(api, emulator):
    recent = search(api, lastUpdatedAfter="2026-03-10T11:00:00Z", fulfillmentStatuses="PENDING",
                    fulfilledBy="MERCHANT", includedData="FULFILLMENT,PROCEEDS,BUYER").json()["orders"]
    assert recent, "the world should have orders awaiting payment verification"
    pending = recent[0]
    assert "proceeds" not in pending and "buyer" not in pending  # Pending orders carry no prices or buyer
    emulator.advance(3 * 3600)
    later = api("GET", f"/orders/2026-01-01/orders/{pending['orderId']}",
                params={"includedData": "FULFILLMENT,PROCEEDS"}).json()["order"]
    assert later["fulfillment"]["fulfillmentStatus"] in ("UNSHIPPED", "CANCELLED")
    assert later["lastUpdatedTime"] > pending["lastUpdatedTime"]


def _unshipped_merchant_order(api):
    return search(api, **DAY, fulfillmentStatuses="UNSHIPPED", fulfilledBy="MERCHANT",
                  includedData="FULFILLMENT").json()["orders"]


def package(ref, items, tracking="1Z999AA10123456784", carrier="UPS"):
    return {"packageReferenceId": ref, "carrierCode": carrier, "trackingNumber": tracking,
            "shipDate": "2026-03-10T11:30:00Z", "orderItems": items}


def confirm(api, order, detail):
    return api("POST", f"/orders/v0/orders/{order['orderId']}/shipmentConfirmation",
               json={"marketplaceId": order["salesChannel"]["marketplaceId"], "packageDetail": detail})


def test_confirm_shipment_ships_and_edits_instead_of_duplicating(api, emulator):
    order = next(o for o in _unshipped_merchant_order(api) if sum(i["quantityOrdered"] for i in o["orderItems"]) >= 2)
    items = order["orderItems"]
    first_item = items[0]
    response = confirm(api, order, package("1", [{"orderItemId": first_item["orderItemId"], "quantity": 1}]))
    assert response.status_code == 204 and response.content == b""
    assert response.headers["x-amzn-RequestId"] and response.headers["x-amzn-RateLimit-Limit"]
    truth = emulator.get(f"orders/{order['orderId']}")
    assert truth["status"] == "PARTIALLY_SHIPPED"
    # Re-sending package 1 (a retry, or a corrected tracking number) edits it.
    assert confirm(api, order, package("1", [{"orderItemId": first_item["orderItemId"], "quantity": 1}],
                                       tracking="1Z999AA10123456785")).status_code == 204
    truth = emulator.get(f"orders/{order['orderId']}")
    assert len(truth["packages"]) == 1 and truth["packages"][0]["tracking_number"] == "1Z999AA10123456785"
    rest = [{"orderItemId": i["orderItemId"], "quantity": i["quantityOrdered"] - (1 if i is first_item else 0)}
            for i in items if i["quantityOrdered"] - (1 if i is first_item else 0) > 0]
    assert confirm(api, order, package("2", rest)).status_code == 204
    truth = emulator.get(f"orders/{order['orderId']}")
    assert truth["status"] == "SHIPPED" and len(truth["packages"]) == 2
    assert truth["order"]["fulfillment"]["fulfillmentStatus"] == "SHIPPED"
    notices = [n for n in emulator.get("notifications")["notifications"] if n["orderId"] == order["orderId"]]
    assert sorted(n["packageReferenceId"] for n in notices) == ["1", "2"]
    # The change is visible to searches by last-updated time, once it is two minutes old.
    emulator.advance(180)
    updated = search(api, lastUpdatedAfter="2026-03-10T11:50:00Z", includedData="FULFILLMENT").json()["orders"]
    assert order["orderId"] in {o["orderId"] for o in updated}


@pytest.mark.parametrize("change, fragment", [
    ({"packageReferenceId": "A1"}, "positive number"),
    ({"packageReferenceId": "0"}, "positive number"),
    ({"carrierCode": ""}, "carrierCode"),
    ({"carrierCode": "Other"}, "carrierName is required"),
    ({"shipDate": "10/03/2026"}, "ISO 8601"),
    ({"trackingNumber": "bad tracking!"}, "tracking number is invalid"),
    ({"orderItems": [{"orderItemId": "nope", "quantity": 1}]}, "is not an item"),
    ({"orderItems": [{"orderItemId": "ITEM", "quantity": 99}]}, "exceeds the unshipped quantity"),
])
def test_confirm_shipment_body_rules(api, change, fragment):
    order = _unshipped_merchant_order(api)[0]
    item_id = order["orderItems"][0]["orderItemId"]
    detail = {**package("1", [{"orderItemId": item_id, "quantity": 1}]), **change}
    detail["orderItems"] = [{**i, "orderItemId": item_id if i["orderItemId"] == "ITEM" else i["orderItemId"]}
                            for i in detail["orderItems"]]
    assert fragment in assert_error(confirm(api, order, detail), 400, ORDERS_V0, "ConfirmShipmentErrorResponse")


def test_confirm_shipment_refuses_fba_and_unknown_orders(api):
    fba = search(api, **DAY, fulfilledBy="AMAZON", fulfillmentStatuses="SHIPPED").json()["orders"][0]
    detail = package("1", [{"orderItemId": fba["orderItems"][0]["orderItemId"], "quantity": 1}])
    assert "fulfilled by Amazon" in assert_error(confirm(api, fba, detail), 400, ORDERS_V0,
                                                 "ConfirmShipmentErrorResponse")
    missing = api("POST", "/orders/v0/orders/111-1111111-1111111/shipmentConfirmation",
                  json={"marketplaceId": "ATVPDKIKX0DER", "packageDetail": detail})
    assert_error(missing, 404, ORDERS_V0, "ConfirmShipmentErrorResponse", code="NotFound")


def test_lwa_errors_use_lwa_shape(emulator):
    cfg = emulator.get("config")
    url = f"{emulator.base_url}/auth/o2/token"
    form = {"grant_type": "refresh_token", "refresh_token": cfg["refresh_token"],
            "client_id": cfg["client_id"], "client_secret": "wrong"}
    bad_client = requests.post(url, data=form)
    assert bad_client.status_code == 401 and bad_client.json()["error"] == "invalid_client"
    bad_grant = requests.post(url, data={**form, "client_secret": cfg["client_secret"], "refresh_token": "Atzr|x"})
    assert bad_grant.status_code == 400 and bad_grant.json()["error"] == "invalid_grant"
    good = requests.post(url, data={**form, "client_secret": cfg["client_secret"]}).json()
    assert good["token_type"] == "bearer" and good["expires_in"] == 3600 and good["access_token"].startswith("Atza|")


def test_access_tokens_expire(emulator):
    emulator.configure(access_token_ttl=1)
    token = emulator.token()
    url = f"{emulator.base_url}/orders/2026-01-01/orders"
    assert requests.get(url, params=DAY, headers={"x-amz-access-token": token}).status_code == 200
    time.sleep(1.2)  # access tokens live in real time, like LWA's, whatever the emulator's clock does
    expired = requests.get(url, params=DAY, headers={"x-amz-access-token": token})
    assert expired.status_code == 403 and "expired" in expired.json()["errors"][0]["details"]


def test_ground_truth_is_deterministic_for_a_seed(emulator):
    first = emulator.truth("2026-03-09T00:00:00Z", "2026-03-09T12:00:00Z")
    emulator.reset()
    assert emulator.truth("2026-03-09T00:00:00Z", "2026-03-09T12:00:00Z") == first
    assert len(first) > 100
