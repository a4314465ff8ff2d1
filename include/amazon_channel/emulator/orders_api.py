"""Orders API v2026-01-01 (reads): searchOrders `GET /orders/2026-01-01/orders` and getOrder
`GET /orders/2026-01-01/orders/{orderId}`, with Amazon's parameter rules and pagination tokens.

A paginationToken is base64 JSON {c: cursor position, t: time of the first page, f: fingerprint of the
search parameters}; it expires after page_token_ttl and only works with the same parameters.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass

from fastapi import APIRouter, Request

from ..timeutil import from_epoch, iso_z
from .gateway import amazon_call, owned_order
from .http import ApiError, list_param, time_param
from .order_json import INCLUDED_DATA
from .state import Emulator, EmulatorDep, SellerRegion
from .world import World

SEARCH_PARAMS = ("createdAfter", "createdBefore", "lastUpdatedAfter", "lastUpdatedBefore",
                 "fulfillmentStatuses", "marketplaceIds", "fulfilledBy")  # a next page must repeat these
FULFILLMENT_STATUSES = {"PENDING_AVAILABILITY", "PENDING", "UNSHIPPED", "PARTIALLY_SHIPPED", "SHIPPED",
                        "CANCELLED", "UNFULFILLABLE"}

router = APIRouter(prefix="/orders/2026-01-01")


def included_data(request: Request) -> set[str]:
    included = set(list_param(request, "includedData") or [])
    unknown = included - INCLUDED_DATA
    if unknown:
        raise ApiError(400, "InvalidInput", f"includedData has unknown values {sorted(unknown)}; "
                                            f"allowed: {sorted(INCLUDED_DATA)}")
    return included


def _resume_point(emulator: Emulator, request: Request, now: int,
                  fingerprint: str) -> tuple[tuple | None, int | None]:
    """(cursor, time the first page was issued) from the paginationToken; (None, None) for a first page."""
    token = request.query_params.get("paginationToken")
    if token is None:
        return None, None
    try:
        decoded = json.loads(base64.b64decode(token, validate=True))
        cursor, issued, token_fingerprint = tuple(decoded["c"]), decoded["t"], decoded["f"]
    except (ValueError, KeyError, TypeError):
        raise ApiError(400, "InvalidInput", "paginationToken is not a token this API issued") from None
    if now - issued > emulator.config.page_token_ttl:
        raise ApiError(400, "InvalidInput", "paginationToken has expired; start the search again")
    if token_fingerprint != fingerprint:
        raise ApiError(400, "InvalidInput", "paginationToken must be sent with the same search parameters "
                                            "as the request that returned it (only maxResultsPerPage and "
                                            "includedData may change)")
    return cursor, issued


def _window(request: Request, now: int) -> tuple[bool, int, int]:
    """(by creation time?, after, before) of the search; before defaults to two minutes ago, Amazon's latest."""
    created_after, created_before = time_param(request, "createdAfter"), time_param(request, "createdBefore")
    updated_after, updated_before = time_param(request, "lastUpdatedAfter"), time_param(request, "lastUpdatedBefore")
    if (created_after is None) == (updated_after is None):
        raise ApiError(400, "InvalidInput", "Exactly one of createdAfter and lastUpdatedAfter must be provided")
    if created_after is not None and updated_before is not None:
        raise ApiError(400, "InvalidInput", "lastUpdatedBefore cannot be combined with createdAfter")
    if updated_after is not None and created_before is not None:
        raise ApiError(400, "InvalidInput", "createdBefore cannot be combined with lastUpdatedAfter")
    if created_after is None and created_before is not None:
        raise ApiError(400, "InvalidInput", "createdBefore requires createdAfter")
    by_created = created_after is not None
    latest = now - 120
    after = created_after if by_created else updated_after
    before_name = "createdBefore" if by_created else "lastUpdatedBefore"
    before = created_before if by_created else updated_before
    if before is not None and before > latest:
        raise ApiError(400, "InvalidInput", f"{before_name} must be at least two minutes before the time of the "
                                            f"request ({iso_z(from_epoch(latest))} or earlier)")
    if before is None:
        before = latest
    if after > before:
        raise ApiError(400, "InvalidInput", f"{before_name} must be equal to or after the matching *After date")
    return by_created, after, before


