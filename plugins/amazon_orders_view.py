"""The Amazon Orders view: the Commerce extension's Orders tab, inside the Airflow UI.

A FastAPI app mounted on Airflow's api-server at `/amazon-orders`, linked from the UI's navigation ("Amazon
Orders"), behind Airflow's own login: every route depends on `requires_authenticated()`, which accepts the UI's
session cookie or a bearer token, so an anonymous request gets a 401 and no order data.

Pages: the orders grid (filters, server-side paging and sorting), an order's detail, quarantined and blocked
orders, and sync health. The queries live in `amazon_channel.orders_view`; this module is only the web layer.
Times are shown in UTC.
"""

from __future__ import annotations

import logging
import os
import re
import unicodedata
from dataclasses import dataclass, fields
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from urllib.parse import urlencode

from airflow.plugins_manager import AirflowPlugin
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.templating import Jinja2Templates
from starlette.datastructures import QueryParams

from amazon_channel.orders_view import BUYER_DATA, ERASED, SORTABLE, OrderFilter

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


def _user_dependency():
    from airflow.api_fastapi.core_api.security import get_user

    return get_user


def sees_buyer_data(user) -> bool:
    """Buyers' personal data is for users who may read Airflow's connections (Op and Admin; not Viewer or User),
    the same right whichever auth manager the deployment uses."""
    from airflow.api_fastapi.app import get_auth_manager

    return get_auth_manager().is_authorized_connection(method="GET", user=user)


CurrentUser = Depends(_user_dependency())


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
templates.env.globals.update(erased=ERASED)


def _page(request: Request, name: str, **context) -> HTMLResponse:
    return templates.TemplateResponse(request, name, {"base": request.scope.get("root_path", ""), **context})


# ---- the grid's query parameters: every one is parsed and checked here, and a bad one is a 400 naming it ----

TEXT_FILTERS = {"order_number": 64, "buyer_name": 255, "status": 32, "marketplace_id": 32}  # longest column value
MONEY_INTEGER_DIGITS, MONEY_PLACES = 16, 4  # Money is Numeric(20,4): 16 digits before the point, 4 after
FIRST_DAY, LAST_DAY = date(1000, 1, 1), date(9999, 12, 31)  # the DATETIME range of every Commerce DB dialect
MAX_PAGE = 1_000_000_000  # a page past the last shows the last; beyond this the number is nonsense
GRID_PARAMS = ("purchased_from", "purchased_to", *TEXT_FILTERS, "account", "total_min", "total_max", "cancel_requested",
               "sort", "dir", "page", "page_size")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_WHOLE_NUMBER = re.compile(r"[0-9]{1,10}")


def _bad(field: str, message: str) -> HTTPException:
    return HTTPException(400, f"{field} {message}")


def _shown(value: str) -> str:
    """The offending value for an error message, cut short: the message names the field, not a megabyte of input."""
    return repr(value if len(value) <= 40 else value[:40] + "...")


def _text(value: str | None, field: str) -> str | None:
    value = (value or "").strip()
    if not value:
        return None
    if len(value) > TEXT_FILTERS[field]:
        raise _bad(field, f"must be at most {TEXT_FILTERS[field]} characters, not {len(value)}")
    if any(unicodedata.category(c) == "Cc" for c in value):  # NUL, line breaks, escapes: no order has them
        raise _bad(field, f"must not contain control characters: {_shown(value)}")
    return value


def _decimal(value: str | None, field: str) -> Decimal | None:
    """A money bound: a finite number that Money(20,4) can hold, so every dialect compares it exactly."""
    if not value:
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise _bad(field, f"must be a number, not {_shown(value)}") from None
    if not number.is_finite():  # NaN, sNaN (which raises on comparison), Infinity
        raise _bad(field, f"must be a finite number, not {_shown(value)}")
    if number.copy_abs() >= Decimal(10) ** MONEY_INTEGER_DIGITS:  # copy_abs: no context, so no Overflow
        raise _bad(field, f"must have at most {MONEY_INTEGER_DIGITS} digits before the decimal point, "
                          f"not {_shown(value)}")
    exact = number.quantize(Decimal(1).scaleb(-MONEY_PLACES))
    if exact != number:
        raise _bad(field, f"must have at most {MONEY_PLACES} decimal places, not {_shown(value)}")
    return exact


