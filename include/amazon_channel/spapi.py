"""SP-API client: Login with Amazon tokens, paced calls, retries, searchOrders pagination, and the Feeds API with
its documents behind pre-signed URLs (which get no token).

The only way the pipeline reaches Amazon. Logs carry operation names, HTTP statuses and Amazon request ids,
never query values, bodies, tokens or buyer data.

The client trusts nothing the other end says about where to go or how much to send: credentials go only to the
configured SP-API and LWA endpoints (redirects are refused, never followed), one HTTP exchange may take at most
`timeout` seconds from its status line to the last byte of its body (trickling bytes are cut off like a timeout),
answers larger than `max_response_bytes` are refused, and a search stops on a repeated nextToken or past a page
bound derived from its window.
"""

from __future__ import annotations

import logging
import math
import random
import re
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import quote, urljoin, urlsplit

import requests
import urllib3

from . import __version__
from .http_deadline import deadline_session, ends_at
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
# Blocks the pipeline needs to import an order (see workflow.md steps 2-4 and FBA step 3), and its money (money.md):
# PROMOTION for the promotion ids, TAX for who collects the tax and the buyer's tax registration.
ORDER_INCLUDED_DATA = ("BUYER", "RECIPIENT", "PROCEEDS", "PROMOTION", "TAX", "CANCELLATION", "FULFILLMENT", "PACKAGES")
# Page bound of a search: max_pages_per_hour pages (of 100 orders) per hour of window, never fewer than MIN_PAGES;
# a search without both ends of a window counts as OPEN_WINDOW_HOURS long.
MIN_PAGES = 100
OPEN_WINDOW_HOURS = 24
READ_CHUNK = 64 * 1024
# Encodings the client can decode with a size bound; asked for explicitly so a library default never adds others.
ACCEPT_ENCODING = "gzip, deflate"
FEEDS_PATH = "/feeds/2021-06-30"


class SpApiError(Exception):
    """An answer Amazon will not change by retrying (or a retry budget spent), with Amazon's own words."""

    def __init__(self, operation: str, status: int | None, code: str, message: str,
                 request_id: str | None = None, details: str | None = None):
        self.operation, self.status, self.code = operation, status, code
        self.amazon_message, self.request_id, self.details = message, request_id, details
        where = f" (x-amzn-RequestId {request_id})" if request_id else ""
        http = f"HTTP {status} " if status is not None else ""
        super().__init__(f"{operation}: {http}{code}: {message}{where}")


class _Transient(Exception):
    """A network problem on one exchange (unreachable, timed out, trickling, broken off): retried within the
    call's deadline. `problem` names the host and the kind of failure, never a URL's query or a body."""

    def __init__(self, problem: str, no_time: bool = False):
        super().__init__(problem)
        self.problem, self.no_time = problem, no_time


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
    timeout: float = 30.0  # seconds one HTTP exchange may take, connecting and the whole answer included
    deadline: float = 900.0  # seconds one logical call may spend on retries
    backoff_base: float = 1.0
    backoff_cap: float = 60.0
    max_response_bytes: int = 32 * 1024 * 1024  # larger answers are refused (a page of 100 orders is far smaller)
    max_pages_per_hour: int = 2000  # page bound of a search per hour of window (pages of 100 orders)
    seller_id: str | None = None  # the seller's merchant token: MerchantIdentifier of the feeds sent

    NUMBERS = {"timeout": float, "deadline": float, "backoff_base": float, "backoff_cap": float,
               "max_response_bytes": int, "max_pages_per_hour": int}

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
        for name, kind in cls.NUMBERS.items():
            if name in options:
                try:
                    options[name] = kind(float(options[name]))
                except (TypeError, ValueError):
                    raise ValueError(f"extra.{name} must be a number, not {options[name]!r}") from None
                if options[name] <= 0 and name in ("timeout", "deadline", "max_response_bytes",
                                                   "max_pages_per_hour"):
                    raise ValueError(f"extra.{name} must be greater than 0")
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
    orders: list  # entries not seen on an earlier page of the same search (malformed entries pass through as sent)
    received: int  # orders on the page as Amazon sent it
    number: int


