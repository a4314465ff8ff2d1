"""A stand-in for Amazon that misbehaves on request: a real HTTP server on loopback for testing the SP-API client.

It answers Login with Amazon (`POST /auth/o2/token`), searchOrders (`GET /orders/2026-01-01/orders`, pages chained
with `pagination.nextToken`), getOrder and confirmShipment, and can be told to misbehave: redirect an endpoint to
another host, repeat a nextToken forever or never stop paginating, trickle a body, send a huge body, or serve
malformed pages. It records every request it receives, so a test can prove what reached which host.

    with HostileAmazon(pages=[[order_1, order_2], [order_3]]) as amazon:
        client = amazon.client(deadline=3)           # the real SpApiClient, pointed here
        list(client.search_pages(last_updated_after=start, last_updated_before=end))
        assert len(amazon.received) == 3             # one token, two pages

    with HostileAmazon() as amazon, HostileAmazon(host="127.0.0.2") as other:
        amazon.redirect("orders", to=other, status=302)
        ...
        assert not other.requests_containing(amazon.ACCESS_TOKEN)

API (everything may be changed while the server runs; each setting applies to the next request):

- `HostileAmazon(pages=None, *, host="127.0.0.1")`: a context manager; `pages` is a list of pages, each a list of
  entries (orders, or anything malformed) or a dict sent as the whole body of that page. A port is chosen freely.
- `.base_url`, `.lwa_url`, `.netloc` ("host:port"), `.host`, `.port`.
- `.login`, `.password`, `.ACCESS_TOKEN`, `.REFRESH_TOKEN`: the credentials it accepts and the token it issues.
- `.connection_extra(**overrides)` extras for `SpApiConfig.from_connection` (timeout 2 s, deadline 4 s, tiny
  backoff: tests stay fast); `.config(**overrides)` and `.client(**overrides)` build the real config and client.
- `.set_pages(pages)` replaces the pages; `.received`: every request as a `Received(method, target, headers, body)`
  with `.path`, `.query`, `.form`; `.requests_to(path)`; `.requests_containing(*values)` the requests whose target,
  headers or body (raw or form-decoded) contain any of the values.
- Misbehaviour: `.redirect(endpoint, to, status=307)`, `.repeat_next_token()`, `.endless_pages()`,
  `.trickle(endpoint, every=0.5, headers=False)`,
  `.huge(endpoint, size, content_length=True)`, `.status(endpoint, code)`,
  `.gzip(endpoint)` (answers gzip-compressed; with `.huge` a small compressed body that inflates to `size`);
  `endpoint` is "orders" (searchOrders, getOrder, confirmShipment) or "lwa". `.reset()` forgets misbehaviour
  and the requests received.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

SEARCH_PATH = "/orders/2026-01-01/orders"
LWA_PATH = "/auth/o2/token"
ENDPOINTS = ("orders", "lwa")
MAX_TRICKLE_SECONDS = 30.0  # a trickling answer ends by itself, even if nobody hangs up


@dataclass
class Received:
    method: str
    target: str  # path and query as sent
    headers: dict[str, str]  # names lower-cased
    body: bytes

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.target).query)

    @property
    def form(self) -> dict[str, list[str]]:
        """The body decoded as a form (the LWA token request)."""
        return parse_qs(self.body.decode("latin-1"))

    def contains(self, value: str) -> bool:
        """Whether `value` appears anywhere in the request: target (raw or decoded), a header, the body (raw or
        form-decoded)."""
        decoded = [unquote(self.target), *(v for vs in self.form.values() for v in vs)]
        return (value in self.target or any(value in text for text in decoded)
                or any(value in h for h in self.headers.values()) or value.encode() in self.body)


@dataclass
class _Misbehaviour:
    redirect: tuple[int, str] | None = None  # (status, base URL of the other host)
    trickle: float | None = None  # seconds between bytes
    trickle_headers: bool = False  # the status line and headers trickle too, not only the body
    huge: tuple[int, bool] | None = None  # (size, announce Content-Length)
    status: int | None = None
    gzip: bool = False


@dataclass
class _State:
    pages: list
    misbehaviour: dict[str, _Misbehaviour] = field(default_factory=lambda: {e: _Misbehaviour() for e in ENDPOINTS})
    next_token: str | None = None  # "repeat" or "endless"
    received: list[Received] = field(default_factory=list)


class HostileAmazon:
    LOGIN = "amzn1.application-oa2-client.hostile"
    PASSWORD = "hostile-client-secret-0123456789"
    REFRESH_TOKEN = "Atzr|hostile-refresh-token-0123456789"
    ACCESS_TOKEN = "Atza|hostile-access-token-0123456789"
    MARKETPLACE_ID = "ATVPDKIKX0DER"

    def __init__(self, pages: list | None = None, *, host: str = "127.0.0.1"):
        self.login, self.password = self.LOGIN, self.PASSWORD
        self._state = _State(pages=list(pages) if pages is not None else [[]])
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = ThreadingHTTPServer((host, 0), _handler(self))
        self._server.daemon_threads = True
        self.host, self.port = self._server.server_address[:2]
        self._thread: threading.Thread | None = None

    # ---- lifecycle ----------------------------------------------------------------------------------

    def __enter__(self) -> HostileAmazon:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"hostile-amazon-{self.port}", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stopping.set()  # trickling handlers stop at their next byte
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    # ---- where it is, and how to reach it -----------------------------------------------------------

    @property
    def netloc(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"http://{self.netloc}"

    @property
    def lwa_url(self) -> str:
        return f"{self.base_url}{LWA_PATH}"

    def connection_extra(self, **overrides) -> dict:
        """Extras for SpApiConfig.from_connection, with short timeouts so a misbehaving answer ends a test fast."""
        return {"refresh_token": self.REFRESH_TOKEN, "region": "na", "endpoint": self.base_url,
                "lwa_endpoint": self.lwa_url, "marketplace_ids": [self.MARKETPLACE_ID], "timeout": 2,
                "deadline": 4, "backoff_base": 0.02, "backoff_cap": 0.1, **overrides}

    def config(self, **overrides):
        from amazon_channel.spapi import SpApiConfig

        return SpApiConfig.from_connection(self.login, self.password, self.connection_extra(**overrides))

    def client(self, **overrides):
        from amazon_channel.spapi import SpApiClient

        return SpApiClient(self.config(**overrides))

    # ---- what it received ---------------------------------------------------------------------------

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._state.received)

    def requests_to(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    def requests_containing(self, *values: str) -> list[Received]:
        return [r for r in self.received if any(v and r.contains(v) for v in values)]

    # ---- misbehaviour -------------------------------------------------------------------------------

    def set_pages(self, pages: list) -> HostileAmazon:
        with self._lock:
            self._state.pages = list(pages)
        return self

    def redirect(self, endpoint: str, to: HostileAmazon | str, status: int = 307) -> HostileAmazon:
        """Answer `endpoint` with a redirect to the same path and query on `to` (another stand-in or a base URL)."""
        self._misbehaviour(endpoint).redirect = (status, to.base_url if isinstance(to, HostileAmazon) else to)
        return self

    def repeat_next_token(self) -> HostileAmazon:
        """Every searchOrders answer carries the same nextToken (and the first page's orders), forever."""
        self._state.next_token = "repeat"
        return self

    def endless_pages(self) -> HostileAmazon:
        """Every searchOrders answer carries a new nextToken (and the first page's orders), forever."""
        self._state.next_token = "endless"
        return self

    def trickle(self, endpoint: str, every: float = 0.5, headers: bool = False) -> HostileAmazon:
        """Send the answer's body one byte every `every` seconds; its headers at once, or also byte by byte."""
        bad = self._misbehaviour(endpoint)
        bad.trickle, bad.trickle_headers = every, headers
        return self

    def huge(self, endpoint: str, size: int, content_length: bool = True) -> HostileAmazon:
        """Answer with a `size`-byte body (JSON-looking), announcing its length or not (then ended by closing)."""
        self._misbehaviour(endpoint).huge = (size, content_length)
        return self

    def gzip(self, endpoint: str) -> HostileAmazon:
        """Compress answers with Content-Encoding gzip (a `.huge` answer becomes a decompression bomb)."""
        self._misbehaviour(endpoint).gzip = True
        return self

    def status(self, endpoint: str, code: int) -> HostileAmazon:
        """Answer every request to `endpoint` with HTTP `code` and an SP-API error body."""
        self._misbehaviour(endpoint).status = code
        return self

    def reset(self) -> HostileAmazon:
        with self._lock:
            self._state.misbehaviour = {e: _Misbehaviour() for e in ENDPOINTS}
            self._state.next_token = None
            self._state.received.clear()
        return self

    def _misbehaviour(self, endpoint: str) -> _Misbehaviour:
        if endpoint not in ENDPOINTS:
            raise ValueError(f"endpoint must be one of {ENDPOINTS}, not {endpoint!r}")
        return self._state.misbehaviour[endpoint]

    # ---- answers (called by the handler) ------------------------------------------------------------

    def _record(self, request: Received) -> None:
        with self._lock:
            self._state.received.append(request)

    def _answer(self, request: Received) -> tuple[int, dict, bytes, _Misbehaviour | None]:
        """(status, headers, body, misbehaviour to apply while sending) for one request."""
        if request.path == LWA_PATH and request.method == "POST":
            endpoint = "lwa"
        elif request.path.startswith(SEARCH_PATH) or request.path.startswith("/orders/v0/orders/"):
            endpoint = "orders"
        else:
            return 404, {}, _error("NotFound", "no such resource on the stand-in"), None
        bad = self._state.misbehaviour[endpoint]
        if bad.redirect:
            status, target = bad.redirect
            return status, {"Location": f"{target}{request.target}"}, b"", None  # same path and query, as a thief
        if bad.status:
            return bad.status, {}, _error("InjectedError", f"HTTP {bad.status} from the stand-in"), bad  # may trickle
        if endpoint == "lwa":
            status, body = self._lwa(request)
        else:
            if request.headers.get("x-amz-access-token") != self.ACCESS_TOKEN:
                return 403, {}, _error("Unauthorized", "Access to requested resource is denied."), None
            status, body = self._orders(request)
        return status, {"x-amzn-RateLimit-Limit": "1000"}, body, bad

    def _lwa(self, request: Received) -> tuple[int, bytes]:
        form = {k: v[0] for k, v in request.form.items()}
        if (form.get("grant_type") != "refresh_token" or form.get("refresh_token") != self.REFRESH_TOKEN
                or form.get("client_id") != self.login or form.get("client_secret") != self.password):
            return 401, json.dumps({"error": "invalid_client", "error_description": "Client authentication failed"
                                    }).encode()
        return 200, json.dumps({"access_token": self.ACCESS_TOKEN, "token_type": "bearer", "expires_in": 3600,
                                "refresh_token": self.REFRESH_TOKEN}).encode()

    def _orders(self, request: Received) -> tuple[int, bytes]:
        with self._lock:
            pages, mode = self._state.pages, self._state.next_token
        if request.path.startswith("/orders/v0/orders/") and request.method == "POST":
            return 204, b""
        if request.path != SEARCH_PATH:  # getOrder
            order_id = request.path.rsplit("/", 1)[-1]
            for page in pages:
                for order in page if isinstance(page, list) else page.get("orders") or []:
                    if isinstance(order, dict) and order.get("orderId") == order_id:
                        return 200, json.dumps({"order": order}).encode()
            return 404, _error("NotFound", "order not found")
        token = (request.query.get("paginationToken") or [""])[0]
        if mode == "repeat":
            return 200, json.dumps({"orders": _entries(pages[0]), "pagination": {"nextToken": "same-token"}}).encode()
        if mode == "endless":
            number = int(token.removeprefix("page-")) if token else 0
            return 200, json.dumps({"orders": _entries(pages[0]),
                                    "pagination": {"nextToken": f"page-{number + 1}"}}).encode()
        number = int(token.removeprefix("page-")) if token.startswith("page-") else 0
        if number >= len(pages):
            return 400, _error("InvalidInput", "unknown paginationToken")
        page = pages[number]
        if isinstance(page, dict):  # a whole body, as the test wrote it
            return 200, json.dumps(page).encode()
        body = {"orders": page}
        if number + 1 < len(pages):
            body["pagination"] = {"nextToken": f"page-{number + 1}"}
        return 200, json.dumps(body).encode()


def _entries(page) -> list:
    return page if isinstance(page, list) else page.get("orders") or []


def _huge_body(size: int) -> bytes:
    """`size` bytes of valid JSON: {"orders": [], "filler": "xxx..."}."""
    head, tail = b'{"orders": [], "filler": "', b'"}'
    return head + b"x" * max(0, size - len(head) - len(tail)) + tail


def _error(code: str, message: str) -> bytes:
    return json.dumps({"errors": [{"code": code, "message": message}]}).encode()


def _handler(amazon: HostileAmazon):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"  # one request per connection; a body without length ends when it closes

        def log_message(self, *args):  # quiet: the test output is for the tests
            pass

        def _handle(self):
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            request = Received(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            amazon._record(request)
            status, headers, payload, bad = amazon._answer(request)
            try:
                self._send(status, headers, payload, bad)
            except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
                pass  # the client hung up, as it should on a hostile answer

        def _send(self, status: int, headers: dict, payload: bytes, bad: _Misbehaviour | None):
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
            for name, value in headers.items():
                self.send_header(name, value)
            if bad and bad.gzip:
                payload = gzip.compress(_huge_body(bad.huge[0]) if bad.huge else payload)
                self.send_header("content-encoding", "gzip")
            elif bad and bad.huge:
                size, announce = bad.huge
                if announce:
                    self.send_header("content-length", str(size))
                self.end_headers()
                self._send_huge(size)
                return
            self.send_header("content-length", str(len(payload)))
            if bad and bad.trickle:
                head = b""
                if bad.trickle_headers:  # taken back from the handler's buffer, to be sent byte by byte
                    head, self._headers_buffer = b"".join(self._headers_buffer) + b"\r\n", []
                else:
                    self.end_headers()
                started = time.monotonic()
                for byte in head + payload:
                    if amazon._stopping.wait(bad.trickle) or time.monotonic() - started > MAX_TRICKLE_SECONDS:
                        return
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                return
            self.end_headers()
            self.wfile.write(payload)

        def _send_huge(self, size: int):
            """`size` bytes of valid JSON: {"orders": [], "filler": "xxx..."}."""
            head, tail = b'{"orders": [], "filler": "', b'"}'
            self.wfile.write(head)
            left, block = max(0, size - len(head) - len(tail)), b"x" * 65536
            while left > 0 and not amazon._stopping.is_set():
                self.wfile.write(block[:left])
                left -= len(block)
            self.wfile.write(tail)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    return Handler
