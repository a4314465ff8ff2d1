"""The emulator with `--sellers`: sellers authorized per region, each (seller, region) its own world, tokens bound to
their seller and region as Amazon binds them, and the admin API's seller and region filters.

Runs against the session's `--sellers 2` emulator (tests.support.SELLERS_EMULATOR_ARGS) over HTTP; the default
single-seller emulator is covered by the other emulator tests, untouched.
"""

from __future__ import annotations

import pytest
import requests

from amazon_channel.emulator.state import Emulator, EmulatorConfig
from amazon_channel.rules import MARKETPLACE_BY_ID
from tests.support import SELLERS_EMULATOR_ARGS

pytestmark = [pytest.mark.emulator]
REGIONS = ("na", "eu", "fe")
WINDOW = {"lastUpdatedAfter": "2026-02-28T00:00:00Z", "lastUpdatedBefore": "2026-03-10T11:00:00Z"}
DENIED = "Access to requested resource is denied."
SEARCH, ORDER = "/orders/2026-01-01/orders", "/orders/2026-01-01/orders/{}"


@pytest.fixture
def emu(sellers_emulator_process):
    """The session's --sellers 2 emulator, reset before and after each test."""
    sellers_emulator_process.reset()
    yield sellers_emulator_process
    sellers_emulator_process.reset()


@pytest.fixture
def sellers(emu) -> list[dict]:
    return emu.get("sellers")["sellers"]


def access_token(auth: dict) -> str:
    response = requests.post(auth["lwa_endpoint"], data={
        "grant_type": "refresh_token", "refresh_token": auth["refresh_token"],
        "client_id": auth["client_id"], "client_secret": auth["client_secret"]})
    response.raise_for_status()
    return response.json()["access_token"]


def call(method: str, url: str, token: str, **kwargs) -> requests.Response:
    return requests.request(method, url, headers={"x-amz-access-token": token}, **kwargs)


def assert_denied(response: requests.Response) -> None:
    assert response.status_code == 403, response.text
    assert response.json()["errors"][0] == {"code": "Unauthorized", "message": DENIED}


def truth(emu, seller_id: str | None = None, region: str | None = None) -> list[dict]:
    filters = {k: v for k, v in (("seller_id", seller_id), ("region", region)) if v}
    return emu.get("orders", **filters, **WINDOW)["orders"]


def unshipped_merchant_order(emu, seller_id: str, region: str) -> dict:
    return next(o for o in truth(emu, seller_id, region)
                if o["status"] == "UNSHIPPED" and o["fulfilledBy"] == "MERCHANT")


def shipment(order: dict) -> dict:
    return {"marketplaceId": order["marketplaceId"], "packageDetail": {
        "packageReferenceId": "1", "carrierCode": "UPS", "trackingNumber": "1Z999AA10123456784",
        "shipDate": "2026-03-10T10:00:00Z",
        "orderItems": [{"orderItemId": i["orderItemId"], "quantity": i["quantity"]} for i in order["money"]["items"]]}}


# ---- the sellers and their authorizations -----------------------------------------------------------

def test_sellers_lists_each_sellers_authorization_per_region(emu, sellers):
    base = emu.base_url
    assert [s["seller_id"] for s in sellers] == ["A1EMULATORSELLER1", "A1EMULATORSELLER2"]
    refresh_tokens = set()
    for seller in sellers:
        assert set(seller) == {"seller_id", "regions"} and tuple(seller["regions"]) == REGIONS
        for region, auth in seller["regions"].items():
            assert set(auth) == {"client_id", "client_secret", "refresh_token", "endpoint", "lwa_endpoint",
                                 "marketplace_ids"}
            assert auth["endpoint"] == f"{base}/{region}" and auth["lwa_endpoint"] == f"{base}/auth/o2/token"
            assert auth["marketplace_ids"] and all(MARKETPLACE_BY_ID[m].region == region
                                                   for m in auth["marketplace_ids"])
            refresh_tokens.add(auth["refresh_token"])
    assert len(refresh_tokens) == 6  # one per seller and region
    assert "A2EUQ1WTGCTBG2" in sellers[0]["regions"]["na"]["marketplace_ids"]  # Canada sells too
    assert {"A13V1IB3VIYZZH", "A33AVAJ2PDY3EV"} <= set(sellers[0]["regions"]["eu"]["marketplace_ids"])
    assert {"A39IBJ37TRP1C6", "A19VAU5U5O7RUS"} <= set(sellers[0]["regions"]["fe"]["marketplace_ids"])


