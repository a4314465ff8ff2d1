"""The emulator's money: every order of a whole world adds up exactly in its currency's digits, matches the ground
truth, and every kind of amount Amazon sends occurs (test_emulator_contract validates every order against the model).
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from decimal import Decimal

import pytest
import requests

from amazon_channel.emulator.money import ground_truth
from amazon_channel.emulator.world import World
from amazon_channel.timeutil import parse_iso
from tests.support import EMULATOR_ARGS, EMULATOR_CLOCK

pytestmark = [pytest.mark.emulator]
BLOCKS = "BUYER,RECIPIENT,PROCEEDS,PROMOTION,TAX,FULFILLMENT,PACKAGES"  # what the pipeline's client asks for
WHOLE_WORLD = ("2026-01-01T00:00:00Z", "2026-03-10T11:58:00Z")  # from before the first order to Amazon's latest
CHARGES = ("ITEM", "SHIPPING", "GIFT_WRAP", "COD_FEE", "OTHER")
TAX_INCLUSIVE = {"USD": False, "GBP": True, "EUR": True, "JPY": True}
AMOUNT = {0: re.compile(r"-?[0-9]+"), 2: re.compile(r"-?[0-9]+\.[0-9]{2}")}  # by the currency's digits
DIGITS = {"JPY": 0}


def amount(money: dict) -> Decimal:
    return Decimal(money["amount"])


def api_session(emulator) -> requests.Session:
    session = requests.Session()
    session.headers["x-amz-access-token"] = emulator.token()
    return session


def search_all(emulator, session: requests.Session) -> list[dict]:
    """Every order of the world at the emulator's clock (test_emulator_contract validates each against the model)."""
    params = {"lastUpdatedAfter": WHOLE_WORLD[0], "lastUpdatedBefore": WHOLE_WORLD[1], "includedData": BLOCKS}
    orders = []
    while True:
        response = session.get(f"{emulator.base_url}/orders/2026-01-01/orders", params=params)
        if response.status_code == 429:  # 60 pages outrun the sped-up bucket on a fast machine: wait for a token
            time.sleep(0.1)
            continue
        body = response.json()
        orders.extend(body["orders"])
        if "pagination" not in body:
            return orders
        params["paginationToken"] = body["pagination"]["nextToken"]


@pytest.fixture(scope="module")
def world(emulator_process) -> list[tuple[dict, dict]]:
    """(Amazon JSON, ground truth) of every order of the world, as the emulator starts."""
    emulator_process.reset()
    orders = search_all(emulator_process, api_session(emulator_process))
    truth = {t["orderId"]: t for t in emulator_process.truth(*WHOLE_WORLD)}
    emulator_process.reset()
    assert len(orders) == len(truth) > 4000
    return [(order, truth[order["orderId"]]) for order in orders]


def priced(world):
    return [(order, truth) for order, truth in world if truth["money"] is not None]


# ---- what Amazon's JSON says, read independently of the emulator's code ------------------------------------------

def as_truth(order: dict) -> dict:
    """The money of an order's Amazon JSON in the ground truth's shape: amounts per category and subtype."""
    items = []
    for item in order["orderItems"]:
        amounts = dict.fromkeys(CHARGES, Decimal(0))
        tax = dict.fromkeys(("ITEM", "SHIPPING", "GIFT_WRAP", "COD_FEE", "DISCOUNT"), Decimal(0))
        discount = dict.fromkeys(("ITEM", "SHIPPING"), Decimal(0))
        for breakdown in item["proceeds"]["breakdowns"]:
            if breakdown["type"] in ("TAX", "DISCOUNT"):
                # Without detailed breakdowns a TAX or DISCOUNT applies to ITEM.
                parts = breakdown.get("detailedBreakdowns") or [{"subtype": "ITEM", "value": breakdown["subtotal"]}]
                target = tax if breakdown["type"] == "TAX" else discount
                for part in parts:
                    target[part["subtype"]] += amount(part["value"])
            else:
                amounts[breakdown["type"]] += amount(breakdown["subtotal"])
        collections = item.get("tax", {}).get("taxCollections", [])
        schemes = item.get("tax", {}).get("taxCalculationBreakdowns", [])
        items.append({
            "orderItemId": item["orderItemId"], "quantity": item["quantityOrdered"],
            "unitPrice": amount(item["product"]["price"]["unitPrice"]),
            "promotionIds": [p["promotionId"] for p in item.get("promotion", {}).get("breakdowns", [])],
            "taxCollectionModel": collections[0]["model"] if collections else None,
            "reportingScheme": schemes[0]["reportingScheme"] if schemes else None,
            "proceedsTotal": amount(item["proceeds"]["proceedsTotal"]),
            "amounts": amounts, "tax": tax, "discount": discount})
    tips = [b for b in order["proceeds"]["breakdowns"] if b["type"] == "DELIVERY_TIP"]
    registrations = [r for r in order.get("tax", {}).get("taxRegistrations", []) if r["entityType"] == "BUYER"]
    return {
        "currency": order["proceeds"]["grandTotal"]["currencyCode"],
        "grandTotal": amount(order["proceeds"]["grandTotal"]),
        "deliveryTip": {"amount": amount(tips[0]["subtotal"]), "status": tips[0]["status"]} if tips else None,
        "purchaseOrderNumber": order.get("buyer", {}).get("buyerPurchaseOrderNumber"),
        "buyerTaxRegistration": {"type": registrations[0]["taxRegistrationType"],
                                 "number": registrations[0]["taxRegistrationNumber"]} if registrations else None,
        "items": items}


