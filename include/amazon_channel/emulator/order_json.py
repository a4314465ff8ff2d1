"""An order as Orders API v2026-01-01 shows it: items, buyer, recipient, proceeds, promotions, tax, fulfillment,
cancellations, packages.

`render_order` turns the world's view of one order at a given time into Amazon's JSON, with only the
includedData blocks asked for. Money is `{amount, currencyCode}` in the marketplace currency's decimals; the
amounts come from money.py, and a zero category is left out as Amazon does.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from ..timeutil import from_epoch, iso_z
from .marketplaces import Marketplace
from .model import (
    DELIVERY_EARLIEST_SECONDS,
    DELIVERY_PROMISE_SECONDS,
    SHIP_BY_SECONDS,
    SHIPPED,
    OrderRecord,
    OrderState,
)
from .money import ItemMoney, OrderMoney, delivery_tip_status

if TYPE_CHECKING:
    from .world import World

# The includedData blocks Orders v2026-01-01 knows (the emulator renders BUYER, RECIPIENT, PROCEEDS, PROMOTION,
# TAX, CANCELLATION, FULFILLMENT and PACKAGES; the others are accepted and add nothing).
INCLUDED_DATA = {"BUYER", "RECIPIENT", "PROCEEDS", "EXPENSE", "PROMOTION", "CANCELLATION", "FULFILLMENT",
                 "PACKAGES", "TAX", "PAYMENT", "FULFILLMENT_ORDERS"}


QUANTUM = {digits: Decimal(1).scaleb(-digits) for digits in range(4)}  # by the currency's decimals


def _money(amount: Decimal, mp: Marketplace) -> dict:
    return {"amount": str(amount.quantize(QUANTUM[mp.decimals])), "currencyCode": mp.currency}


def render_order(world: World, idx: int, now: int, included: set[str]) -> dict:
    """The order as Orders API v2026-01-01 returns it at `now`, with only the requested blocks."""
    record = world.records[idx]
    mp = record.marketplace
    status = world.status(idx, now)
    last_time, _ = world.last_change(idx, now)
    info = world.details(idx)
    priced = world.ever_priced(idx, now)
    money = world.money(idx)  # amounts are shown once Amazon prices the order; whether an item is wrapped, always
    shipped, _ = world.quantities(idx)
    cancellations = world.cancellations(idx, now) if {"CANCELLATION", "FULFILLMENT"} & included else {}
    if record.fba and status == SHIPPED:
        shipped = {item["orderItemId"]: item["quantity"] for item in info["items"]}
    programs = []
    if info["prime"]:
        programs.append("PRIME")
    if info["company"]:
        programs.append("AMAZON_BUSINESS")
    if record.fate == "preorder":
        programs.append("PREORDER")

    order: dict = {
        "orderId": record.order_id,
        "createdTime": iso_z(from_epoch(record.created)),
        "lastUpdatedTime": iso_z(from_epoch(last_time)),
        "programs": programs,
        "salesChannel": {"channelName": "AMAZON", "marketplaceId": mp.marketplace_id, "marketplaceName": mp.name},
    }
    items_json = []
    for item, item_money in zip(info["items"], money.items, strict=True):
        product: dict = {"asin": item["asin"], "title": item["title"], "sellerSku": item["sku"],
                         "condition": {"conditionType": "NEW"}}
        if priced:
            product["price"] = {"unitPrice": _money(item_money.unit_price, mp)}
        entry: dict = {"orderItemId": item["orderItemId"], "quantityOrdered": item["quantity"], "product": product}
        if "PROCEEDS" in included and priced:
            entry["proceeds"] = _item_proceeds(item_money, money.terse, mp)
        if "PROMOTION" in included and priced and item_money.promotion_ids:
            entry["promotion"] = {"breakdowns": [{"promotionId": p} for p in item_money.promotion_ids]}
        if "FULFILLMENT" in included:
            done = shipped.get(item["orderItemId"], 0)
            executed = "cancellationExecution" in cancellations.get(item["orderItemId"], {})
            # A cancelled item has nothing left to ship: its cancelled units are ordered - fulfilled - unfulfilled.
            fulfillment: dict = {"quantityFulfilled": done,
                                 "quantityUnfulfilled": 0 if executed else item["quantity"] - done}
            if item["gift_message"]:
                gift: dict = {"giftMessage": item["gift_message"]}
                if item_money.amounts["GIFT_WRAP"]:  # a gift message may come without gift wrap
                    gift["giftWrapLevel"] = "STANDARD"
                fulfillment["packing"] = {"giftOption": gift}
            entry["fulfillment"] = fulfillment
        if "CANCELLATION" in included and item["orderItemId"] in cancellations:
            entry["cancellation"] = cancellations[item["orderItemId"]]
        if "TAX" in included and priced:
            item_tax = _item_tax(item_money)
            if item_tax:
                entry["tax"] = item_tax
        items_json.append(entry)
    order["orderItems"] = items_json

    if "BUYER" in included and priced:
        buyer: dict = {}
        if not record.fba:  # Amazon shares no buyer identity for FBA orders
            buyer["buyerEmail"] = info["buyer_email"]
            buyer["buyerName"] = info["buyer_name"]
        if info["company"]:
            buyer["buyerCompanyName"] = info["company"]
            buyer["buyerPurchaseOrderNumber"] = money.purchase_order_number
        order["buyer"] = buyer
    if "RECIPIENT" in included and priced:
        address: dict = {"city": info["city"], "stateOrRegion": info["region"],
                         "postalCode": info["postal"], "countryCode": mp.country}
        if not record.fba:  # FBA: no name, street or phone
            address.update(name=info["buyer_name"], addressLine1=info["street"], phone=info["phone"],
                           addressType="COMMERCIAL" if info["company"] else "RESIDENTIAL")
            if info["company"]:
                address["companyName"] = info["company"]
        order["recipient"] = {"deliveryAddress": address}
    if "PROCEEDS" in included and priced:
        order["proceeds"] = _order_proceeds(money, status, mp)
    if "TAX" in included and priced and money.buyer_registration:
        registration_type, number = money.buyer_registration
        order["tax"] = {"taxRegistrations": [{"entityType": "BUYER", "legalName": money.buyer_legal_name,
                                              "taxRegistrationType": registration_type,
                                              "taxRegistrationNumber": number}]}
    if "FULFILLMENT" in included:
        fulfillment = {"fulfillmentStatus": status, "fulfilledBy": "AMAZON" if record.fba else "MERCHANT",
                       "fulfillmentServiceLevel": info["service_level"]}
        if not record.fba:
            fulfillment["shipByWindow"] = {"latestDateTime": iso_z(from_epoch(record.created + SHIP_BY_SECONDS))}
        earliest, latest = delivery_promise(record)
        fulfillment["deliverByWindow"] = {"earliestDateTime": iso_z(from_epoch(earliest)),
                                          "latestDateTime": iso_z(from_epoch(latest))}
        order["fulfillment"] = fulfillment
    if "PACKAGES" in included:
        order["packages"] = _packages_json(world, idx, info, status)
    return order


def delivery_promise(record: OrderRecord) -> tuple[int, int]:
    """(earliest, latest) epoch seconds of the order's deliverByWindow. Derived from the record alone (no random
    draw, so every other part of the seeded world stays as it was): a merchant order is delivered 2 to 5 days after
    its ship-by date, an FBA order (Amazon ships within about a day) 2 to 5 days after its creation."""
    start = record.created if record.fba else record.created + SHIP_BY_SECONDS
    return start + DELIVERY_EARLIEST_SECONDS, start + DELIVERY_PROMISE_SECONDS


def _item_proceeds(item: ItemMoney, terse: bool, mp: Marketplace) -> dict:
    """Item proceeds: the charges, then TAX and DISCOUNT with what they apply to in detailedBreakdowns."""
    breakdowns = [{"type": charge, "subtotal": _money(amount, mp)}
                  for charge, amount in item.amounts.items() if amount or charge == "ITEM"]
    for category, parts in (("TAX", item.tax), ("DISCOUNT", item.discount)):
        applied = {subtype: value for subtype, value in parts.items() if value}
        if not applied:
            continue
        breakdown: dict = {"type": category, "subtotal": _money(sum(applied.values()), mp)}
        if not (terse and list(applied) == ["ITEM"]):  # without details, Amazon's TAX/DISCOUNT applies to ITEM
            breakdown["detailedBreakdowns"] = [{"subtype": subtype, "value": _money(value, mp)}
                                               for subtype, value in applied.items()]
        breakdowns.append(breakdown)
    return {"proceedsTotal": _money(item.proceeds_total, mp), "breakdowns": breakdowns}


def _order_proceeds(money: OrderMoney, status: str | None, mp: Marketplace) -> dict:
    """Order proceeds: the item categories summed over the items, plus the order's own DELIVERY_TIP."""
    breakdowns = [{"type": category, "subtotal": _money(amount, mp)}
                  for category, amount in money.category_totals.items() if amount or category == "ITEM"]
    if money.delivery_tip is not None:
        breakdowns.append({"type": "DELIVERY_TIP", "status": delivery_tip_status(status),
                           "subtotal": _money(money.delivery_tip, mp)})
    return {"grandTotal": _money(money.grand_total, mp), "breakdowns": breakdowns}