def _date(value: str | None, field: str, last: date = LAST_DAY) -> date | None:
    if not value:
        return None
    try:
        if not _ISO_DATE.fullmatch(value):
            raise ValueError(value)
        day = date.fromisoformat(value)
    except ValueError:
        raise _bad(field, f"must be a date (YYYY-MM-DD), not {_shown(value)}") from None
    if not FIRST_DAY <= day <= last:
        raise _bad(field, f"must be a date from {FIRST_DAY} to {last}, not {_shown(value)}")
    return day


def _whole(value: str | None, field: str, default: int, allowed: range | tuple[int, ...]) -> int:
    if not value:
        return default
    number = int(value) if _WHOLE_NUMBER.fullmatch(value) else None
    if number is None or number not in allowed:
        choices = (f"from {allowed.start} to {allowed.stop - 1}" if isinstance(allowed, range)
                   else f"one of {', '.join(map(str, allowed))}")
        raise _bad(field, f"must be a whole number {choices}, not {_shown(value)}")
    return number


def _account(value: str | None, field: str) -> str | None:
    """An account id as the accounts file declares them (the implicit single account is `default`)."""
    from amazon_channel.accounts import ACCOUNT_ID

    if not value:
        return None
    if not ACCOUNT_ID.fullmatch(value):
        raise _bad(field, "must be an account id (up to 32 lower-case letters, digits, _ or -, starting with a letter "
                          f"or digit), not {_shown(value)}")
    return value


def _flag(value: str | None, field: str) -> bool | None:
    """A checkbox filter: "1" filters, "0" or nothing does not (None)."""
    if value not in (None, "", "0", "1"):
        raise _bad(field, f"must be 1 or 0, not {_shown(value)}")
    return True if value == "1" else None


@dataclass(frozen=True)
class GridQuery:
    filters: OrderFilter
    sort: str = "purchase_date"
    descending: bool = True
    page: int = 1
    page_size: int = 50


def parse_grid_query(q: QueryParams) -> GridQuery:
    """The one place the grid's query string is read. Raises a 400 that names the first bad parameter."""
    from amazon_channel.orders_view import PAGE_SIZES

    for name in GRID_PARAMS:
        if len(q.getlist(name)) > 1:
            raise _bad(name, "is given more than once")
    filters = OrderFilter(
        purchased_from=_date(q.get("purchased_from"), "purchased_from"),
        purchased_to=_date(q.get("purchased_to"), "purchased_to",
                           last=LAST_DAY - timedelta(days=1)),  # the query takes orders before the next day
        **{name: _text(q.get(name), name) for name in TEXT_FILTERS},
        account_id=_account(q.get("account"), "account"),
        total_min=_decimal(q.get("total_min"), "total_min"), total_max=_decimal(q.get("total_max"), "total_max"),
        cancel_requested=_flag(q.get("cancel_requested"), "cancel_requested"))
    sort = q.get("sort") or "purchase_date"
    if sort not in SORTABLE:
        raise _bad("sort", f"must be one of {', '.join(SORTABLE)}, not {_shown(sort)}")
    direction = q.get("dir") or "desc"
    if direction not in ("asc", "desc"):
        raise _bad("dir", f"must be asc or desc, not {_shown(direction)}")
    return GridQuery(filters, sort, direction == "desc", _whole(q.get("page"), "page", 1, range(1, MAX_PAGE + 1)),
                     _whole(q.get("page_size"), "page_size", 50, PAGE_SIZES))