def decimals(truth_money: dict) -> dict:
    """The ground truth's money with its amount strings read as Decimal, as as_truth reads Amazon's (the digits
    are checked on the JSON itself)."""
    def item(entry: dict) -> dict:
        return {**entry, "unitPrice": Decimal(entry["unitPrice"]), "proceedsTotal": Decimal(entry["proceedsTotal"]),
                **{part: {k: Decimal(v) for k, v in entry[part].items()} for part in ("amounts", "tax", "discount")}}

    tip = truth_money["deliveryTip"]
    return {**truth_money, "grandTotal": Decimal(truth_money["grandTotal"]),
            "deliveryTip": {**tip, "amount": Decimal(tip["amount"])} if tip else None,
            "items": [item(entry) for entry in truth_money["items"]]}


def money_objects(node):
    """Every Money ({amount, currencyCode}) anywhere in an order."""
    if isinstance(node, dict):
        if set(node) == {"amount", "currencyCode"}:
            yield node
        else:
            for value in node.values():
                yield from money_objects(value)
    elif isinstance(node, list):
        for value in node:
            yield from money_objects(value)


def breakdown(entries: list[dict], kind: str) -> Decimal:
    return sum((amount(b["subtotal"]) for b in entries if b["type"] == kind), Decimal(0))


# ---- every order --------------------------------------------------------------------------------------------

def test_every_order_adds_up_exactly_in_its_currency_digits(world):
    for order, truth in priced(world):
        currency = truth["money"]["currency"]
        pattern = AMOUNT[DIGITS.get(currency, 2)]
        for money in money_objects(order):
            assert money["currencyCode"] == currency and pattern.fullmatch(money["amount"]), (order["orderId"], money)
        item_totals = Decimal(0)
        for item in order["orderItems"]:
            proceeds = item["proceeds"]
            assert sum(amount(b["subtotal"]) for b in proceeds["breakdowns"]) == amount(proceeds["proceedsTotal"])
            for entry in proceeds["breakdowns"]:
                if "detailedBreakdowns" in entry:
                    assert entry["type"] in ("TAX", "DISCOUNT")
                    assert sum(amount(d["value"]) for d in entry["detailedBreakdowns"]) == amount(entry["subtotal"])
                assert (amount(entry["subtotal"]) < 0) == (entry["type"] == "DISCOUNT"), (order["orderId"], entry)
            item_totals += amount(proceeds["proceedsTotal"])
        order_breakdowns = order["proceeds"]["breakdowns"]
        tip = breakdown(order_breakdowns, "DELIVERY_TIP")
        assert item_totals + tip == amount(order["proceeds"]["grandTotal"]), order["orderId"]
        for kind in (*CHARGES, "TAX", "DISCOUNT"):
            items_sum = sum(breakdown(i["proceeds"]["breakdowns"], kind) for i in order["orderItems"])
            assert breakdown(order_breakdowns, kind) == items_sum, (order["orderId"], kind)
        assert len({b["type"] for b in order_breakdowns}) == len(order_breakdowns)


def test_unit_price_is_the_shelf_price_with_tax_only_where_prices_include_it(world):
    for order, truth in priced(world):
        inclusive = truth["money"]["taxInclusive"]
        assert inclusive == TAX_INCLUSIVE[truth["money"]["currency"]]
        for item in as_truth(order)["items"]:
            shelf = item["amounts"]["ITEM"] + (item["tax"]["ITEM"] if inclusive else 0)
            assert item["unitPrice"] * item["quantity"] == shelf, (order["orderId"], item["orderItemId"])


def test_every_order_matches_its_ground_truth(world):
    for order, truth in world:
        if truth["money"] is None:  # not priced yet: Amazon shows no amounts
            assert "proceeds" not in order and all("price" not in i["product"] for i in order["orderItems"])
            continue
        expected = decimals(truth["money"])
        del expected["taxInclusive"]
        assert as_truth(order) == expected, order["orderId"]