def test_the_default_emulator_has_no_sellers_and_untagged_truth(emulator):
    assert emulator.get("sellers") == {"sellers": []}
    order = emulator.truth("2026-03-09T00:00:00Z", "2026-03-09T01:00:00Z")[0]
    assert "sellerId" not in order and "region" not in order
    assert requests.get(f"{emulator.base_url}/na{SEARCH}").status_code == 404  # no region prefixes


# ---- tokens bound to their seller and region ------------------------------------------------------------

def test_a_token_works_only_on_its_own_regions_prefix(sellers):
    s1, s2 = sellers
    na_token = access_token(s1["regions"]["na"])
    ok = call("GET", s1["regions"]["na"]["endpoint"] + SEARCH, na_token, params=WINDOW)
    assert ok.status_code == 200 and ok.json()["orders"]
    assert_denied(call("GET", s1["regions"]["eu"]["endpoint"] + SEARCH, na_token, params=WINDOW))
    assert_denied(call("GET", s1["regions"]["fe"]["endpoint"] + SEARCH, na_token, params=WINDOW))
    # Another seller's EU authorization used on the NA endpoint: refused the same way.
    s2_eu_token = access_token(s2["regions"]["eu"])
    assert call("GET", s2["regions"]["eu"]["endpoint"] + SEARCH, s2_eu_token, params=WINDOW).status_code == 200
    assert_denied(call("GET", s1["regions"]["na"]["endpoint"] + SEARCH, s2_eu_token, params=WINDOW))
    # With --sellers there is no unprefixed endpoint.
    base = s1["regions"]["na"]["endpoint"].rsplit("/", 1)[0]
    assert call("GET", base + SEARCH, na_token, params=WINDOW).status_code == 404


def test_another_sellers_orders_and_feeds_are_denied(emu, sellers):
    s1, s2 = sellers
    s1_na, s2_na = s1["regions"]["na"], s2["regions"]["na"]
    s1_token, s2_token = access_token(s1_na), access_token(s2_na)
    theirs = unshipped_merchant_order(emu, s2["seller_id"], "na")
    assert call("GET", s2_na["endpoint"] + ORDER.format(theirs["orderId"]), s2_token).status_code == 200
    assert_denied(call("GET", s1_na["endpoint"] + ORDER.format(theirs["orderId"]), s1_token))
    confirm = f"/orders/v0/orders/{theirs['orderId']}/shipmentConfirmation"
    assert_denied(call("POST", s1_na["endpoint"] + confirm, s1_token, json=shipment(theirs)))
    assert emu.get(f"orders/{theirs['orderId']}")["packages"] == []  # nothing shipped for the other seller
    # The same seller's order of another region is not the NA token's either.
    own_eu = truth(emu, s1["seller_id"], "eu")[0]
    assert_denied(call("GET", s1_na["endpoint"] + ORDER.format(own_eu["orderId"]), s1_token))
    # A feed is its seller-region's.
    document = call("POST", s2_na["endpoint"] + "/feeds/2021-06-30/documents", s2_token,
                    json={"contentType": "text/xml; charset=UTF-8"}).json()
    feed = call("POST", s2_na["endpoint"] + "/feeds/2021-06-30/feeds", s2_token, json={
        "feedType": "POST_ORDER_ACKNOWLEDGEMENT_DATA", "marketplaceIds": [s2_na["marketplace_ids"][0]],
        "inputFeedDocumentId": document["feedDocumentId"]}).json()
    feed_path = f"/feeds/2021-06-30/feeds/{feed['feedId']}"
    assert call("GET", s2_na["endpoint"] + feed_path, s2_token).status_code == 200
    assert_denied(call("GET", s1_na["endpoint"] + feed_path, s1_token))
    assert_denied(call("GET", s1_na["endpoint"] + f"/feeds/2021-06-30/documents/{document['feedDocumentId']}",
                       s1_token))


