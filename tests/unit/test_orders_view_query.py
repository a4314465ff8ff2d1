"""The Amazon Orders grid's query string (plugins/amazon_orders_view.parse_grid_query): every malformed parameter
is a 400 that names it, and what it accepts, even at the edges, is something the queries can run."""

from __future__ import annotations

import time
from datetime import date
from decimal import Decimal

import pytest
from amazon_orders_view import parse_grid_query
from fastapi import HTTPException
from starlette.datastructures import QueryParams

pytestmark = [pytest.mark.unit]

# (query string, the field the 400 names, part of its message)
MALFORMED = [
    ("total_min=ten", "total_min", "must be a number"),
    ("total_min=1,5", "total_min", "must be a number"),
    ("total_min=sNaN", "total_min", "must be a finite number"),
    ("total_max=NaN", "total_max", "must be a finite number"),
    ("total_max=-nan123", "total_max", "must be a finite number"),
    ("total_min=Infinity", "total_min", "must be a finite number"),
    ("total_max=-inf", "total_max", "must be a finite number"),
    ("total_max=10000000000000000", "total_max", "at most 16 digits before the decimal point"),
    ("total_min=-1e16", "total_min", "at most 16 digits before the decimal point"),
    ("total_max=1e999999999999999999", "total_max", "at most 16 digits before the decimal point"),
    ("total_min=1.23456", "total_min", "at most 4 decimal places"),
    ("total_min=1e-999999999999999999", "total_min", "at most 4 decimal places"),
    ("purchased_from=yesterday", "purchased_from", "must be a date (YYYY-MM-DD)"),
    ("purchased_from=2026-02-30", "purchased_from", "must be a date (YYYY-MM-DD)"),
    ("purchased_from=20260210", "purchased_from", "must be a date (YYYY-MM-DD)"),
    ("purchased_from=2026-W07-2", "purchased_from", "must be a date (YYYY-MM-DD)"),
    ("purchased_to=2026-02-10T00:00", "purchased_to", "must be a date (YYYY-MM-DD)"),
    ("purchased_to=0000-01-01", "purchased_to", "must be a date (YYYY-MM-DD)"),
    ("purchased_to=9999-12-31", "purchased_to", "from 1000-01-01 to 9999-12-30"),  # its next day overflows
    ("purchased_from=0999-12-31", "purchased_from", "from 1000-01-01 to 9999-12-31"),
    ("order_number=" + "1" * 65, "order_number", "at most 64 characters"),
    ("buyer_name=" + "x" * 256, "buyer_name", "at most 255 characters"),
    ("status=" + "S" * 33, "status", "at most 32 characters"),
    ("marketplace_id=" + "A" * 33, "marketplace_id", "at most 32 characters"),
    ("order_number=123%00456", "order_number", "control characters"),
    ("buyer_name=Ann%0AEve", "buyer_name", "control characters"),
    ("sort=buyer_email", "sort", "must be one of purchase_date"),
    ("sort=purchase_date;drop", "sort", "must be one of"),
    ("dir=up", "dir", "must be asc or desc"),
    ("dir=ASC", "dir", "must be asc or desc"),
    ("page=0", "page", "from 1 to 1000000000"),
    ("page=-1", "page", "from 1 to 1000000000"),
    ("page=1000000001", "page", "from 1 to 1000000000"),
    ("page=" + "9" * 5000, "page", "from 1 to 1000000000"),
    ("page=1.5", "page", "whole number"),
    ("page=%2B2", "page", "whole number"),
    ("page=two", "page", "whole number"),
    ("page_size=30", "page_size", "one of 25, 50, 100, 200"),
    ("page_size=0", "page_size", "one of 25, 50, 100, 200"),
    ("page_size=100000", "page_size", "one of 25, 50, 100, 200"),
    ("total_min=1&total_min=2", "total_min", "given more than once"),
    ("sort=status&sort=buyer_name", "sort", "given more than once"),
    ("account=US", "account", "must be an account id"),  # ids are lower case, as the accounts file declares them
    ("account=-us", "account", "must be an account id"),
    ("account=us%20east", "account", "must be an account id"),
    ("account=" + "a" * 33, "account", "must be an account id"),
    ("account=us%00", "account", "must be an account id"),
    ("account=us&account=eu", "account", "given more than once"),
]


@pytest.mark.parametrize(("query", "field", "message"), MALFORMED, ids=[q[:40] for q, _, _ in MALFORMED])
def test_a_malformed_parameter_is_a_400_that_names_it(query, field, message):
    # Act
    with pytest.raises(HTTPException) as raised:
        parse_grid_query(QueryParams(query))

    # Assert
    assert raised.value.status_code == 400
    assert raised.value.detail.startswith(f"{field} ") and message in raised.value.detail
    assert len(raised.value.detail) < 200  # the offending value is shown cut short