def test_money_is_the_same_for_the_same_seed(world):
    """A world built here from the emulator's start arguments prices every order exactly as the server does."""
    args = dict(zip(EMULATOR_ARGS[::2], EMULATOR_ARGS[1::2], strict=True))
    clock = int(parse_iso(EMULATOR_CLOCK).timestamp())
    again = World(int(args["--seed"]), int(args["--orders"]), clock - int(args["--history-days"]) * 86400,
                  clock + int(args["--future-days"]) * 86400)
    for _, truth in priced(world):
        idx = again.by_id[truth["orderId"]]
        assert ground_truth(again.money(idx), truth["status"]) == truth["money"]


# ---- each kind of amount occurs -------------------------------------------------------------------------------

def _items(order):
    return as_truth(order)["items"]


def us_sales_tax_on_item_and_shipping(order, truth):
    return truth["money"]["currency"] == "USD" and any(
        i["tax"]["ITEM"] > 0 and i["tax"]["SHIPPING"] > 0 and i["taxCollectionModel"] == "MARKETPLACE_FACILITATOR"
        for i in _items(order))


def vat_inside_the_shelf_price(order, truth):
    return truth["money"]["taxInclusive"] and any(i["tax"]["ITEM"] > 0 for i in _items(order))


def item_promotion(order, truth):
    return any(i["discount"]["ITEM"] < 0 and any("PCT-OFF" in p for p in i["promotionIds"]) for i in _items(order))


def discount_lowers_the_tax_not_the_rate(order, truth):
    """A discounted item's TAX[ITEM] is the full rate on ITEM (to the currency's last digit); what the discount
    saves is TAX[DISCOUNT]."""
    money = truth["money"]
    rates = {"USD": ("0.1035", "0.0825", "0.08875"), "GBP": ("0.20",), "EUR": ("0.19",), "JPY": ("0.10",)}
    digit = Decimal(1) if money["currency"] == "JPY" else Decimal("0.01")
    return any(i["discount"]["ITEM"] < 0 and i["tax"]["DISCOUNT"] < 0
               and any(abs(i["tax"]["ITEM"] - i["amounts"]["ITEM"] * Decimal(rate)) <= digit
                       for rate in rates[money["currency"]]) for i in _items(order))


def free_shipping_promotion(order, truth):
    return any(i["discount"]["SHIPPING"] == -i["amounts"]["SHIPPING"] < 0
               and any("FREE-SHIPPING" in p for p in i["promotionIds"]) for i in _items(order))


def gift_wrap_with_its_tax(order, truth):
    wrapped = [item for item in order["orderItems"]
               if item["fulfillment"].get("packing", {}).get("giftOption", {}).get("giftWrapLevel")]
    return any(i["amounts"]["GIFT_WRAP"] > 0 and i["tax"]["GIFT_WRAP"] > 0 for i in _items(order)) and bool(wrapped)


def cod_fee_with_its_tax(order, truth):
    return truth["money"]["currency"] == "JPY" and any(
        i["amounts"]["COD_FEE"] + i["tax"]["COD_FEE"] == 330 and i["tax"]["COD_FEE"] == 30 for i in _items(order))


def delivery_tip_pending(order, truth):
    return (truth["money"]["deliveryTip"] or {}).get("status") == "PENDING" and truth["status"] != "SHIPPED"


def delivery_tip_finalized(order, truth):
    return (truth["money"]["deliveryTip"] or {}).get("status") == "FINALIZED" and truth["status"] == "SHIPPED"


def business_order_in_the_eu_or_uk(order, truth):
    registration = as_truth(order)["buyerTaxRegistration"]
    return (order.get("buyer", {}).get("buyerPurchaseOrderNumber", "").startswith("PO-") and registration is not None
            and registration["type"] == "VAT" and registration["number"][:2] in ("GB", "DE"))


def business_order_elsewhere(order, truth):
    registration = as_truth(order)["buyerTaxRegistration"]
    return (order.get("buyer", {}).get("buyerPurchaseOrderNumber", "").startswith("PO-") and registration is not None
            and registration["type"] == "BUSINESS")


def ioss_import(order, truth):
    return truth["money"]["currency"] == "EUR" and all(
        i["reportingScheme"] == "IOSS" and i["taxCollectionModel"] == "MARKETPLACE_FACILITATOR" for i in _items(order))


def tax_without_detailed_breakdowns(order, truth):
    return any(b["type"] == "TAX" and "detailedBreakdowns" not in b
               for i in order["orderItems"] for b in i["proceeds"]["breakdowns"])


