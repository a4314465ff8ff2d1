"""The SP-API client against a hostile or broken Amazon (tests/integration/hostile_amazon.py): credentials never
leave the configured hosts, no answer holds a call past its deadline or fills memory, no pagination runs forever,
and one malformed order never sinks a page."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

import pytest

from amazon_channel.spapi import SpApiError
from tests.integration.hostile_amazon import LWA_PATH, SEARCH_PATH, HostileAmazon
from tests.support import free_port

pytestmark = [pytest.mark.emulator]
START = datetime(2026, 3, 10, 10, tzinfo=UTC)
END = START + timedelta(hours=1)
SECRETS = (HostileAmazon.PASSWORD, HostileAmazon.REFRESH_TOKEN, HostileAmazon.ACCESS_TOKEN)


def order(order_id: str) -> dict:
    return {"orderId": order_id, "buyer": {"buyerEmail": f"{order_id}@marketplace.amazon.com"}}


def search(client, start=START, end=END) -> list:
    return list(client.search_pages(last_updated_after=start, last_updated_before=end))


@pytest.fixture
def amazon():
    with HostileAmazon(pages=[[order("111-0000000-0000001")]]) as server:
        yield server


@pytest.fixture
def other():
    """Another host: 127.0.0.2 (loopback too), holding orders that must never become ours."""
    with HostileAmazon(pages=[[order("999-6666666-6666666")]], host="127.0.0.2") as server:
        yield server


def test_the_stand_in_serves_chained_pages(amazon):
    amazon.set_pages([[order("A"), order("B")], [order("B"), order("C")], [order("D")]])
    client = amazon.client()

    pages = search(client)

    assert [[o["orderId"] for o in p.orders] for p in pages] == [["A", "B"], ["C"], ["D"]]
    assert [p.received for p in pages] == [2, 2, 1]
    assert [r.path for r in amazon.received] == [LWA_PATH, SEARCH_PATH, SEARCH_PATH, SEARCH_PATH]
    assert client.get_order("C")["orderId"] == "C"


@pytest.mark.parametrize("status", [302, 307])
def test_sp_api_redirect_is_refused_and_the_token_stays_home(amazon, other, status):
    amazon.redirect("orders", to=other, status=status)
    client = amazon.client()

    with pytest.raises(SpApiError) as err:
        search(client)

    assert err.value.status == status and err.value.code == "Redirect"
    message = str(err.value)
    assert amazon.netloc in message and other.netloc in message and "redirects are refused" in message
    assert other.received == []  # not the token, not the query: nothing reached the other host
    assert len(amazon.requests_to(SEARCH_PATH)) == 1  # a redirect is not retried


@pytest.mark.parametrize("status", [302, 307])
def test_lwa_redirect_is_refused_and_the_secrets_stay_home(amazon, other, status):
    amazon.redirect("lwa", to=other, status=status)
    client = amazon.client()

    with pytest.raises(SpApiError) as err:
        search(client)

    assert err.value.operation == "lwaToken" and err.value.status == status and err.value.code == "Redirect"
    message = str(err.value)
    assert amazon.netloc in message and other.netloc in message and "redirects are refused" in message
    assert other.received == [] and not other.requests_containing(*SECRETS)
    assert len(amazon.requests_to(LWA_PATH)) == 1 and amazon.requests_to(SEARCH_PATH) == []


def test_repeated_next_token_stops_at_once(amazon):
    amazon.repeat_next_token()
    client = amazon.client()

    with pytest.raises(SpApiError) as err:
        search(client)

    assert err.value.code == "PaginationLoop"
    assert "page 2 sent the same nextToken as page 1" in str(err.value)
    assert "same-token" not in str(err.value)  # the token itself is never shown
    assert len(amazon.requests_to(SEARCH_PATH)) == 2


def test_endless_pagination_stops_at_the_windows_page_bound(amazon):
    amazon.endless_pages()
    client = amazon.client(max_pages_per_hour=50)

    with pytest.raises(SpApiError) as err:
        search(client, START, START + timedelta(hours=3))  # 3 h x 50 pages, above the floor of 100

    assert err.value.code == "TooManyPages"
    assert "stopped after 150 pages" in str(err.value) and "raise extra.max_pages_per_hour" in str(err.value)
    assert len(amazon.requests_to(SEARCH_PATH)) == 150


def test_page_bound_has_a_floor_and_a_default_for_open_windows(amazon):
    client = amazon.client()

    assert client.page_bound(timedelta(hours=1))[0] == 2000
    assert client.page_bound(timedelta(minutes=1))[0] == 100  # the floor
    assert client.page_bound(None)[0] == 24 * 2000  # a search without both ends counts as a day
    assert client.page_bound(timedelta(hours=1), page_size=10)[0] == 20000  # the bound counts 100-order pages


def test_a_trickling_answer_is_cut_at_the_deadline(amazon):
    amazon.trickle("orders", every=0.2)
    client = amazon.client(timeout=1, deadline=2.5)

    started = time.monotonic()
    with pytest.raises(SpApiError) as err:
        search(client)
    elapsed = time.monotonic() - started

    assert elapsed < 2.5 + 0.5
    assert err.value.code == "DeadlineExceeded" and "sent its answer too slowly" in str(err.value)
    assert amazon.netloc in str(err.value)
    assert len(amazon.requests_to(SEARCH_PATH)) >= 2  # a trickle is transient: retried while the deadline allows


def test_trickling_headers_are_cut_at_the_deadline_too(amazon):
    amazon.trickle("orders", every=0.2, headers=True)  # each byte well inside the 1 s read timeout
    client = amazon.client(timeout=1, deadline=2.5)

    started = time.monotonic()
    with pytest.raises(SpApiError) as err:
        search(client)

    assert time.monotonic() - started < 2.5 + 0.5
    assert err.value.code == "DeadlineExceeded" and "did not answer within" in str(err.value)
    assert len(amazon.requests_to(SEARCH_PATH)) >= 2


def test_an_error_body_the_deadline_cuts_short_does_not_hide_the_error_before_it(amazon):
    # Each answer is a 500 whose body (~80 bytes) trickles for about 0.4 s: the last attempt's is cut by the deadline.
    amazon.status("orders", 500).trickle("orders", every=0.005)
    client = amazon.client(timeout=30, deadline=1.0, backoff_base=0.001)

    with pytest.raises(SpApiError) as err:
        search(client)

    assert err.value.code == "DeadlineExceeded" and str(err.value).endswith("last: HTTP 500"), str(err.value)
    assert len(amazon.requests_to(SEARCH_PATH)) >= 2


def test_a_trickling_lwa_answer_is_cut_at_the_deadline(amazon):
    amazon.trickle("lwa", every=0.2)
    client = amazon.client(timeout=0.5, deadline=1.5)

    started = time.monotonic()
    with pytest.raises(SpApiError) as err:
        search(client)

    assert time.monotonic() - started < 1.5 + 0.5
    assert err.value.code == "DeadlineExceeded" and "sent its answer too slowly" in str(err.value)
    assert amazon.requests_to(SEARCH_PATH) == []


@pytest.mark.parametrize("announced", [True, False], ids=["content-length", "no-length"])
def test_an_oversized_answer_is_refused(amazon, announced):
    amazon.huge("orders", size=5_000_000, content_length=announced)
    client = amazon.client(max_response_bytes=1_000_000)

    with pytest.raises(SpApiError) as err:
        search(client)

    assert err.value.code == "ResponseTooLarge"
    assert "1,000,000-byte limit" in str(err.value) and "raise extra.max_response_bytes" in str(err.value)
    assert ("announced 5,000,000 bytes" in str(err.value)) is announced
    assert len(amazon.requests_to(SEARCH_PATH)) == 1  # refused, not retried


def test_the_default_limit_refuses_a_50_mib_answer_without_reading_it(amazon):
    amazon.huge("orders", size=50 * 1024 * 1024)
    client = amazon.client()

    started = time.monotonic()
    with pytest.raises(SpApiError) as err:
        search(client)

    assert err.value.code == "ResponseTooLarge" and "33,554,432-byte limit" in str(err.value)
    assert time.monotonic() - started < 1.5


def test_compressed_answers_are_decoded_within_the_limit(amazon):
    amazon.set_pages([[order("A")], [order("B")]]).gzip("orders")
    client = amazon.client(max_response_bytes=1_000_000)
    assert [o["orderId"] for p in search(client) for o in p.orders] == ["A", "B"]

    amazon.huge("orders", size=5_000_000)  # about 5 kB on the wire, 5 MB inflated

    with pytest.raises(SpApiError) as err:
        search(client)
    assert err.value.code == "ResponseTooLarge" and "decompresses to more than 1,000,000 bytes" in str(err.value)


def test_malformed_entries_pass_through_search_pages(amazon):
    first = [order("A"), "not an object", 42, None, ["A"], {"no": "orderId"}, {"orderId": 7}]
    amazon.set_pages([first, [order("A"), order("B"), "not an object", {"orderId": None}]])
    client = amazon.client()

    pages = search(client)

    assert pages[0].orders == first and pages[0].received == len(first)
    assert pages[1].orders == [order("B"), "not an object", {"orderId": None}]  # only the repeated A is dropped


def test_a_page_that_is_not_a_list_of_orders_is_a_clear_error(amazon):
    amazon.set_pages([{"orders": {"orderId": "A"}}])
    client = amazon.client()

    with pytest.raises(SpApiError) as err:
        search(client)

    assert err.value.code == "InvalidResponse" and "'orders' is a dict, not a list" in str(err.value)


def test_an_unreachable_sp_api_endpoint_is_named_as_such(amazon):
    port = free_port()  # nothing listens there
    client = amazon.client(endpoint=f"http://127.0.0.1:{port}", deadline=1.5)

    with pytest.raises(SpApiError) as err:
        search(client)

    assert err.value.code == "DeadlineExceeded"
    assert f"cannot reach 127.0.0.1:{port}: ConnectionError" in str(err.value)
    assert "no free quota" not in str(err.value)


def test_an_unreachable_lwa_endpoint_is_named_as_such(amazon):
    port = free_port()
    client = amazon.client(lwa_endpoint=f"http://127.0.0.1:{port}/auth/o2/token", deadline=1)

    with pytest.raises(SpApiError) as err:
        search(client)

    assert f"cannot reach 127.0.0.1:{port}: ConnectionError" in str(err.value)
    assert amazon.requests_to(SEARCH_PATH) == []


def test_errors_and_logs_carry_no_secrets_or_query_values(amazon, other, caplog):
    caplog.set_level(logging.DEBUG)
    messages = []
    for misbehave in (lambda: amazon.redirect("orders", to=other), lambda: amazon.redirect("lwa", to=other),
                      lambda: amazon.trickle("orders", every=0.2), lambda: amazon.huge("orders", 2_000_000),
                      lambda: amazon.repeat_next_token()):
        amazon.reset()
        misbehave()
        with pytest.raises(SpApiError) as err:
            search(amazon.client(timeout=0.5, deadline=1, max_response_bytes=1_000_000))
        messages.append(str(err.value))

    everything = caplog.text + "\n".join(messages)  # urllib3's own debug lines included
    ours = "\n".join([r.getMessage() for r in caplog.records if r.name.startswith("amazon_channel")] + messages)
    for value in (*SECRETS, "111-0000000-0000001@marketplace.amazon.com"):
        assert value not in everything
    for value in (HostileAmazon.MARKETPLACE_ID, "2026-03-10T10:00:00Z", "2026-03-10T10%3A00%3A00Z", "same-token"):
        assert value not in ours
    assert "sent its answer too slowly" in ours and "redirects are refused" in ours  # the misbehaviour was seen


def test_new_limits_are_read_from_connection_extras_as_numbers(amazon):
    config = amazon.config(max_response_bytes="1048576", max_pages_per_hour="500", timeout="2.5")

    assert (config.max_response_bytes, config.max_pages_per_hour, config.timeout) == (1048576, 500, 2.5)
    assert amazon.config().max_response_bytes == 32 * 1024 * 1024  # absent: the default
    with pytest.raises(ValueError, match="extra.max_pages_per_hour must be a number"):
        amazon.config(max_pages_per_hour="many")
    with pytest.raises(ValueError, match="extra.max_response_bytes must be greater than 0"):
        amazon.config(max_response_bytes=0)