def test_a_marketplace_of_another_region_is_a_400_naming_it(sellers):
    na = sellers[0]["regions"]["na"]
    token = access_token(na)
    uk, japan = "A1F83G8C2ARO7P", "A1VC38T7YXB528"
    response = call("GET", na["endpoint"] + SEARCH, token, params={**WINDOW, "marketplaceIds": f"ATVPDKIKX0DER,{uk}"})
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["code"] == "InvalidInput" and uk in error["message"] and "ATVPDKIKX0DER" not in error["message"]
    # A marketplace of the region that the seller does not sell in is accepted, and has no orders.
    eu, netherlands = sellers[0]["regions"]["eu"], "A1805IZSGTT6HS"
    assert netherlands not in eu["marketplace_ids"]
    on_eu = call("GET", eu["endpoint"] + SEARCH, access_token(eu), params={**WINDOW, "marketplaceIds": netherlands})
    assert on_eu.status_code == 200 and on_eu.json()["orders"] == []
    document = call("POST", na["endpoint"] + "/feeds/2021-06-30/documents", token,
                    json={"contentType": "text/xml; charset=UTF-8"}).json()
    feed = call("POST", na["endpoint"] + "/feeds/2021-06-30/feeds", token, json={
        "feedType": "POST_ORDER_ACKNOWLEDGEMENT_DATA", "marketplaceIds": [japan],
        "inputFeedDocumentId": document["feedDocumentId"]})
    assert feed.status_code == 400 and japan in feed.json()["errors"][0]["message"]


# ---- one world per seller and region -----------------------------------------------------------------

def test_each_seller_region_searches_only_its_own_world(emu, sellers):
    ids_by_world = {}
    for seller in sellers:
        for region, auth in seller["regions"].items():
            orders = truth(emu, seller["seller_id"], region)
            assert orders and all((o["sellerId"], o["region"]) == (seller["seller_id"], region) for o in orders)
            assert {o["marketplaceId"] for o in orders} <= set(auth["marketplace_ids"])
            searched, params, token = [], dict(WINDOW), access_token(auth)
            while True:
                page = call("GET", auth["endpoint"] + SEARCH, token, params=params).json()
                searched += [o["orderId"] for o in page["orders"]]
                if "pagination" not in page:
                    break
                params = {**WINDOW, "paginationToken": page["pagination"]["nextToken"]}
            assert searched == [o["orderId"] for o in orders]  # Amazon's answer is that world's ground truth
            ids_by_world[(seller["seller_id"], region)] = set(searched)
    everything = [o["orderId"] for o in truth(emu)]
    assert len(everything) == len(set(everything)) == sum(len(ids) for ids in ids_by_world.values())
    assert set(everything) == set().union(*ids_by_world.values())  # disjoint worlds, unfiltered is their union
    regions_of = {o["region"] for o in truth(emu, region="eu")}
    assert regions_of == {"eu"}
    item_ids = [i["orderItemId"] for o in truth(emu) for i in o["cancellation"]]
    assert len(item_ids) == len(set(item_ids))  # item ids are unique across worlds too


def test_worlds_are_deterministic_per_seed_seller_and_region(emu):
    args = dict(zip(SELLERS_EMULATOR_ARGS[::2], SELLERS_EMULATOR_ARGS[1::2], strict=True))
    config = EmulatorConfig(seed=int(args["--seed"]), orders=int(args["--orders"]),
                            history_days=float(args["--history-days"]), future_days=float(args["--future-days"]),
                            clock_start=args["--clock-start"], sellers=int(args["--sellers"]))
    rebuilt = Emulator(config)
    served = emu.get("orders")["orders"]  # the server's worlds, made in another process
    for seller_region in rebuilt.seller_regions:
        mine = [o for o in served if (o["sellerId"], o["region"]) == (seller_region.seller_id, seller_region.region)]
        world = seller_region.world
        assert len(world.records) == 150
        assert {o["orderId"] for o in mine} <= set(world.by_id)
        assert all(world.records[world.by_id[o["orderId"]]].marketplace.marketplace_id == o["marketplaceId"]
                   for o in mine)
    first, second = rebuilt.seller_regions[0].world, rebuilt.seller_regions[3].world  # seller 1 and 2 in na
    assert [r.created for r in first.records] != [r.created for r in second.records]  # sellers differ
    other_seed = Emulator(EmulatorConfig(seed=8, orders=150, clock_start=config.clock_start, sellers=1))
    assert set(other_seed.seller_regions[0].world.by_id) != set(first.by_id)