@pytest.mark.parametrize("feature", [
    us_sales_tax_on_item_and_shipping, vat_inside_the_shelf_price, item_promotion, discount_lowers_the_tax_not_the_rate,
    free_shipping_promotion,
    gift_wrap_with_its_tax, cod_fee_with_its_tax, delivery_tip_pending, delivery_tip_finalized,
    business_order_in_the_eu_or_uk, business_order_elsewhere, ioss_import, tax_without_detailed_breakdowns,
], ids=lambda feature: feature.__name__)
def test_each_kind_of_amount_occurs(world, feature):
    assert any(feature(order, truth) for order, truth in priced(world))


def test_every_tax_inclusive_marketplace_and_currency_is_priced(world):
    by_currency = defaultdict(int)
    for _, truth in priced(world):
        by_currency[truth["money"]["currency"]] += 1
    assert set(by_currency) == set(TAX_INCLUSIVE) and min(by_currency.values()) > 100


def test_amazons_example_shape_tax_on_top_in_the_us(world):
    """Amazon's published US order: one item at 39.99 plus TAX 10.00, no shipping charge, grand total 49.99."""
    for order, truth in priced(world):
        items = order["orderItems"]
        if truth["money"]["currency"] != "USD" or len(items) != 1:
            continue
        order_types = [b["type"] for b in order["proceeds"]["breakdowns"]]
        item_types = [b["type"] for b in items[0]["proceeds"]["breakdowns"]]
        if order_types == item_types == ["ITEM", "TAX"]:
            item_amount = breakdown(items[0]["proceeds"]["breakdowns"], "ITEM")
            tax = breakdown(items[0]["proceeds"]["breakdowns"], "TAX")
            assert amount(order["proceeds"]["grandTotal"]) == item_amount + tax > item_amount > 0
            assert amount(items[0]["product"]["price"]["unitPrice"]) * items[0]["quantityOrdered"] == item_amount
            return
    pytest.fail("no US order in the shape of Amazon's example")


def test_money_blocks_come_only_when_asked_for(emulator):
    session = api_session(emulator)

    def page(included: str) -> list[dict]:
        params = {"lastUpdatedAfter": "2026-03-09T00:00:00Z", "lastUpdatedBefore": "2026-03-10T00:00:00Z",
                  "fulfillmentStatuses": "UNSHIPPED,SHIPPED", "includedData": included}
        return session.get(f"{emulator.base_url}/orders/2026-01-01/orders", params=params).json()["orders"]

    proceeds_only, promotion_and_tax = page("PROCEEDS"), page("PROMOTION,TAX")
    items = [i for o in proceeds_only for i in o["orderItems"]]
    assert all("proceeds" in o and "tax" not in o for o in proceeds_only)
    assert all("proceeds" in i and "promotion" not in i and "tax" not in i for i in items)
    items = [i for o in promotion_and_tax for i in o["orderItems"]]
    assert all("proceeds" not in o for o in promotion_and_tax) and any("tax" in o for o in promotion_and_tax)
    assert all("proceeds" not in i for i in items)
    assert any("promotion" in i for i in items) and any("tax" in i for i in items)


# ---- the tip settles when the order ships ----------------------------------------------------------------------

def test_delivery_tip_is_pending_until_the_order_ships_then_finalized(world, emulator):
    order = next(o for o, t in world if t["status"] == "UNSHIPPED" and o["fulfillment"]["fulfilledBy"] == "MERCHANT"
                 and delivery_tip_pending(o, t))
    before = emulator.get(f"orders/{order['orderId']}")
    assert before["money"]["deliveryTip"]["status"] == "PENDING"
    session = api_session(emulator)
    confirmation = session.post(
        f"{emulator.base_url}/orders/v0/orders/{order['orderId']}/shipmentConfirmation",
        json={"marketplaceId": order["salesChannel"]["marketplaceId"], "packageDetail": {
            "packageReferenceId": "1", "carrierCode": "UPS", "trackingNumber": "1Z999AA10123456784",
            "shipDate": "2026-03-10T11:30:00Z",
            "orderItems": [{"orderItemId": i["orderItemId"], "quantity": i["quantityOrdered"]}
                           for i in order["orderItems"]]}})
    assert confirmation.status_code == 204, confirmation.text

    after = emulator.get(f"orders/{order['orderId']}")
    assert after["status"] == "SHIPPED"
    assert after["money"]["deliveryTip"] == {**before["money"]["deliveryTip"], "status": "FINALIZED"}
    assert {k: v for k, v in after["money"].items() if k != "deliveryTip"} == \
        {k: v for k, v in before["money"].items() if k != "deliveryTip"}
    amazon = session.get(f"{emulator.base_url}/orders/2026-01-01/orders/{order['orderId']}",
                         params={"includedData": BLOCKS}).json()["order"]
    assert [b["status"] for b in amazon["proceeds"]["breakdowns"] if b["type"] == "DELIVERY_TIP"] == ["FINALIZED"]
    assert after["order"]["proceeds"] == amazon["proceeds"]
