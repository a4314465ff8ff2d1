"""Orders API v0 confirmShipment: `POST /orders/v0/orders/{orderId}/shipmentConfirmation`, one package per call.

Validates like Amazon (marketplace, required package fields, a carrier code Amazon knows, tracking number, ship
date, quantities against what is still unshipped and not cancelled), stores the package in the world (the same
packageReferenceId edits it) and records the buyer's shipping notification for a new package.
Success is 204 with no body.
"""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi import APIRouter, Request

from ..timeutil import from_epoch, iso_z, parse_iso
from .gateway import amazon_call, owned_order
from .http import ApiError
from .model import CANCELLED, PARTIALLY_SHIPPED, SHIPPED, UNSHIPPED, Package
from .state import Emulator, EmulatorDep, SellerRegion
from .world import World

TRACKING_NUMBER = re.compile(r"^[A-Za-z0-9-]{6,40}$")
REQUIRED_FIELDS = ("packageReferenceId", "carrierCode", "trackingNumber", "shipDate", "orderItems")
# Part of Amazon's carrier code list (an unlisted carrier goes as "Other" with its carrierName); it holds at least
# every code the pipeline maps Commerce carriers to (shipping.DEFAULT_CARRIERS).
CARRIER_CODES = frozenset((
    "Other", "USPS", "UPS", "UPSMI", "FedEx", "FedEx SmartPost", "DHL", "DHL eCommerce", "DHL Global Mail",
    "OnTrac", "LaserShip", "Amazon Shipping", "Canada Post", "Purolator", "Royal Mail", "Parcelforce", "Yodel",
    "DPD", "Hermes", "Evri", "GLS", "Deutsche Post", "UPS Freight", "TNT", "Chronopost", "La Poste", "Colissimo",
    "Poste Italiane", "SDA", "BRT", "Correos", "SEUR", "MRW", "PostNL", "Japan Post", "Yamato Transport",
    "Sagawa Express", "Seino Transportation", "Australia Post", "India Post", "Blue Dart"))

router = APIRouter()


def confirm_shipment(emulator: Emulator, seller: SellerRegion, order_id: str, body: object) -> None:
    world = seller.world
    now = emulator.now()
    idx = owned_order(emulator, seller, order_id)
    if not isinstance(body, dict):
        raise ApiError(400, "InvalidInput", "The request body must be a JSON object")
    record = world.records[idx]
    if body.get("marketplaceId") != record.marketplace.marketplace_id:
        raise ApiError(400, "InvalidInput", "marketplaceId is missing or is not the order's marketplace")
    detail = body.get("packageDetail")
    if not isinstance(detail, dict):
        raise ApiError(400, "InvalidInput", "packageDetail is required")
    missing = [k for k in REQUIRED_FIELDS if detail.get(k) in (None, "", [])]
    if missing:
        raise ApiError(400, "InvalidInput", f"packageDetail is missing required fields: {', '.join(missing)}")
    ref = detail["packageReferenceId"]
    if not isinstance(ref, str) or not ref.isdigit() or int(ref) <= 0:
        raise ApiError(400, "InvalidInput", "packageReferenceId must be a positive number sent as a string")
    if detail["carrierCode"] not in CARRIER_CODES:
        raise ApiError(400, "InvalidInput", f"The carrier code {detail['carrierCode']!r} is not valid; use a code "
                                            "from Amazon's carrier list, or Other with carrierName")
    if detail["carrierCode"] == "Other" and not detail.get("carrierName"):
        raise ApiError(400, "InvalidInput", "carrierName is required when carrierCode is Other")
    if not isinstance(detail["trackingNumber"], str) or not TRACKING_NUMBER.match(detail["trackingNumber"]):
        raise ApiError(400, "InvalidInput", "The tracking number is invalid for the given carrier")
    try:
        ship_date = parse_iso(str(detail["shipDate"]))
    except ValueError:
        raise ApiError(400, "InvalidInput", "shipDate must be an ISO 8601 date-time") from None
    if ship_date > from_epoch(now) + timedelta(days=2):
        raise ApiError(400, "InvalidInput", "shipDate cannot be in the future")
    if record.fba:
        raise ApiError(400, "InvalidInput", "The order is fulfilled by Amazon and cannot be confirmed by the seller")
    status = world.status(idx, now)
    existing = world.states.get(idx)
    editing = existing is not None and ref in existing.packages
    if status == CANCELLED:
        raise ApiError(400, "InvalidInput", "The order is cancelled and cannot be shipped")
    if status not in (UNSHIPPED, PARTIALLY_SHIPPED) and not (status == SHIPPED and editing):
        raise ApiError(400, "InvalidInput", f"The order cannot be confirmed in status {status}")
    items = _package_items(world, idx, order_id, detail["orderItems"], existing.packages[ref] if editing else None)
    package = Package(ref, detail["carrierCode"], detail.get("carrierName"), detail.get("shippingMethod"),
                      detail["trackingNumber"], iso_z(ship_date), items, iso_z(from_epoch(now)))
    if world.confirm_package(idx, package, now):
        world.notifications.append({**seller.tag(), "orderId": order_id, "packageReferenceId": ref,
                                    "sentAt": iso_z(from_epoch(now)), "trackingNumber": package.tracking_number,
                                    "message": "Your package is on its way"})
    return None


def _package_items(world: World, idx: int, order_id: str, order_items: object,
                   edited: Package | None) -> dict[str, int]:
    """orderItemId -> quantity of the package, checked against what is still unshipped (an edited package's
    own quantities count as unshipped)."""
    shipped, ordered = world.quantities(idx)
    state = world.states.get(idx)
    cancelled = state.cancelled if state else {}
    if edited is not None:
        for item_id, qty in edited.items.items():
            shipped[item_id] -= qty
    items: dict[str, int] = {}
    for item in order_items if isinstance(order_items, list) else []:
        item_id, qty = (item.get("orderItemId"), item.get("quantity")) if isinstance(item, dict) else (None, None)
        if item_id not in ordered:
            raise ApiError(400, "InvalidInput", f"orderItemId {item_id} is not an item of order {order_id}")
        if item_id in cancelled:
            raise ApiError(400, "InvalidInput", f"orderItemId {item_id} has been cancelled and cannot be shipped")
        if not isinstance(qty, int) or isinstance(qty, bool) or qty <= 0:
            raise ApiError(400, "InvalidInput", f"quantity for orderItemId {item_id} must be a positive integer")
        items[item_id] = items.get(item_id, 0) + qty
        if shipped[item_id] + items[item_id] > ordered[item_id]:
            raise ApiError(400, "InvalidInput", f"quantity for orderItemId {item_id} exceeds the unshipped "
                                                f"quantity ({ordered[item_id] - shipped[item_id]})")
    if not items:
        raise ApiError(400, "InvalidInput", "orderItems must list at least one item")
    return items


@router.post("/orders/v0/orders/{order_id}/shipmentConfirmation")
async def confirm_shipment_route(request: Request, order_id: str, emulator: EmulatorDep):
    try:
        body = await request.json()
    except ValueError:
        body = None
    return await amazon_call(emulator, request, "confirmShipment",
                             lambda seller: confirm_shipment(emulator, seller, order_id, body))