# ---- the admin API's filters --------------------------------------------------------------------------------

def test_packages_notifications_feeds_and_stats_filter_by_seller_and_region(emu, sellers):
    s1, s2 = sellers
    s1_na, s2_eu = s1["regions"]["na"], s2["regions"]["eu"]
    order = unshipped_merchant_order(emu, s1["seller_id"], "na")
    token = access_token(s1_na)
    confirm = f"/orders/v0/orders/{order['orderId']}/shipmentConfirmation"
    assert call("POST", s1_na["endpoint"] + confirm, token, json=shipment(order)).status_code == 204
    s2_token = access_token(s2_eu)
    document = call("POST", s2_eu["endpoint"] + "/feeds/2021-06-30/documents", s2_token,
                    json={"contentType": "text/xml; charset=UTF-8"}).json()
    feed_id = call("POST", s2_eu["endpoint"] + "/feeds/2021-06-30/feeds", s2_token, json={
        "feedType": "POST_ORDER_ACKNOWLEDGEMENT_DATA", "marketplaceIds": [s2_eu["marketplace_ids"][0]],
        "inputFeedDocumentId": document["feedDocumentId"]}).json()["feedId"]

    at_amazon = emu.get(f"orders/{order['orderId']}", seller_id=s1["seller_id"], region="na")
    assert (at_amazon["sellerId"], at_amazon["region"]) == (s1["seller_id"], "na")
    assert [p["tracking_number"] for p in at_amazon["packages"]] == ["1Z999AA10123456784"]
    for wrong in ({"seller_id": s2["seller_id"]}, {"region": "eu"}):
        assert requests.get(f"{emu.base_url}/_emulator/orders/{order['orderId']}", params=wrong).status_code == 404

    notifications = emu.get("notifications")["notifications"]
    assert [(n["sellerId"], n["region"], n["orderId"]) for n in notifications] == [
        (s1["seller_id"], "na", order["orderId"])]
    assert emu.get("notifications", seller_id=s1["seller_id"], region="na")["notifications"] == notifications
    assert emu.get("notifications", seller_id=s2["seller_id"])["notifications"] == []
    assert emu.get("notifications", region="fe")["notifications"] == []

    feeds = emu.get("feeds")["feeds"]
    assert [(f["sellerId"], f["region"], f["feedId"]) for f in feeds] == [(s2["seller_id"], "eu", feed_id)]
    assert emu.get("feeds", region="na")["feeds"] == []
    assert emu.get("cancellations", region="eu")["cancellations"] == []

    stats = emu.get("stats", seller_id=s1["seller_id"], region="na")
    assert stats["packages"] == stats["notifications"] == stats["operations"]["confirmShipment"]["requests"] == 1
    assert emu.get("stats", seller_id=s2["seller_id"])["packages"] == 0
    everything = emu.get("stats")
    assert everything["operations"]["createFeed"]["requests"] == 1 and len(everything["sellerRegions"]) == 6

    for bad in ({"seller_id": "A1NOSUCHSELLER"}, {"region": "cn"}):
        response = requests.get(f"{emu.base_url}/_emulator/orders", params=bad)
        assert response.status_code == 400 and response.json()["errors"][0]["code"] == "InvalidInput"


def test_rate_limits_are_metered_per_seller_and_region(emu, sellers):
    s1, s2 = sellers
    emu.configure(rate_scale=0.0001)  # buckets refill almost never: only the burst is left
    order = truth(emu, s1["seller_id"], "na")[0]
    token = access_token(s1["regions"]["na"])
    statuses = [call("GET", s1["regions"]["na"]["endpoint"] + ORDER.format(order["orderId"]), token).status_code
                for _ in range(31)]
    assert statuses[:30] == [200] * 30 and statuses[30] == 429  # getOrder's burst is 30
    for seller, region in ((s1, "eu"), (s2, "na")):  # the same seller elsewhere, another seller here
        other = seller["regions"][region]
        theirs = truth(emu, seller["seller_id"], region)[0]
        assert call("GET", other["endpoint"] + ORDER.format(theirs["orderId"]), access_token(other)).status_code == 200
