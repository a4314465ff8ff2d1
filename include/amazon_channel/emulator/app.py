"""The SP-API emulator as a FastAPI app: LWA tokens, Orders v2026-01-01 reads, v0 confirmShipment.

Amazon-facing routes answer with Amazon's shapes (validated against ../shared/spapi-models in the tests).
Everything under /_emulator/ is the emulator's own admin API: ground truth, config, clock, stats.
Handlers are `async` and never block, so the single event loop serialises all state changes.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import random
import re
import secrets
import time
import uuid
from dataclasses import asdict, dataclass, replace
from datetime import timedelta

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from ..ratelimit import DEFAULT_USAGE_PLANS as RATE_LIMITS
from ..ratelimit import TokenBucket
from ..timeutil import from_epoch, iso_z, parse_iso, utcnow
from .world import CANCELLED, MARKETPLACE_BY_ID, PARTIALLY_SHIPPED, SHIPPED, UNSHIPPED, Package, World

SEARCH_PARAMS = ("createdAfter", "createdBefore", "lastUpdatedAfter", "lastUpdatedBefore",
                 "fulfillmentStatuses", "marketplaceIds", "fulfilledBy")
FULFILLMENT_STATUSES = {"PENDING_AVAILABILITY", "PENDING", "UNSHIPPED", "PARTIALLY_SHIPPED", "SHIPPED",
                        "CANCELLED", "UNFULFILLABLE"}
INCLUDED_DATA = {"BUYER", "RECIPIENT", "PROCEEDS", "EXPENSE", "PROMOTION", "CANCELLATION", "FULFILLMENT",
                 "PACKAGES", "TAX", "PAYMENT", "FULFILLMENT_ORDERS"}
TRACKING_NUMBER = re.compile(r"^[A-Za-z0-9-]{6,40}$")


@dataclass
class EmulatorConfig:
    seed: int = 42
    orders: int = 5000
    history_days: float = 7.0  # orders created before the clock start
    future_days: float = 2.0  # orders still to arrive as the clock moves on
    clock_start: str | None = None  # ISO time the emulator clock starts at; None = real now
    clock_speed: float = 1.0  # emulator seconds per real second; 0 = stopped, moved only by /_emulator/clock/advance
    rate_scale: float = 1.0  # >1 speeds Amazon's refill rates up (tests, benchmarks)
    access_token_ttl: int = 3600
    page_token_ttl: int = 86400
    client_id: str = "amzn1.application-oa2-client.emulator"
    client_secret: str = "emulator-secret"
    refresh_token: str = "Atzr|emulator-refresh-token"
    error_rate: float = 0.0  # share of Amazon-facing answers that are 500/503
    slow_rate: float = 0.0  # share of answers delayed by slow_seconds
    slow_seconds: float = 2.0
    repeat_rate: float = 0.0  # share of pages whose last order is repeated on the next page
    throttle_rate: float = 0.0  # share of answers that are 429 whatever the bucket holds (a throttling storm)

    # Settings that may change while running (the rest shape the world, fixed at start).
    RUNTIME = ("rate_scale", "access_token_ttl", "page_token_ttl", "error_rate", "slow_rate",
               "slow_seconds", "repeat_rate", "throttle_rate")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: str | None = None):
        self.status, self.code, self.message, self.details = status, code, message, details


class Emulator:
    """State behind the app: the world, the clock, tokens, rate buckets and counters."""

    def __init__(self, config: EmulatorConfig):
        self.initial_config = config
        start = parse_iso(config.clock_start) if config.clock_start else utcnow()
        self.clock_start = int(start.timestamp())
        self.world = World(config.seed, config.orders,
                           int(self.clock_start - config.history_days * 86400),
                           int(self.clock_start + config.future_days * 86400))
        self.reset()

    def reset(self) -> None:
        self.config = replace(self.initial_config)
        self.world.reset()
        self._real_start = time.monotonic()
        self.clock_offset = 0.0
        self.access_tokens: dict[str, float] = {}
        self.buckets = {op: TokenBucket(rate * self.config.rate_scale, burst) for op, (rate, burst) in RATE_LIMITS.items()}
        self.stats = {op: {"requests": 0, "throttled": 0, "injected_errors": 0} for op in RATE_LIMITS}
        self.rng = random.Random(self.config.seed)

    def now(self) -> int:
        return int(self.clock_start + (time.monotonic() - self._real_start) * self.config.clock_speed
                   + self.clock_offset)

    def update_config(self, changes: dict) -> None:
        unknown = set(changes) - set(EmulatorConfig.RUNTIME)
        if unknown:
            raise ApiError(400, "InvalidInput", f"not changeable at run time: {sorted(unknown)}")
        for key, value in changes.items():
            setattr(self.config, key, type(getattr(self.config, key))(value))
        if "rate_scale" in changes:
            for op, (rate, _) in RATE_LIMITS.items():
                self.buckets[op].set_rate(rate * self.config.rate_scale)


def _errors(status: int, code: str, message: str, details: str | None = None, headers: dict | None = None):
    error = {"code": code, "message": message}
    if details:
        error["details"] = details
    return JSONResponse({"errors": [error]}, status_code=status, headers=headers)


def _list_param(request: Request, name: str) -> list[str] | None:
    values = request.query_params.getlist(name)
    if not values:
        return None
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


def _time_param(request: Request, name: str) -> int | None:
    value = request.query_params.get(name)
    if value is None:
        return None
    try:
        return int(parse_iso(value).timestamp())
    except ValueError as exc:
        raise ApiError(400, "InvalidInput", f"{name} must be an ISO 8601 date-time in UTC: {exc}") from None


def create_app(config: EmulatorConfig | None = None) -> FastAPI:
    emulator = Emulator(config or EmulatorConfig())
    app = FastAPI(title="SP-API emulator", docs_url="/_emulator/docs", openapi_url="/_emulator/openapi.json")
    app.state.emulator = emulator

    async def amazon_call(request: Request, operation: str | None, handler):
        """Auth, rate limit, fault injection and Amazon's headers around one Amazon-facing call."""
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
            return _errors(403, "Unauthorized", "Access to requested resource is denied.", details, headers)
        storm = cfg.throttle_rate and emulator.rng.random() < cfg.throttle_rate
        if operation and (storm or not emulator.buckets[operation].try_acquire()):
            emulator.stats[operation]["throttled"] += 1
            return _errors(429, "QuotaExceeded", "You exceeded your quota for the requested resource.", headers=headers)
        if cfg.error_rate and emulator.rng.random() < cfg.error_rate:
            if operation:
                emulator.stats[operation]["injected_errors"] += 1
            status = emulator.rng.choice((500, 503))
            code = "InternalFailure" if status == 500 else "ServiceUnavailable"
            return _errors(status, code, "We encountered an internal error. Please try again.", headers=headers)
        if operation:
            headers["x-amzn-RateLimit-Limit"] = f"{emulator.buckets[operation].rate:g}"
        try:
            result = handler()
        except ApiError as err:
            if err.status not in (400, 404):
                headers.pop("x-amzn-RateLimit-Limit", None)
            return _errors(err.status, err.code, err.message, err.details, headers)
        if result is None:
            return Response(status_code=204, headers=headers)
        return JSONResponse(result, headers=headers)

    # ---- Login with Amazon ---------------------------------------------------------------------

    @app.post("/auth/o2/token")
    async def lwa_token(request: Request):
        form = await request.form()
        cfg = emulator.config
        if form.get("grant_type") != "refresh_token":
            return JSONResponse({"error": "unsupported_grant_type",
                                 "error_description": "The authorization grant type is not supported"}, 400)
        if form.get("client_id") != cfg.client_id or form.get("client_secret") != cfg.client_secret:
            return JSONResponse({"error": "invalid_client",
                                 "error_description": "Client authentication failed"}, 401)
        if form.get("refresh_token") != cfg.refresh_token:
            return JSONResponse({"error": "invalid_grant",
                                 "error_description": "The request has an invalid grant parameter : refresh_token"}, 400)
        token = "Atza|" + secrets.token_urlsafe(32)
        emulator.access_tokens[token] = time.monotonic() + cfg.access_token_ttl
        return {"access_token": token, "token_type": "bearer", "expires_in": cfg.access_token_ttl,
                "refresh_token": cfg.refresh_token}

    # ---- Orders API v2026-01-01 ----------------------------------------------------------------

    def included_data(request: Request) -> set[str]:
        included = set(_list_param(request, "includedData") or [])
        unknown = included - INCLUDED_DATA
        if unknown:
            raise ApiError(400, "InvalidInput", f"includedData has unknown values {sorted(unknown)}; "
                                                f"allowed: {sorted(INCLUDED_DATA)}")
        return included

    def search_orders(request: Request) -> dict:
        now = emulator.now()
        params = {name: request.query_params.getlist(name) for name in SEARCH_PARAMS if name in request.query_params}
        fingerprint = hashlib.sha256(json.dumps(sorted(params.items())).encode()).hexdigest()[:16]
        cursor, issued = None, None
        token = request.query_params.get("paginationToken")
        if token is not None:
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

        created_after, created_before = _time_param(request, "createdAfter"), _time_param(request, "createdBefore")
        updated_after, updated_before = _time_param(request, "lastUpdatedAfter"), _time_param(request, "lastUpdatedBefore")
        if (created_after is None) == (updated_after is None):
            raise ApiError(400, "InvalidInput", "Exactly one of createdAfter and lastUpdatedAfter must be provided")
        if created_after is not None and updated_before is not None:
            raise ApiError(400, "InvalidInput", "lastUpdatedBefore cannot be combined with createdAfter")
        if updated_after is not None and created_before is not None:
            raise ApiError(400, "InvalidInput", "createdBefore cannot be combined with lastUpdatedAfter")
        if created_after is None and created_before is not None:
            raise ApiError(400, "InvalidInput", "createdBefore requires createdAfter")
        latest = now - 120
        after = created_after if created_after is not None else updated_after
        before_name = "createdBefore" if created_after is not None else "lastUpdatedBefore"
        before = created_before if created_after is not None else updated_before
        if before is not None and before > latest:
            raise ApiError(400, "InvalidInput", f"{before_name} must be at least two minutes before the time of the "
                                                f"request ({iso_z(from_epoch(latest))} or earlier)")
        if before is None:
            before = latest
        if after > before:
            raise ApiError(400, "InvalidInput", f"{before_name} must be equal to or after the matching *After date")

        statuses = _list_param(request, "fulfillmentStatuses")
        if statuses and set(statuses) - FULFILLMENT_STATUSES:
            raise ApiError(400, "InvalidInput", f"fulfillmentStatuses has unknown values "
                                                f"{sorted(set(statuses) - FULFILLMENT_STATUSES)}")
        marketplaces = _list_param(request, "marketplaceIds")
        if marketplaces and len(marketplaces) > 50:
            raise ApiError(400, "InvalidInput", "marketplaceIds accepts at most 50 values")
        if marketplaces and set(marketplaces) - set(MARKETPLACE_BY_ID):
            raise ApiError(400, "InvalidInput", f"Invalid marketplaceIds {sorted(set(marketplaces) - set(MARKETPLACE_BY_ID))}")
        fulfilled_by = _list_param(request, "fulfilledBy")
        if fulfilled_by and set(fulfilled_by) - {"MERCHANT", "AMAZON"}:
            raise ApiError(400, "InvalidInput", "fulfilledBy accepts MERCHANT and AMAZON")
        raw_size = request.query_params.get("maxResultsPerPage", "100")
        if not raw_size.isdigit() or not 1 <= int(raw_size) <= 100:
            raise ApiError(400, "InvalidInput", "maxResultsPerPage must be an integer between 1 and 100")
        page_size = int(raw_size)
        included = included_data(request)

        world = emulator.world
        scan = (world.created_between if created_after is not None else world.changes_between)(after, before, now, cursor)
        positions, orders, has_more = [], [], False
        for position, idx in scan:
            record = world.records[idx]
            if marketplaces and record.marketplace.marketplace_id not in marketplaces:
                continue
            if fulfilled_by and ("AMAZON" if record.fba else "MERCHANT") not in fulfilled_by:
                continue
            if statuses and world.status(idx, now) not in statuses:
                continue
            if len(orders) == page_size:
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
        response["createdBefore" if created_after is not None else "lastUpdatedBefore"] = iso_z(from_epoch(before))
        return response

    @app.get("/orders/2026-01-01/orders")
    async def search_orders_route(request: Request):
        return await amazon_call(request, "searchOrders", lambda: search_orders(request))

    def get_order(request: Request, order_id: str) -> dict:
        included = included_data(request)
        idx = emulator.world.by_id.get(order_id)
        now = emulator.now()
        if idx is None or emulator.world.status(idx, now) is None:
            raise ApiError(404, "NotFound", f"Order {order_id} was not found")
        return {"order": emulator.world.order_json(idx, now, included)}

    @app.get("/orders/2026-01-01/orders/{order_id}")
    async def get_order_route(request: Request, order_id: str):
        return await amazon_call(request, "getOrder", lambda: get_order(request, order_id))

    # ---- Orders API v0 confirmShipment -----------------------------------------------------------

    def confirm_shipment(order_id: str, body: object) -> None:
        world = emulator.world
        now = emulator.now()
        idx = world.by_id.get(order_id)
        if idx is None or world.status(idx, now) is None:
            raise ApiError(404, "NotFound", f"Order {order_id} was not found")
        if not isinstance(body, dict):
            raise ApiError(400, "InvalidInput", "The request body must be a JSON object")
        record = world.records[idx]
        if body.get("marketplaceId") != record.marketplace.marketplace_id:
            raise ApiError(400, "InvalidInput", "marketplaceId is missing or is not the order's marketplace")
        detail = body.get("packageDetail")
        if not isinstance(detail, dict):
            raise ApiError(400, "InvalidInput", "packageDetail is required")
        missing = [k for k in ("packageReferenceId", "carrierCode", "trackingNumber", "shipDate", "orderItems")
                   if detail.get(k) in (None, "", [])]
        if missing:
            raise ApiError(400, "InvalidInput", f"packageDetail is missing required fields: {', '.join(missing)}")
        ref = detail["packageReferenceId"]
        if not isinstance(ref, str) or not ref.isdigit() or int(ref) <= 0:
            raise ApiError(400, "InvalidInput", "packageReferenceId must be a positive number sent as a string")
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
        shipped, ordered = world.quantities(idx)
        if editing:
            for item_id, qty in existing.packages[ref].items.items():
                shipped[item_id] -= qty
        items: dict[str, int] = {}
        for item in detail["orderItems"] if isinstance(detail["orderItems"], list) else []:
            item_id, qty = (item.get("orderItemId"), item.get("quantity")) if isinstance(item, dict) else (None, None)
            if item_id not in ordered:
                raise ApiError(400, "InvalidInput", f"orderItemId {item_id} is not an item of order {order_id}")
            if not isinstance(qty, int) or isinstance(qty, bool) or qty <= 0:
                raise ApiError(400, "InvalidInput", f"quantity for orderItemId {item_id} must be a positive integer")
            items[item_id] = items.get(item_id, 0) + qty
            if shipped[item_id] + items[item_id] > ordered[item_id]:
                raise ApiError(400, "InvalidInput", f"quantity for orderItemId {item_id} exceeds the unshipped "
                                                    f"quantity ({ordered[item_id] - shipped[item_id]})")
        if not items:
            raise ApiError(400, "InvalidInput", "orderItems must list at least one item")
        package = Package(ref, detail["carrierCode"], detail.get("carrierName"), detail.get("shippingMethod"),
                          detail["trackingNumber"], iso_z(ship_date), items, iso_z(from_epoch(now)))
        if world.confirm_package(idx, package, now):
            world.notifications.append({"orderId": order_id, "packageReferenceId": ref, "sentAt": iso_z(from_epoch(now)),
                                        "trackingNumber": package.tracking_number,
                                        "message": "Your package is on its way"})
        return None

    @app.post("/orders/v0/orders/{order_id}/shipmentConfirmation")
    async def confirm_shipment_route(request: Request, order_id: str):
        try:
            body = await request.json()
        except ValueError:
            body = None
        return await amazon_call(request, "confirmShipment", lambda: confirm_shipment(order_id, body))

    # ---- the emulator's own admin API (not Amazon's) -----------------------------------------------

    @app.get("/_emulator/health")
    async def health():
        return {"status": "ok", "now": iso_z(from_epoch(emulator.now())), "orders": len(emulator.world.records)}

    @app.get("/_emulator/config")
    async def get_config():
        return asdict(emulator.config)

    @app.patch("/_emulator/config")
    async def patch_config(request: Request):
        try:
            emulator.update_config(await request.json())
        except ApiError as err:
            return _errors(err.status, err.code, err.message)
        return asdict(emulator.config)

    @app.post("/_emulator/reset")
    async def reset():
        emulator.reset()
        return {"status": "reset"}

    @app.post("/_emulator/clock/advance")
    async def advance_clock(seconds: float):
        emulator.clock_offset += seconds
        return {"now": iso_z(from_epoch(emulator.now()))}

    @app.get("/_emulator/stats")
    async def stats():
        return {"operations": emulator.stats, "packages": sum(len(s.packages) for s in emulator.world.states.values()),
                "notifications": len(emulator.world.notifications)}

    def truth(idx: int, now: int) -> dict:
        world = emulator.world
        record = world.records[idx]
        state = world.states.get(idx)
        change = world.last_change(idx, now)
        return {"orderId": record.order_id, "marketplaceId": record.marketplace.marketplace_id,
                "fulfilledBy": "AMAZON" if record.fba else "MERCHANT", "status": world.status(idx, now),
                "createdTime": iso_z(from_epoch(record.created)),
                "lastUpdatedTime": iso_z(from_epoch(change[0])) if change else None,
                "packages": [asdict(p) for p in state.packages.values()] if state else []}

    @app.get("/_emulator/orders")
    async def truth_orders(request: Request):
        """Ground truth for a window: orders whose latest change lies in [lastUpdatedAfter, lastUpdatedBefore]."""
        now = emulator.now()
        try:
            after = _time_param(request, "lastUpdatedAfter") or 0
            before = _time_param(request, "lastUpdatedBefore") or now
        except ApiError as err:
            return _errors(err.status, err.code, err.message)
        return {"now": iso_z(from_epoch(now)),
                "orders": [truth(idx, now) for _, idx in emulator.world.changes_between(after, before, now, None)]}

    @app.get("/_emulator/orders/{order_id}")
    async def truth_order(order_id: str):
        idx = emulator.world.by_id.get(order_id)
        now = emulator.now()
        if idx is None or emulator.world.status(idx, now) is None:
            return JSONResponse({"detail": f"no order {order_id} at the emulator's current time"}, 404)
        return {**truth(idx, now), "order": emulator.world.order_json(idx, now, INCLUDED_DATA)}

    @app.get("/_emulator/notifications")
    async def notifications():
        return {"notifications": emulator.world.notifications}

    return app

