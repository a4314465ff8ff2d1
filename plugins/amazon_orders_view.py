"""The Amazon Orders view: the Commerce extension's Orders tab, inside the Airflow UI.

A FastAPI app mounted on Airflow's api-server at `/amazon-orders`, linked from the UI's navigation ("Amazon
Orders"), behind Airflow's own login: every route depends on `requires_authenticated()`, which accepts the UI's
session cookie or a bearer token, so an anonymous request gets a 401 and no order data.

Pages: the orders grid (filters, server-side paging and sorting), an order's detail, quarantined and blocked
orders, and sync health. The queries live in `amazon_channel.orders_view`; this module is only the web layer.
Times are shown in UTC.
"""

from __future__ import annotations

import os
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from urllib.parse import urlencode

from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.templating import Jinja2Templates

COMMERCE_DB_CONN_ID = "commerce_db"
MOUNT = "/amazon-orders"
# Optional link from an order to the Commerce admin, e.g. https://shop.example/admin/sales/order/view/order_id/{id}/
COMMERCE_ADMIN_ORDER_URL = os.environ.get("AMAZON_CHANNEL_COMMERCE_ORDER_URL", "")

templates = Jinja2Templates(directory=Path(__file__).parent / "amazon_orders_templates")


def _authenticated():
    from airflow.api_fastapi.core_api.security import requires_authenticated

    return requires_authenticated()


app = FastAPI(title="Amazon Orders", dependencies=[Depends(_authenticated())], docs_url=None, redoc_url=None,
              openapi_url=None)


@cache
def _engine(url: str):
    from amazon_channel.commerce.db import commerce_engine

    return commerce_engine(url)


def _connect():
    from commerce_db_hook import CommerceDbHook

    return _engine(CommerceDbHook(COMMERCE_DB_CONN_ID).get_url()).connect()


def _fmt_time(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else ""


def _fmt_money(value, currency: str | None = None) -> str:
    if value is None:
        return ""
    return f"{value.normalize():f}".rstrip(".") + (f" {currency}" if currency else "")


def _fmt_minutes(minutes: int | None) -> str:
    if minutes is None:
        return ""
    return f"{minutes} min" if abs(minutes) < 120 else (
        f"{minutes / 60:.1f} h" if abs(minutes) < 48 * 60 else f"{minutes / 1440:.0f} days")


def _marketplace(marketplace_id: str) -> str:
    from amazon_channel.rules import MARKETPLACE_NAMES

    return f"{MARKETPLACE_NAMES.get(marketplace_id, '')} {marketplace_id}".strip()


def _site(marketplace_id: str) -> str:
    from amazon_channel.rules import MARKETPLACE_NAMES

    return MARKETPLACE_NAMES.get(marketplace_id, marketplace_id)


templates.env.filters.update(utc=_fmt_time, money=_fmt_money, minutes=_fmt_minutes, marketplace=_marketplace,
                             site=_site)


def _page(request: Request, name: str, **context) -> HTMLResponse:
    return templates.TemplateResponse(request, name, {"base": request.scope.get("root_path", ""), **context})


def _decimal(value: str | None, field: str) -> Decimal | None:
    if not value:
        return None
    try:
        return Decimal(value)
    except InvalidOperation:
        raise HTTPException(400, f"{field} must be a number, not {value!r}") from None


def _date(value: str | None, field: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise HTTPException(400, f"{field} must be a date (YYYY-MM-DD), not {value!r}") from None


def _grid(request: Request) -> dict:
    from amazon_channel.orders_view import SORTABLE, OrderFilter, list_orders

    q = request.query_params
    filters = OrderFilter(
        purchased_from=_date(q.get("purchased_from"), "purchased_from"),
        purchased_to=_date(q.get("purchased_to"), "purchased_to"),
        order_number=q.get("order_number") or None, buyer_name=q.get("buyer_name") or None,
        total_min=_decimal(q.get("total_min"), "total_min"), total_max=_decimal(q.get("total_max"), "total_max"),
        status=q.get("status") or None, marketplace_id=q.get("marketplace_id") or None)
    sort = q.get("sort", "purchase_date")
    if sort not in SORTABLE:
        raise HTTPException(400, f"cannot sort by {sort!r}")
    try:
        page, page_size = int(q.get("page", 1)), int(q.get("page_size", 50))
    except ValueError:
        raise HTTPException(400, "page and page_size must be whole numbers") from None
    with _connect() as conn:
        result = list_orders(conn, filters, sort, q.get("dir", "desc") != "asc", page, page_size)
    return {**result, "query": {k: v for k, v in q.items() if v and k != "page"}}


@app.get("/", response_class=HTMLResponse)
def orders_page(request: Request):
    from amazon_channel.orders_view import PAGE_SIZES, SORTABLE, filter_choices

    grid = _grid(request)
    with _connect() as conn:
        choices = filter_choices(conn)

    def link(**changes) -> str:
        return "?" + urlencode({**grid["query"], **changes})

    return _page(request, "orders.html", grid=grid, choices=choices, sortable=SORTABLE, page_sizes=PAGE_SIZES,
                 link=link, q=request.query_params)


@app.get("/api/orders")
def orders_json(request: Request):
    """The grid as JSON, for scripts and the benchmark."""
    grid = _grid(request)
    return JSONResponse({**grid, "rows": [{k: (str(v) if v is not None and not isinstance(v, int | str) else v)
                                           for k, v in row.items()} for row in grid["rows"]]})


@app.get("/orders/{amazon_order_id}", response_class=HTMLResponse)
def order_page(request: Request, amazon_order_id: str):
    from amazon_channel.orders_view import order_detail

    with _connect() as conn:
        detail = order_detail(conn, amazon_order_id)
    if detail is None:
        raise HTTPException(404, f"no Amazon order {amazon_order_id} in the Commerce database")
    return _page(request, "order.html", d=detail, commerce_url=COMMERCE_ADMIN_ORDER_URL)


@app.get("/problems", response_class=HTMLResponse)
def problems_page(request: Request):
    from amazon_channel.orders_view import blocked_orders, quarantined_rows

    show_resolved = request.query_params.get("resolved") == "1"
    with _connect() as conn:
        quarantine, blocked = quarantined_rows(conn, show_resolved), blocked_orders(conn)
    return _page(request, "problems.html", quarantine=quarantine, blocked=blocked, show_resolved=show_resolved)


@app.get("/health", response_class=HTMLResponse)
def health_page(request: Request):
    from amazon_channel.orders_view import quarantine_count, sync_health

    with _connect() as conn:
        health, quarantined = sync_health(conn), quarantine_count(conn)
    return _page(request, "health.html", health=health, quarantined=quarantined)


class AmazonOrdersPlugin(AirflowPlugin):
    name = "amazon_orders_view"
    fastapi_apps = [{"app": app, "url_prefix": MOUNT, "name": "Amazon Orders"}]
    external_views = [{"name": "Amazon Orders", "href": f"{MOUNT}/", "url_route": "amazon-orders",
                       "destination": "nav"}]