class SpApiClient:
    def __init__(self, config: SpApiConfig, session: requests.Session | None = None):
        self.config = config
        self.session = session or deadline_session()
        self.session.headers["user-agent"] = USER_AGENT
        self.buckets = {op: TokenBucket(rate, burst) for op, (rate, burst) in DEFAULT_USAGE_PLANS.items()}
        self.stats = CallStats()
        self._token: str | None = None
        self._token_expires = 0.0
        self._token_lock = threading.Lock()

    # ---- Login with Amazon -------------------------------------------------------------------

    def access_token(self, force_refresh: bool = False) -> str:
        """The cached LWA access token, refreshed when due; an unreachable LWA endpoint raises SpApiError."""
        try:
            return self._access_token(force_refresh, time.monotonic() + self.config.timeout)
        except _Transient as exc:
            raise SpApiError("lwaToken", None, "Unreachable", exc.problem) from None

    def _access_token(self, force_refresh: bool, deadline: float) -> str:
        with self._token_lock:
            if force_refresh or self._token is None or time.monotonic() > self._token_expires - 60:
                self._refresh_token(deadline)
            return self._token

    def _refresh_token(self, deadline: float) -> None:
        cfg = self.config
        form = {"grant_type": "refresh_token", "refresh_token": cfg.refresh_token,
                "client_id": cfg.client_id, "client_secret": cfg.client_secret}
        response = self._exchange("lwaToken", "POST", cfg.lwa_endpoint, deadline, "extra.lwa_endpoint", data=form)
        if response.status_code != 200:
            try:
                body = response.json()
            except ValueError:
                body = {}
            if not isinstance(body, dict):
                body = {}
            raise SpApiError("lwaToken", response.status_code, str(body.get("error", "lwa_error")),
                             str(body.get("error_description", response.text[:200])))
        body = _json_object(response, "lwaToken")
        if not isinstance(body.get("access_token"), str):
            raise SpApiError("lwaToken", 200, "InvalidResponse", "the LWA answer carries no access_token")
        try:
            expires_in = int(body.get("expires_in", 3600))
        except (TypeError, ValueError):
            expires_in = 3600
        self._token = body["access_token"]
        self._token_expires = time.monotonic() + expires_in
        self.stats.token_refreshes += 1
        log.info("Obtained an LWA access token (expires in %ss)", expires_in)

    # ---- one HTTP exchange ----------------------------------------------------------------------

    def _exchange(self, operation: str, method: str, url: str, deadline: float, setting: str,
                  **kwargs) -> requests.Response:
        """Send one request and read its whole answer within min(timeout, what is left of `deadline`).

        Redirects are refused, never followed (credentials must not reach another host); answers larger than
        max_response_bytes are refused; network problems, timeouts and trickling answers raise _Transient.
        The returned response has its body read (`.content`, `.json()` work) and its connection released.
        """
        cfg = self.config
        host = _host(url)
        started = time.monotonic()
        budget_end = min(started + cfg.timeout, deadline)
        budget = budget_end - started
        if budget <= 0:
            raise _Transient(f"no time left for {host} within the deadline", no_time=True)
        # A timeout of an exchange the deadline cut short says nothing about the host: the problem that made the
        # call retry until then is the one to report (no_time).
        cut_short = budget_end < started + cfg.timeout
        headers = {**kwargs.pop("headers", {}), "accept-encoding": ACCEPT_ENCODING}
        with ends_at(budget_end):  # every socket read, status line and headers included, ends by budget_end
            try:
                response = self.session.request(method, url, headers=headers, timeout=(budget, budget),
                                                allow_redirects=False, stream=True, **kwargs)
            except requests.ConnectionError as exc:  # ConnectTimeout included: nothing reached the host
                raise _Transient(f"cannot reach {host}: {type(exc).__name__}",
                                 no_time=cut_short and isinstance(exc, requests.Timeout)) from None
            except requests.Timeout as exc:
                raise _Transient(f"{host} did not answer within {budget:.1f}s: {type(exc).__name__}",
                                 no_time=cut_short) from None
            return self._read_response(operation, response, url, host, setting, started, budget_end, cut_short)

    def _read_response(self, operation: str, response: requests.Response, url: str, host: str, setting: str,
                       started: float, budget_end: float, cut_short: bool) -> requests.Response:
        try:
            if 300 <= response.status_code < 400:
                location = response.headers.get("location")
                target = _host(urljoin(url, location)) if location else "nowhere (no Location header)"
                raise SpApiError(operation, response.status_code, "Redirect",
                                 f"{host} ({setting}) redirected to {target}; redirects are refused, credentials are "
                                 f"sent only to the configured endpoints", response.headers.get("x-amzn-RequestId"))
            content = self._read_body(operation, response, host, started, budget_end, cut_short)
        except BaseException:
            response.close()  # closes the connection: never reuse one with an unread answer
            raise
        response._content, response._content_consumed = content, True
        response.close()  # the body is read: returns the connection to the pool
        return response

    def _read_body(self, operation: str, response: requests.Response, host: str, started: float,
                   budget_end: float, cut_short: bool) -> bytes:
        limit = self.config.max_response_bytes
        announced = response.headers.get("content-length", "")
        if announced.strip().isdigit() and int(announced) > limit:
            raise self._too_large(operation, host, f"it announced {int(announced):,} bytes")
        raw = response.raw
        chunks, size = [], 0

        def too_slow() -> _Transient:
            return _Transient(f"{host} sent its answer too slowly: {size:,} bytes in "
                              f"{time.monotonic() - started:.1f}s, cut at the limit for one exchange "
                              f"(extra.timeout {self.config.timeout:g}s, extra.deadline {self.config.deadline:g}s)",
                              no_time=cut_short)

        while True:
            left = budget_end - time.monotonic()
            if left <= 0:
                raise too_slow()
            try:
                chunk = raw.read1(READ_CHUNK, decode_content=False)
            except urllib3.exceptions.ReadTimeoutError:
                raise too_slow() from None
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                raise _Transient(f"{host} broke off its answer: {type(exc).__name__}") from None
            if not chunk:
                break
            size += len(chunk)
            if size > limit:
                raise self._too_large(operation, host, f"more than {size:,} bytes arrived")
            chunks.append(chunk)
        body = b"".join(chunks)
        encoding = response.headers.get("content-encoding", "").strip().lower()
        if encoding in ("", "identity"):
            return body
        if encoding not in ("gzip", "x-gzip", "deflate"):
            raise SpApiError(operation, response.status_code, "InvalidResponse",
                             f"{host} answered in content encoding {encoding[:40]!r}; only {ACCEPT_ENCODING} "
                             f"were accepted")
        return self._decompressed(operation, response.status_code, host, body, encoding)

    def _decompressed(self, operation: str, status: int | None, host: str, body: bytes, encoding: str) -> bytes:
        """`body` decompressed (gzip or deflate) within max_response_bytes: a small bomb cannot grow past the limit."""
        limit = self.config.max_response_bytes
        if encoding == "deflate" and body[:1] != b"\x78":
            decoder = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate without the zlib header
        else:
            decoder = zlib.decompressobj(zlib.MAX_WBITS | (16 if encoding != "deflate" else 0))
        try:
            decoded = decoder.decompress(body, limit + 1)
        except zlib.error:
            raise SpApiError(operation, status, "InvalidResponse",
                             f"{host} sent a {encoding} answer that does not decompress") from None
        if len(decoded) > limit:
            raise self._too_large(operation, host, f"it decompresses to more than {limit:,} bytes")
        return decoded

    def _too_large(self, operation: str, host: str, how: str) -> SpApiError:
        limit = self.config.max_response_bytes
        return SpApiError(operation, None, "ResponseTooLarge",
                          f"the answer from {host} is larger than the {limit:,}-byte limit ({how}); refused. If "
                          f"Amazon's answers really are that large, raise extra.max_response_bytes of the SP-API "
                          f"connection")

    # ---- one paced, retried call ----------------------------------------------------------------

    def call(self, operation: str, method: str, path: str, params: dict | None = None,
             json_body: dict | None = None) -> requests.Response:
        """Send one SP-API operation: pace to its bucket, retry 429/5xx/network errors, raise on 4xx and 3xx.

        The whole call, retries and every answer's body included, ends within `deadline` seconds.
        """
        cfg = self.config
        bucket = self.buckets[operation]
        deadline = time.monotonic() + cfg.deadline
        setting = "extra.endpoint" if cfg.endpoint else "extra.region"
        refresh = refreshed = False
        attempt = 0
        problem: str | None = None
        response: requests.Response | None = None

        def give_up() -> SpApiError:  # names the last problem, the one an operator can act on
            status = response.status_code if response is not None else None
            request_id = response.headers.get("x-amzn-RequestId") if response is not None else None
            return SpApiError(operation, status, "DeadlineExceeded",
                              f"gave up after {attempt} attempts within {cfg.deadline:g}s; last: {problem}",
                              request_id)

        while True:
            waited = bucket.reserve()
            if time.monotonic() + waited > deadline:
                if problem:  # retries used the quota up: the problem is what made them retry
                    raise give_up()
                raise SpApiError(operation, None, "DeadlineExceeded",
                                 f"no free quota within the {cfg.deadline:g}s deadline")
            if waited:
                time.sleep(waited)
                self.stats.waited_seconds += waited
            try:
                headers = {"x-amz-access-token": self._access_token(refresh, deadline)}
                refresh = False
                self.stats.calls += 1
                response = self._exchange(operation, method, cfg.base_url + path, deadline, setting,
                                          params=params, json=json_body, headers=headers)
            except _Transient as exc:
                if not (exc.no_time and problem):  # out of time: the problem before is the one worth naming
                    problem = exc.problem
                response = None
            else:
                bucket.settle()
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
                    refresh = refreshed = True
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
            pause = self._backoff(attempt)
            if time.monotonic() + pause >= deadline:
                raise give_up()
            log.warning("%s: %s, retry %d in %.2fs", operation, problem, attempt, pause)
            time.sleep(pause)

    def _backoff(self, attempt: int) -> float:
        """Seconds to wait before retry number `attempt`: full jitter, doubling up to backoff_cap."""
        cfg = self.config
        return random.uniform(0, min(cfg.backoff_cap, cfg.backoff_base * 2 ** (attempt - 1)))

    def transfer(self, operation: str, method: str, url: str, data: bytes | None = None,
                 headers: dict | None = None) -> requests.Response:
        """One upload to, or download from, a pre-signed URL (feed documents). The URL itself authorises, so no
        SP-API token goes with it; the bounds of `call` hold (redirects refused, size and whole-answer time limits,
        5xx and network problems retried within `deadline`); any other answer that is not 2xx raises SpApiError."""
        cfg = self.config
        deadline = time.monotonic() + cfg.deadline
        attempt, problem = 0, None
        while True:
            try:
                response = self._exchange(operation, method, url, deadline, "the feed document URL", data=data,
                                          headers=dict(headers or {}))
            except _Transient as exc:
                if not (exc.no_time and problem):
                    problem = exc.problem
            else:
                status = response.status_code
                if status < 300:
                    return response
                if status < 500 and status != 429:
                    code, message = _storage_error(response)
                    raise SpApiError(operation, status, code, message, response.headers.get("x-amzn-RequestId"))
                problem = f"HTTP {status}"
            attempt += 1
            pause = self._backoff(attempt)
            if time.monotonic() + pause >= deadline:
                raise SpApiError(operation, None, "DeadlineExceeded",
                                 f"gave up after {attempt} attempts within {cfg.deadline:g}s; last: {problem}")
            log.warning("%s: %s, retry %d in %.2fs", operation, problem, attempt, pause)
            time.sleep(pause)

    # ---- operations ------------------------------------------------------------------------------

    def search_pages(self, *, last_updated_after: datetime | None = None, last_updated_before: datetime | None = None,
                     created_after: datetime | None = None, created_before: datetime | None = None,
                     fulfillment_statuses: list[str] | None = None, fulfilled_by: list[str] | None = None,
                     marketplace_ids: list[str] | None = None, included_data=ORDER_INCLUDED_DATA,
                     page_size: int = 100) -> Iterator[SearchPage]:
        """Every page of a searchOrders query; orders repeated across pages are yielded once.

        Entries that are not objects or carry no string orderId are passed through unchanged (validation
        downstream quarantines them). The search stops with SpApiError when Amazon repeats a nextToken or sends
        more pages than the window can hold (see `page_bound`).
        """
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
        if last_updated_after and last_updated_before:
            window = last_updated_before - last_updated_after
        elif created_after and created_before:
            window = created_before - created_after
        else:
            window = None
        bound, bound_reason = self.page_bound(window, page_size)
        seen: set[str] = set()
        tokens: dict[str, int] = {}  # nextToken -> the page that sent it (tokens themselves are never logged)
        number = 0
        while True:
            response = self.call("searchOrders", "GET", "/orders/2026-01-01/orders", params=params)
            body = _json_object(response, "searchOrders")
            number += 1
            received = body.get("orders")
            if received is None:
                received = []
            if not isinstance(received, list):
                raise SpApiError("searchOrders", None, "InvalidResponse",
                                 f"page {number}: 'orders' is a {type(received).__name__}, not a list",
                                 response.headers.get("x-amzn-RequestId"))
            ids = [_order_id(o) for o in received]
            fresh = [o for o, order_id in zip(received, ids, strict=True) if order_id is None or order_id not in seen]
            seen.update(i for i in ids if i is not None)
            yield SearchPage(fresh, len(received), number)
            pagination = body.get("pagination")
            next_token = pagination.get("nextToken") if isinstance(pagination, dict) else None
            if not next_token:
                return
            if not isinstance(next_token, str):
                raise SpApiError("searchOrders", None, "InvalidResponse",
                                 f"page {number}: nextToken is a {type(next_token).__name__}, not a string")
            if next_token in tokens:
                raise SpApiError("searchOrders", None, "PaginationLoop",
                                 f"page {number} sent the same nextToken as page {tokens[next_token]}; Amazon is "
                                 f"paginating in a loop, stopped after {number} pages so the search cannot run "
                                 f"forever. Retry the run later; if it persists, report it to Amazon with the "
                                 f"request id", response.headers.get("x-amzn-RequestId"))
            if number >= bound:
                raise SpApiError("searchOrders", None, "TooManyPages",
                                 f"stopped after {number:,} pages, the bound for {bound_reason}; the search still "
                                 f"had a nextToken. If the window really holds that many orders, raise "
                                 f"extra.max_pages_per_hour of the SP-API connection",
                                 response.headers.get("x-amzn-RequestId"))
            tokens[next_token] = number
            params["paginationToken"] = next_token

    def page_bound(self, window, page_size: int = 100) -> tuple[int, str]:
        """How many pages a search over `window` (a timedelta, None when a bound is open) may take, and why."""
        per_hour = self.config.max_pages_per_hour
        if window is None:
            hours, what = OPEN_WINDOW_HOURS, f"a search without both window ends (counted as {OPEN_WINDOW_HOURS} hours)"
        else:
            hours = max(0.0, window.total_seconds() / 3600)
            what = f"a {hours:g}-hour window"
        pages = max(MIN_PAGES, math.ceil(hours * per_hour))
        scale = max(1.0, 100 / max(1, page_size))  # the bound counts pages of 100 orders
        bound = math.ceil(pages * scale)
        return bound, (f"{what} (extra.max_pages_per_hour {per_hour:,} pages of 100 orders per hour, at least "
                       f"{MIN_PAGES})")

    def get_order(self, order_id: str, included_data=ORDER_INCLUDED_DATA) -> dict:
        params = {"includedData": ",".join(included_data)} if included_data else None
        return self.call("getOrder", "GET", f"/orders/2026-01-01/orders/{order_id}", params=params).json()["order"]

    def confirm_shipment(self, order_id: str, marketplace_id: str, package_detail: dict) -> None:
        self.call("confirmShipment", "POST", f"/orders/v0/orders/{order_id}/shipmentConfirmation",
                  json_body={"marketplaceId": marketplace_id, "packageDetail": package_detail})

    # ---- Feeds API 2021-06-30: a document is uploaded, then named in a feed; its report is downloaded --------------

    def create_feed_document(self, content_type: str) -> dict:
        """createFeedDocument: {"feedDocumentId", "url"}, the url being where to upload (pre-signed, minutes)."""
        response = self.call("createFeedDocument", "POST", f"{FEEDS_PATH}/documents",
                             json_body={"contentType": content_type})
        return _fields(response, "createFeedDocument", "feedDocumentId", "url")

    def upload_feed_document(self, url: str, content: bytes, content_type: str) -> None:
        """PUT the document to its pre-signed url, with the content type declared to createFeedDocument."""
        self.transfer("uploadFeedDocument", "PUT", url, data=content, headers={"content-type": content_type})

    def create_feed(self, feed_type: str, marketplace_ids: list[str], input_feed_document_id: str) -> str:
        """createFeed: the new feed's id."""
        response = self.call("createFeed", "POST", f"{FEEDS_PATH}/feeds", json_body={
            "feedType": feed_type, "marketplaceIds": marketplace_ids, "inputFeedDocumentId": input_feed_document_id})
        return _fields(response, "createFeed", "feedId")["feedId"]

    def get_feed(self, feed_id: str) -> dict:
        """getFeed: the Feed (processingStatus, and resultFeedDocumentId once DONE or FATAL)."""
        return _fields(self.call("getFeed", "GET", f"{FEEDS_PATH}/feeds/{quote(feed_id, safe='')}"), "getFeed",
                       "feedId", "processingStatus")

    def get_feed_document(self, feed_document_id: str) -> dict:
        """getFeedDocument: {"feedDocumentId", "url", "compressionAlgorithm"?}, the url being where to download."""
        return _fields(self.call("getFeedDocument", "GET",
                                 f"{FEEDS_PATH}/documents/{quote(feed_document_id, safe='')}"),
                       "getFeedDocument", "feedDocumentId", "url")

    def download_feed_document(self, document: dict) -> bytes:
        """The content of a document getFeedDocument described, decompressed when Amazon says it is (GZIP), within
        max_response_bytes."""
        response = self.transfer("downloadFeedDocument", "GET", document["url"])
        algorithm = document.get("compressionAlgorithm")
        if algorithm in (None, ""):
            return response.content
        if algorithm != "GZIP":
            raise SpApiError("downloadFeedDocument", None, "InvalidResponse",
                             f"the document is compressed with {str(algorithm)[:40]!r}; only GZIP is known")
        return self._decompressed("downloadFeedDocument", response.status_code, _host(document["url"]),
                                  response.content, "gzip")