def test_a_bad_page_is_refused_at_once():
    # Act
    started = time.monotonic()
    with pytest.raises(HTTPException):
        parse_grid_query(QueryParams("page=abc"))

    # Assert
    assert time.monotonic() - started < 0.1  # no walk over range(1, MAX_PAGE + 1)


def test_no_parameters_and_empty_ones_mean_the_defaults():
    # Act
    for query in ("", "purchased_from=&purchased_to=&order_number=&buyer_name=&total_min=&total_max=&status="
                      "&marketplace_id=&account=&sort=&dir=&page=&page_size=", "order_number=++&buyer_name=%09"):
        parsed = parse_grid_query(QueryParams(query))

        # Assert
        assert (parsed.sort, parsed.descending, parsed.page, parsed.page_size) == ("purchase_date", True, 1, 50)
        assert all(value is None for value in vars(parsed.filters).values())


def test_values_at_the_edges_are_accepted():
    # Act
    parsed = parse_grid_query(QueryParams(
        "purchased_from=1000-01-01&purchased_to=9999-12-30&order_number=+171-123%25&buyer_name=" + "é" * 255
        + "&total_min=-9999999999999999.9999&total_max=1.50000000&status=Unshipped&marketplace_id=A1PA6795UKMFR9"
        + "&account=a" + "_-9" * 10 + "z&sort=grand_total&dir=asc&page=1000000000&page_size=200&unrelated=kept"))

    # Assert
    f = parsed.filters
    assert (f.purchased_from, f.purchased_to) == (date(1000, 1, 1), date(9999, 12, 30))
    assert (f.order_number, f.buyer_name) == ("171-123%", "é" * 255)
    assert (f.total_min, f.total_max) == (Decimal("-9999999999999999.9999"), Decimal("1.5000"))
    assert (f.status, f.marketplace_id) == ("Unshipped", "A1PA6795UKMFR9")
    assert f.account_id == "a" + "_-9" * 10 + "z"  # 32 characters: the longest id
    assert (parsed.sort, parsed.descending, parsed.page, parsed.page_size) == ("grand_total", False, 10**9, 200)


def test_the_queries_run_with_the_edge_values(tmp_path):
    # Arrange
    from amazon_channel.commerce.db import commerce_engine
    from amazon_channel.commerce.schema import ensure_schema
    from amazon_channel.orders_view import list_orders

    engine = commerce_engine(f"sqlite:///{tmp_path}/commerce.db")
    ensure_schema(engine)
    parsed = parse_grid_query(QueryParams(
        "purchased_from=1000-01-01&purchased_to=9999-12-30&total_min=-9999999999999999.9999"
        "&total_max=9999999999999999.9999&page=1000000000&page_size=25"))

    # Act
    with engine.connect() as conn:
        result = list_orders(conn, parsed.filters, parsed.sort, parsed.descending, parsed.page, parsed.page_size)
    engine.dispose()

    # Assert
    assert (result["rows"], result["total"], result["page"], result["pages"]) == ([], 0, 1, 1)


def test_hidden_buyer_data_keeps_everything_else():
    from amazon_channel.commerce.schema import channel_amazon_order, channel_amazon_order_item
    from amazon_channel.orders_view import BUYER_DATA, HIDDEN, hide_buyer_data

    assert BUYER_DATA <= {c.name for table in (channel_amazon_order, channel_amazon_order_item) for c in table.c}
    row = {"amazon_order_id": "171-1", "buyer_name": "Jo Doe", "buyer_email": "", "ship_city": None,
           "ship_street": "1 Main St", "ship_country": "DE", "ship_region": "BE", "buyer_company": "ACME"}
    assert hide_buyer_data(row) == {**row, "buyer_name": HIDDEN, "ship_street": HIDDEN}


def test_the_grids_personal_filters_and_sorts_come_from_the_buyer_data():
    from amazon_orders_view import GRID_PARAMS, PERSONAL_FILTERS, PERSONAL_SORTS

    from amazon_channel.orders_view import BUYER_DATA, SORTABLE

    assert PERSONAL_FILTERS == ("buyer_name",) and PERSONAL_SORTS == ("buyer_name",)
    assert set(PERSONAL_SORTS) == set(SORTABLE) & BUYER_DATA
    assert set(PERSONAL_FILTERS) <= set(GRID_PARAMS)  # query parameters of their names, so the access log masks them