def _item_tax(item: ItemMoney) -> dict:
    """Who collects the item's tax, and under which reporting scheme (empty when the seller remits it)."""
    tax: dict = {}
    if item.reporting_scheme:
        tax["taxCalculationBreakdowns"] = [{"reportingScheme": item.reporting_scheme}]
    if item.tax_collector:
        tax["taxCollections"] = [{"model": "MARKETPLACE_FACILITATOR", "responsibleParty": item.tax_collector}]
    return tax


def _packages_json(world: World, idx: int, info: dict, status: str) -> list[dict]:
    record = world.records[idx]
    if record.fba:
        if status != SHIPPED:
            return []
        shipped_at = iso_z(from_epoch(record.events[-1][0]))
        return [{"packageReferenceId": "1", "createdTime": shipped_at, "shipTime": shipped_at,
                 "packageStatus": {"status": "SHIPPED"}, "carrier": "AMZN",
                 "trackingNumber": f"TBA{record.seed % 10**12:012d}",
                 "packageItems": [{"orderItemId": i["orderItemId"], "quantity": i["quantity"]} for i in info["items"]]}]
    packages = []
    for pkg in world.states.get(idx, OrderState()).packages.values():
        packages.append({
            "packageReferenceId": pkg.package_reference_id, "createdTime": pkg.received_at,
            "shipTime": pkg.ship_date, "packageStatus": {"status": "SHIPPED"},
            "carrier": pkg.carrier_name or pkg.carrier_code, "shippingService": pkg.shipping_method or "Standard",
            "trackingNumber": pkg.tracking_number,
            "packageItems": [{"orderItemId": k, "quantity": v} for k, v in pkg.items.items()],
        })
    return packages