def _order_id(entry) -> str | None:
    """The entry's orderId when it is an object with a string orderId, else None (passed through as sent)."""
    order_id = entry.get("orderId") if isinstance(entry, dict) else None
    return order_id if isinstance(order_id, str) else None


def _host(url: str) -> str:
    """host[:port] of a URL for messages: no scheme, user info, path or query (they may carry secrets)."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return "an unparsable URL"
    if not host:
        return "an unparsable URL"
    host = host[:100]
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{port}" if port else host


def _json_object(response: requests.Response, operation: str) -> dict:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise SpApiError(operation, None, "InvalidResponse",
                         f"the answer from {_host(response.url or '')} is not a JSON object",
                         response.headers.get("x-amzn-RequestId"))
    return body


def _fields(response: requests.Response, operation: str, *names: str) -> dict:
    """The answer as a JSON object that has each of `names` as a non-empty string."""
    body = _json_object(response, operation)
    missing = [name for name in names if not (isinstance(body.get(name), str) and body[name])]
    if missing:
        raise SpApiError(operation, response.status_code, "InvalidResponse",
                         f"the answer carries no {', '.join(missing)}", response.headers.get("x-amzn-RequestId"))
    return body


def _storage_error(response: requests.Response) -> tuple[str, str]:
    """Code and message of a refused upload or download: SP-API's JSON errors, or S3's XML <Code>/<Message>."""
    try:
        error = _first_error(response) if isinstance(response.json(), dict) else {}
    except ValueError:
        error = {}
    if error.get("code") or error.get("message"):
        return str(error.get("code", "Error")), str(error.get("message", ""))[:300]
    found = {tag: re.search(rf"<{tag}>([^<]{{0,300}})</{tag}>", response.text) for tag in ("Code", "Message")}
    return ((found["Code"].group(1) if found["Code"] else "Error"),
            found["Message"].group(1) if found["Message"] else f"{_host(response.url or '')} refused it")


def _first_error(response: requests.Response) -> dict:
    try:
        errors = response.json().get("errors") or [{}]
    except (ValueError, AttributeError):
        return {"code": "Error", "message": response.text[:200]}
    first = errors[0] if isinstance(errors, list) else {}
    return first if isinstance(first, dict) else {}