@dataclass(frozen=True)
class _Filters:
    statuses: list[str] | None
    marketplaces: list[str] | None
    fulfilled_by: list[str] | None
    page_size: int

    @classmethod
    def parse(cls, request: Request, accepted_marketplaces: frozenset[str]) -> _Filters:
        statuses = list_param(request, "fulfillmentStatuses")
        if statuses and set(statuses) - FULFILLMENT_STATUSES:
            raise ApiError(400, "InvalidInput", f"fulfillmentStatuses has unknown values "
                                                f"{sorted(set(statuses) - FULFILLMENT_STATUSES)}")
        marketplaces = list_param(request, "marketplaceIds")
        if marketplaces and len(marketplaces) > 50:
            raise ApiError(400, "InvalidInput", "marketplaceIds accepts at most 50 values")
        if marketplaces and set(marketplaces) - accepted_marketplaces:  # unknown, or another region's
            raise ApiError(400, "InvalidInput",
                           f"Invalid marketplaceIds {sorted(set(marketplaces) - accepted_marketplaces)}")
        fulfilled_by = list_param(request, "fulfilledBy")
        if fulfilled_by and set(fulfilled_by) - {"MERCHANT", "AMAZON"}:
            raise ApiError(400, "InvalidInput", "fulfilledBy accepts MERCHANT and AMAZON")
        raw_size = request.query_params.get("maxResultsPerPage", "100")
        if not raw_size.isdigit() or not 1 <= int(raw_size) <= 100:
            raise ApiError(400, "InvalidInput", "maxResultsPerPage must be an integer between 1 and 100")
        return cls(statuses, marketplaces, fulfilled_by, int(raw_size))

    def accept(self, world: World, idx: int, now: int) -> bool:
        record = world.records[idx]
        if self.marketplaces and record.marketplace.marketplace_id not in self.marketplaces:
            return False
        if self.fulfilled_by and ("AMAZON" if record.fba else "MERCHANT") not in self.fulfilled_by:
            return False
        if self.statuses and world.status(idx, now) not in self.statuses:
            return False
        return True


def search_orders(emulator: Emulator, seller: SellerRegion, request: Request) -> dict:
    now = emulator.now()
    params = {name: request.query_params.getlist(name) for name in SEARCH_PARAMS if name in request.query_params}
    fingerprint = hashlib.sha256(json.dumps(sorted(params.items())).encode()).hexdigest()[:16]
    cursor, issued = _resume_point(emulator, request, now, fingerprint)
    by_created, after, before = _window(request, now)
    filters = _Filters.parse(request, seller.accepts)
    included = included_data(request)

    world = seller.world
    scan = (world.created_between if by_created else world.changes_between)(after, before, now, cursor)
    positions, orders, has_more = [], [], False
    for position, idx in scan:
        if not filters.accept(world, idx, now):
            continue
        if len(orders) == filters.page_size:
            has_more = True
            break
        positions.append(position)
        orders.append(world.order_json(idx, now, included))
    response: dict = {"orders": orders}
    if has_more:
        resume = positions[-1]
        if len(positions) > 1 and emulator.config.repeat_rate and emulator.rng.random() < emulator.config.repeat_rate:
            resume = positions[-2]  # fault: the last order shows up again on the next page
        payload = {"c": list(resume), "t": issued or now, "f": fingerprint}
        response["pagination"] = {"nextToken": base64.b64encode(json.dumps(payload).encode()).decode()}
    response["createdBefore" if by_created else "lastUpdatedBefore"] = iso_z(from_epoch(before))
    return response


@router.get("/orders")
async def search_orders_route(request: Request, emulator: EmulatorDep):
    return await amazon_call(emulator, request, "searchOrders", lambda seller: search_orders(emulator, seller, request))


def get_order(emulator: Emulator, seller: SellerRegion, request: Request, order_id: str) -> dict:
    included = included_data(request)
    idx = owned_order(emulator, seller, order_id)
    return {"order": seller.world.order_json(idx, emulator.now(), included)}


@router.get("/orders/{order_id}")
async def get_order_route(request: Request, order_id: str, emulator: EmulatorDep):
    return await amazon_call(emulator, request, "getOrder",
                             lambda seller: get_order(emulator, seller, request, order_id))
