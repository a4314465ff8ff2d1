"""What every Amazon-facing operation passes through: the access token check, the operation's token bucket,
fault injection (slow answers, throttling storms, 500/503), Amazon's headers and error bodies.

With `--sellers` the token also decides whose data the call sees: it is bound to one seller in one region, and is
refused (403, as Amazon refuses it) on another region's path prefix.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

from fastapi import Request
from fastapi.responses import Response

from .http import ApiError, error_response, json_response
from .marketplaces import REGIONS
from .state import Emulator, SellerRegion

DENIED = "Access to requested resource is denied."


def path_region(request: Request) -> str | None:
    """The region whose path prefix the request came in on (/na, /eu, /fe); None on the unprefixed paths."""
    first = request.url.path.split("/", 2)[1]
    return first if first in REGIONS else None


async def amazon_call(emulator: Emulator, request: Request, operation: str | None,
                      handler: Callable[[SellerRegion], dict | None], status: int = 200) -> Response:
    """Auth, rate limit, fault injection and Amazon's headers around one Amazon-facing call.

    `handler` does the operation's work for the token's seller-region (raising ApiError for 4xx answers); None
    means 204 No Content, a dict is the body of a `status` answer.
    """
    request_id = str(uuid.uuid4())
    cfg = emulator.config
    headers = {"x-amzn-RequestId": request_id}
    token = request.headers.get("x-amz-access-token")
    expires, seller = emulator.access_tokens.get(token or "", (None, None))
    counted = seller or emulator.single  # the single seller counts refused calls too; sellers count their own
    if operation and counted:
        counted.stats[operation]["requests"] += 1
    if cfg.slow_rate and emulator.rng.random() < cfg.slow_rate:
        await asyncio.sleep(cfg.slow_seconds)
    if expires is None or expires < time.monotonic():
        details = "The access token you provided has expired." if expires else "The access token is missing or invalid."
        return error_response(403, "Unauthorized", DENIED, details, headers)
    if seller.region != path_region(request):  # a token of one region is no good on another region's endpoint
        return error_response(403, "Unauthorized", DENIED, headers=headers)
    storm = cfg.throttle_rate and emulator.rng.random() < cfg.throttle_rate
    if operation and (storm or not seller.buckets[operation].try_acquire()):
        seller.stats[operation]["throttled"] += 1
        return error_response(429, "QuotaExceeded", "You exceeded your quota for the requested resource.",
                              headers=headers)
    if cfg.error_rate and emulator.rng.random() < cfg.error_rate:
        if operation:
            seller.stats[operation]["injected_errors"] += 1
        status = emulator.rng.choice((500, 503))
        code = "InternalFailure" if status == 500 else "ServiceUnavailable"
        return error_response(status, code, "We encountered an internal error. Please try again.", headers=headers)
    if operation:
        headers["x-amzn-RateLimit-Limit"] = f"{seller.buckets[operation].rate:g}"
    emulator.settle()
    try:
        result = handler(seller)
    except ApiError as err:
        if err.status not in (400, 404):
            headers.pop("x-amzn-RateLimit-Limit", None)
        return error_response(err.status, err.code, err.message, err.details, headers)
    if result is None:
        return Response(status_code=204, headers=headers)
    return json_response(result, headers, status)


def owned_order(emulator: Emulator, seller: SellerRegion, order_id: str) -> int:
    """The index of `order_id` in the seller-region's world: 403 when it is another seller's or region's order
    (Amazon denies access to other sellers' data), 404 when no world has it or it does not exist yet."""
    owner = emulator.order_owner.get(order_id)
    if owner is not None and owner is not seller:
        raise ApiError(403, "Unauthorized", DENIED)
    idx = seller.world.by_id.get(order_id)
    if idx is None or seller.world.status(idx, emulator.now()) is None:
        raise ApiError(404, "NotFound", f"Order {order_id} was not found")
    return idx