# The grid's filters and sort columns that are buyers' personal data (orders_view.BUYER_DATA decides what is): a
# search or a sort by one reveals it, so they are for users who see buyer data. The filters are query parameters
# of the same name, whose values the access log must mask.
PERSONAL_FILTERS = tuple(f.name for f in fields(OrderFilter) if f.name in BUYER_DATA)
PERSONAL_SORTS = tuple(column for column in SORTABLE if column in BUYER_DATA)


@cache
def _warn_if_access_log_shows_personal_filters() -> None:
    """Once per api-server: Airflow's access log masks a query value only when its name is in [core]
    sensitive_var_conn_names (make run, make cluster and the compose stack set it)."""
    from airflow.configuration import conf

    sensitive = [n.strip().lower() for n in conf.get("core", "sensitive_var_conn_names", fallback="").split(",")]
    shown = [name for name in PERSONAL_FILTERS if not any(s and s in name for s in sensitive)]
    if shown:
        logging.getLogger(__name__).warning(
            "The api-server's access log will show the values searched for in %s: add them to "
            "AIRFLOW__CORE__SENSITIVE_VAR_CONN_NAMES", ", ".join(shown))


def _grid(request: Request, user) -> dict:
    from amazon_channel.orders_view import hide_buyer_data, list_orders

    _warn_if_access_log_shows_personal_filters()
    q = request.query_params
    query = parse_grid_query(q)
    sees = sees_buyer_data(user)
    if not sees:
        personal = [name for name in PERSONAL_FILTERS if getattr(query.filters, name) is not None]
        if query.sort in PERSONAL_SORTS:
            personal.append(query.sort)
        if personal:
            raise HTTPException(403, f"{personal[0]}: your Airflow role may not search or sort by buyers' "
                                     "personal data")
    with _connect() as conn:
        result = list_orders(conn, query.filters, query.sort, query.descending, query.page, query.page_size)
    if not sees:
        result = {**result, "rows": [hide_buyer_data(row) for row in result["rows"]]}
    return {**result, "query": {k: v for k, v in q.items() if v and k != "page"}, "sees_buyer_data": sees}


@app.get("/", response_class=HTMLResponse)
def orders_page(request: Request, user=CurrentUser):
    from amazon_channel.orders_view import PAGE_SIZES, filter_choices

    grid = _grid(request, user)
    with _connect() as conn:
        choices = filter_choices(conn)

    def link(**changes) -> str:
        return "?" + urlencode({**grid["query"], **changes})

    sortable = SORTABLE if grid["sees_buyer_data"] else tuple(c for c in SORTABLE if c not in PERSONAL_SORTS)
    return _page(request, "orders.html", grid=grid, choices=choices, sortable=sortable, page_sizes=PAGE_SIZES,
                 link=link, q=request.query_params)


@app.get("/api/orders")
def orders_json(request: Request, user=CurrentUser):
    """The grid as JSON, for scripts and the benchmark."""
    grid = _grid(request, user)
    return JSONResponse({**grid, "rows": [{k: (str(v) if v is not None and not isinstance(v, int | str) else v)
                                           for k, v in row.items()} for row in grid["rows"]]})


@app.get("/orders/{amazon_order_id}", response_class=HTMLResponse)
def order_page(request: Request, amazon_order_id: str, user=CurrentUser):
    from amazon_channel.orders_view import hide_buyer_data_of_order, order_detail

    detail = None
    if len(amazon_order_id) <= 32 and amazon_order_id.isprintable():  # longer or with a NUL: no such order
        with _connect() as conn:
            detail = order_detail(conn, amazon_order_id)
    if detail is None:
        raise HTTPException(404, f"no Amazon order {amazon_order_id} in the Commerce database")
    sees = sees_buyer_data(user)
    return _page(request, "order.html", d=detail if sees else hide_buyer_data_of_order(detail),
                 commerce_url=COMMERCE_ADMIN_ORDER_URL, sees_buyer_data=sees)


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
