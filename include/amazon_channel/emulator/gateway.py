"""What every Amazon-facing operation passes through: the access token check, the operation's token bucket,
fault injection (slow answers, throttling storms, 500/503), Amazon's headers and error bodies.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

from fastapi import Request
from fastapi.responses import Response

from .http import ApiError, error_response, json_response
from .state import Emulator


async def amazon_call(emulator: Emulator, request: Request, operation: str | None,
                      handler: Callable[[], dict | None], status: int = 200) -> Response:
    """Auth, rate limit, fault injection and Amazon's headers around one Amazon-facing call.

    `handler` does the operation's work (raising ApiError for 4xx answers); None means 204 No Content, a dict
    is the body of a `status` answer.
    """
    request_id = str(uuid.uuid4())
    cfg = emulator.config
    headers = {"x-amzn-RequestId": request_id}
    if operation:
        emulator.stats[operation]["requests"] += 1
    if cfg.slow_rate and emulator.rng.random() < cfg.slow_rate:
        await asyncio.sleep(cfg.slow_seconds)
    token = request.headers.get("x-amz-access-token")
    expires = emulator.access_tokens.get(token or "")
    if expires is None or expires < time.monotonic():
        details = "The access token you provided has expired." if expires else "The access token is missing or invalid."
        return error_response(403, "Unauthorized", "Access to requested resource is denied.", details, headers)
    storm = cfg.throttle_rate and emulator.rng.random() < cfg.throttle_rate
    if operation and (storm or not emulator.buckets[operation].try_acquire()):
        emulator.stats[operation]["throttled"] += 1
        return error_response(429, "QuotaExceeded", "You exceeded your quota for the requested resource.",
                              headers=headers)
    if cfg.error_rate and emulator.rng.random() < cfg.error_rate:
        if operation:
            emulator.stats[operation]["injected_errors"] += 1
        status = emulator.rng.choice((500, 503))
        code = "InternalFailure" if status == 500 else "ServiceUnavailable"
        return error_response(status, code, "We encountered an internal error. Please try again.", headers=headers)
    if operation:
        headers["x-amzn-RateLimit-Limit"] = f"{emulator.buckets[operation].rate:g}"
    emulator.settle()
    try:
        result = handler()
    except ApiError as err:
        if err.status not in (400, 404):
            headers.pop("x-amzn-RateLimit-Limit", None)
        return error_response(err.status, err.code, err.message, err.details, headers)
    if result is None:
        return Response(status_code=204, headers=headers)
    return json_response(result, headers, status)
