"""An order as Orders API v2026-01-01 shows it: items, buyer, recipient, proceeds, fulfillment, packages.

`render_order` turns the world's view of one order at a given time into Amazon's JSON, with only the
includedData blocks asked for. Money is `{amount, currencyCode}` in the marketplace currency's decimals.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from ..timeutil import from_epoch, iso_z
from .marketplaces import Marketplace
from .model import SHIPPED, OrderState

if TYPE_CHECKING:
    from .world import World

# The includedData blocks Orders v2026-01-01 knows (the emulator renders BUYER, RECIPIENT, PROCEEDS,
# FULFILLMENT and PACKAGES; the others are accepted and add nothing).
INCLUDED_DATA = {"BUYER", "RECIPIENT", "PROCEEDS", "EXPENSE", "PROMOTION", "CANCELLATION", "FULFILLMENT",
                 "PACKAGES", "TAX", "PAYMENT", "FULFILLMENT_ORDERS"}


def _money(amount: Decimal, mp: Marketplace) -> dict:
    quantum = Decimal(1).scaleb(-mp.decimals)
    return {"amount": str(amount.quantize(quantum)), "currencyCode": mp.currency}


def render_order(world: World, idx: int, now: int, included: set[str]) -> dict:
    """The order as Orders API v2026-01-01 returns it at `now`, with only the requested blocks."""
    record = world.records[idx]
    mp = record.marketplace
    status = world.status(idx, now)
    last_time, _ = world.last_change(idx, now)
    info = world.details(idx)
    priced = world.ever_priced(idx, now)
    shipped, _ = world.quantities(idx)
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
    for item in info["items"]:
        product: dict = {"asin": item["asin"], "title": item["title"], "sellerSku": item["sku"],
                         "condition": {"conditionType": "NEW"}}
        if priced:
            product["price"] = {"unitPrice": _money(item["unit_price"], mp)}
        entry: dict = {"orderItemId": item["orderItemId"], "quantityOrdered": item["quantity"], "product": product}
        if "PROCEEDS" in included and priced:
            total = item["unit_price"] * item["quantity"]
            entry["proceeds"] = {"proceedsTotal": _money(total, mp),
                                 "breakdowns": [{"type": "ITEM", "subtotal": _money(total, mp)}]}
        if "FULFILLMENT" in included:
            done = shipped.get(item["orderItemId"], 0)
            fulfillment: dict = {"quantityFulfilled": done, "quantityUnfulfilled": item["quantity"] - done}
            if item["gift_message"]:
                fulfillment["packing"] = {"giftOption": {"giftMessage": item["gift_message"],
                                                         "giftWrapLevel": "STANDARD"}}
            entry["fulfillment"] = fulfillment
        items_json.append(entry)
    order["orderItems"] = items_json

    if "BUYER" in included and priced:
        buyer: dict = {}
        if not record.fba:  # Amazon shares no buyer identity for FBA orders
            buyer["buyerEmail"] = info["buyer_email"]
            buyer["buyerName"] = info["buyer_name"]
        if info["company"]:
            buyer["buyerCompanyName"] = info["company"]
            buyer["buyerPurchaseOrderNumber"] = info["purchase_order"]
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
        item_total = sum((i["unit_price"] * i["quantity"] for i in info["items"]), Decimal(0))
        order["proceeds"] = {
            "grandTotal": _money(item_total + info["shipping"], mp),
            "breakdowns": [{"type": "ITEM", "subtotal": _money(item_total, mp)},
                           {"type": "SHIPPING", "subtotal": _money(info["shipping"], mp)}],
        }
    if "FULFILLMENT" in included:
        fulfillment = {"fulfillmentStatus": status, "fulfilledBy": "AMAZON" if record.fba else "MERCHANT",
                       "fulfillmentServiceLevel": info["service_level"]}
        if not record.fba:
            fulfillment["shipByWindow"] = {"latestDateTime": iso_z(from_epoch(record.created + 2 * 86400))}
        order["fulfillment"] = fulfillment
    if "PACKAGES" in included:
        order["packages"] = _packages_json(world, idx, info, status)
    return order


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
