"""SP-API client: Login with Amazon tokens, paced calls, retries, and searchOrders pagination.

The only way the pipeline reaches Amazon. Logs carry operation names, HTTP statuses and Amazon request ids,
never query values, bodies, tokens or buyer data.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

import requests

from . import __version__
from .ratelimit import DEFAULT_USAGE_PLANS, TokenBucket
from .timeutil import iso_z

log = logging.getLogger(__name__)

REGION_ENDPOINTS = {
    "na": "https://sellingpartnerapi-na.amazon.com",
    "eu": "https://sellingpartnerapi-eu.amazon.com",
    "fe": "https://sellingpartnerapi-fe.amazon.com",
}
SANDBOX_ENDPOINTS = {region: url.replace("https://", "https://sandbox.") for region, url in REGION_ENDPOINTS.items()}
LWA_ENDPOINT = "https://api.amazon.com/auth/o2/token"
USER_AGENT = f"amazon-channel-airflow/{__version__} (Language=Python; Platform=Airflow)"
# Blocks the pipeline needs to import an order (see workflow.md steps 2-4 and FBA step 3).
ORDER_INCLUDED_DATA = ("BUYER", "RECIPIENT", "PROCEEDS", "FULFILLMENT", "PACKAGES")


class SpApiError(Exception):
    """An answer Amazon will not change by retrying (or a retry budget spent), with Amazon's own words."""

    def __init__(self, operation: str, status: int | None, code: str, message: str,
                 request_id: str | None = None, details: str | None = None):
        self.operation, self.status, self.code = operation, status, code
        self.amazon_message, self.request_id, self.details = message, request_id, details
        where = f" (x-amzn-RequestId {request_id})" if request_id else ""
        super().__init__(f"{operation}: HTTP {status} {code}: {message}{where}")


@dataclass
class SpApiConfig:
    client_id: str
    client_secret: str
    refresh_token: str
    region: str = "na"
    endpoint: str | None = None  # overrides the region's SP-API URL (sandbox, emulator)
    lwa_endpoint: str = LWA_ENDPOINT
    sandbox: bool = False
    marketplace_ids: list[str] = field(default_factory=list)
    timeout: float = 30.0  # seconds for one HTTP exchange
    deadline: float = 900.0  # seconds one logical call may spend on retries
    backoff_base: float = 1.0
    backoff_cap: float = 60.0

    @classmethod
    def from_connection(cls, login: str | None, password: str | None, extra: dict) -> SpApiConfig:
        """Build from an Airflow connection: login = LWA client id, password = client secret, rest in extras."""
        missing = [name for name, value in (("login (LWA client id)", login),
                                            ("password (LWA client secret)", password),
                                            ("extra.refresh_token", extra.get("refresh_token"))) if not value]
        if missing:
            raise ValueError(f"SP-API connection is missing {', '.join(missing)}")
        marketplaces = extra.get("marketplace_ids") or []
        if isinstance(marketplaces, str):
            marketplaces = [m.strip() for m in marketplaces.split(",") if m.strip()]
        known = {f for f in cls.__dataclass_fields__} - {"client_id", "client_secret", "refresh_token",
                                                         "marketplace_ids"}
        options = {k: v for k, v in extra.items() if k in known and v not in (None, "")}
        for name in ("timeout", "deadline", "backoff_base", "backoff_cap"):
            if name in options:
                options[name] = float(options[name])
        if "sandbox" in options:
            options["sandbox"] = str(options["sandbox"]).lower() in ("1", "true", "yes")
        config = cls(login, password, extra["refresh_token"], marketplace_ids=list(marketplaces), **options)
        _ = config.base_url  # fail early on an unknown region
        return config

    @property
    def base_url(self) -> str:
        if self.endpoint:
            return self.endpoint.rstrip("/")
        if self.region not in REGION_ENDPOINTS:
            raise ValueError(f"unknown SP-API region {self.region!r}; use one of {sorted(REGION_ENDPOINTS)}")
        return (SANDBOX_ENDPOINTS if self.sandbox else REGION_ENDPOINTS)[self.region]


@dataclass
class CallStats:
    calls: int = 0
    throttled: int = 0
    retried_errors: int = 0
    token_refreshes: int = 0
    waited_seconds: float = 0.0


@dataclass
class SearchPage:
    orders: list[dict]  # orders not seen on an earlier page of the same search
    received: int  # orders on the page as Amazon sent it
    number: int


class SpApiClient:
    def __init__(self, config: SpApiConfig, session: requests.Session | None = None):
        self.config = config
        self.session = session or requests.Session()
        self.session.headers["user-agent"] = USER_AGENT
        self.buckets = {op: TokenBucket(rate, burst) for op, (rate, burst) in DEFAULT_USAGE_PLANS.items()}
        self.stats = CallStats()
        self._token: str | None = None
        self._token_expires = 0.0
        self._token_lock = threading.Lock()

    # ---- Login with Amazon -------------------------------------------------------------------

    def access_token(self, force_refresh: bool = False) -> str:
        with self._token_lock:
            if force_refresh or self._token is None or time.monotonic() > self._token_expires - 60:
                self._refresh_token()
            return self._token

    def _refresh_token(self) -> None:
        cfg = self.config
        form = {"grant_type": "refresh_token", "refresh_token": cfg.refresh_token,
                "client_id": cfg.client_id, "client_secret": cfg.client_secret}
        response = self.session.post(cfg.lwa_endpoint, data=form, timeout=cfg.timeout)
        if response.status_code != 200:
            try:
                body = response.json()
            except ValueError:
                body = {}
            raise SpApiError("lwaToken", response.status_code, body.get("error", "lwa_error"),
                             body.get("error_description", response.text[:200]))
        body = response.json()
        self._token = body["access_token"]
        self._token_expires = time.monotonic() + int(body.get("expires_in", 3600))
        self.stats.token_refreshes += 1
        log.info("Obtained an LWA access token (expires in %ss)", body.get("expires_in"))

    # ---- one paced, retried call ----------------------------------------------------------------

    def call(self, operation: str, method: str, path: str, params: dict | None = None,
             json_body: dict | None = None) -> requests.Response:
        """Send one SP-API operation: pace to its bucket, retry 429/5xx/network errors, raise on 4xx."""
        cfg = self.config
        bucket = self.buckets[operation]
        deadline = time.monotonic() + cfg.deadline
        refreshed = False
        attempt = 0
        while True:
            waited = bucket.reserve()
            if time.monotonic() + waited > deadline:
                raise SpApiError(operation, None, "DeadlineExceeded",
                                 f"no free quota within the {cfg.deadline:.0f}s deadline")
            if waited:
                time.sleep(waited)
                self.stats.waited_seconds += waited
            headers = {"x-amz-access-token": self.access_token()}
            self.stats.calls += 1
            try:
                response = self.session.request(method, cfg.base_url + path, params=params, json=json_body,
                                                headers=headers, timeout=cfg.timeout)
            except (requests.ConnectionError, requests.Timeout) as exc:
                problem, response = f"{type(exc).__name__}", None
            else:
                request_id = response.headers.get("x-amzn-RequestId")
                limit = response.headers.get("x-amzn-RateLimit-Limit")
                if limit:
                    try:
                        bucket.set_rate(float(limit))
                    except ValueError:
                        pass
                status = response.status_code
                log.debug("%s -> HTTP %s (x-amzn-RequestId %s)", operation, status, request_id)
                if status < 400:
                    return response
                if status in (401, 403) and not refreshed:
                    refreshed = True
                    self.access_token(force_refresh=True)
                    continue
                if status == 429:
                    bucket.drain()
                    self.stats.throttled += 1
                    problem = "HTTP 429 QuotaExceeded"
                elif status >= 500:
                    self.stats.retried_errors += 1
                    problem = f"HTTP {status}"
                else:
                    error = _first_error(response)
                    raise SpApiError(operation, status, error.get("code", "Error"), error.get("message", ""),
                                     request_id, error.get("details"))
            attempt += 1
            pause = random.uniform(0, min(cfg.backoff_cap, cfg.backoff_base * 2 ** (attempt - 1)))
            if time.monotonic() + pause > deadline:
                raise SpApiError(operation, response.status_code if response is not None else None, "DeadlineExceeded",
                                 f"gave up after {attempt} attempts within {cfg.deadline:.0f}s; last: {problem}",
                                 response.headers.get("x-amzn-RequestId") if response is not None else None)
            log.warning("%s: %s, retry %d in %.2fs", operation, problem, attempt, pause)
            time.sleep(pause)

    # ---- operations ------------------------------------------------------------------------------

    def search_pages(self, *, last_updated_after: datetime | None = None, last_updated_before: datetime | None = None,
                     created_after: datetime | None = None, created_before: datetime | None = None,
                     fulfillment_statuses: list[str] | None = None, fulfilled_by: list[str] | None = None,
                     marketplace_ids: list[str] | None = None, included_data=ORDER_INCLUDED_DATA,
                     page_size: int = 100) -> Iterator[SearchPage]:
        """Every page of a searchOrders query; orders repeated across pages are yielded once."""
        params: dict = {"maxResultsPerPage": page_size}
        for name, value in (("lastUpdatedAfter", last_updated_after), ("lastUpdatedBefore", last_updated_before),
                            ("createdAfter", created_after), ("createdBefore", created_before)):
            if value is not None:
                params[name] = iso_z(value)
        marketplaces = marketplace_ids if marketplace_ids is not None else self.config.marketplace_ids
        for name, values in (("fulfillmentStatuses", fulfillment_statuses), ("fulfilledBy", fulfilled_by),
                             ("marketplaceIds", marketplaces), ("includedData", included_data)):
            if values:
                params[name] = ",".join(values)
        seen: set[str] = set()
        number = 0
        while True:
            body = self.call("searchOrders", "GET", "/orders/2026-01-01/orders", params=params).json()
            number += 1
            received = body.get("orders", [])
            fresh = [o for o in received if o["orderId"] not in seen]
            seen.update(o["orderId"] for o in fresh)
            yield SearchPage(fresh, len(received), number)
            next_token = (body.get("pagination") or {}).get("nextToken")
            if not next_token:
                return
            params["paginationToken"] = next_token

    def get_order(self, order_id: str, included_data=ORDER_INCLUDED_DATA) -> dict:
        params = {"includedData": ",".join(included_data)} if included_data else None
        return self.call("getOrder", "GET", f"/orders/2026-01-01/orders/{order_id}", params=params).json()["order"]

    def confirm_shipment(self, order_id: str, marketplace_id: str, package_detail: dict) -> None:
        self.call("confirmShipment", "POST", f"/orders/v0/orders/{order_id}/shipmentConfirmation",
                  json_body={"marketplaceId": marketplace_id, "packageDetail": package_detail})


def _first_error(response: requests.Response) -> dict:
    try:
        errors = response.json().get("errors") or [{}]
    except (ValueError, AttributeError):
        return {"code": "Error", "message": response.text[:200]}
    return errors[0] if isinstance(errors, list) else {}
