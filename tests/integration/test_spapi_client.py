"""Our SP-API client against the emulator over HTTP: pagination, tokens, throttling, retries, errors."""

from __future__ import annotations

import math
import re
import threading
from datetime import UTC, datetime

import pytest

from amazon_channel.spapi import SpApiClient, SpApiConfig, SpApiError

pytestmark = [pytest.mark.emulator]
START, END = datetime(2026, 3, 8, tzinfo=UTC), datetime(2026, 3, 9, 12, tzinfo=UTC)


def truth_ids(emulator, start=START, end=END) -> set[str]:
    return {o["orderId"] for o in emulator.truth(start.isoformat(), end.isoformat())}


def extract_ids(client, page_size=100) -> tuple[set[str], int]:
    ids, received = [], 0
    for page in client.search_pages(last_updated_after=START, last_updated_before=END, page_size=page_size):
        ids += [o["orderId"] for o in page.orders]
        received += page.received
    assert len(ids) == len(set(ids)), "an order was yielded twice"
    return set(ids), received


def test_pagination_returns_exactly_the_ground_truth_with_minimum_calls(client, emulator):
    expected = truth_ids(emulator)
    ids, received = extract_ids(client)
    assert ids == expected and len(expected) > 500
    assert client.stats.calls == math.ceil(len(expected) / 100)
    assert client.stats.throttled == 0


def test_repeated_orders_across_pages_are_dropped(client, emulator):
    emulator.configure(repeat_rate=1.0)
    expected = truth_ids(emulator)
    ids, received = extract_ids(client)
    assert ids == expected
    assert received > len(ids)  # the emulator really did repeat orders


def test_throttling_loses_no_page(emulator):
    """Two clients sharing one seller's quota (overlapping runs): 429s are retried, no page is lost."""
    emulator.configure(rate_scale=5000)  # 28 searches/s; small pages make ~90 calls per client
    cfg = emulator.get("config")
    clients = [SpApiClient(SpApiConfig.from_connection(cfg["client_id"], cfg["client_secret"],
                                                       emulator.connection_extra())) for _ in range(2)]
    results: list[set[str]] = [set(), set()]

    def run(n):
        results[n] = extract_ids(clients[n], page_size=10)[0]

    threads = [threading.Thread(target=run, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    expected = truth_ids(emulator)
    assert results[0] == expected and results[1] == expected
    assert sum(c.stats.throttled for c in clients) > 0
    assert emulator.get("stats")["operations"]["searchOrders"]["throttled"] == sum(c.stats.throttled for c in clients)


def test_server_errors_are_retried(client, emulator):
    emulator.configure(error_rate=0.3)
    expected = truth_ids(emulator)
    ids, _ = extract_ids(client)
    assert ids == expected
    assert client.stats.retried_errors > 0
    assert client.stats.retried_errors == emulator.get("stats")["operations"]["searchOrders"]["injected_errors"]


def test_retries_stop_at_the_deadline(client, emulator):
    emulator.configure(error_rate=1.0)
    client.config.deadline = 1.0
    with pytest.raises(SpApiError) as err:
        client.get_order("111-1111111-1111111")
    assert err.value.code == "DeadlineExceeded" and "HTTP 50" in str(err.value)


def test_an_attempt_the_deadline_cuts_short_does_not_hide_the_error_before_it(client, emulator):
    # Each answer is a 500 after 0.4 s: the third attempt starts with 0.2 s of the deadline left and times out.
    emulator.configure(error_rate=1.0, slow_rate=1.0, slow_seconds=0.4)
    client.config.deadline, client.config.backoff_base = 1.0, 0.001
    with pytest.raises(SpApiError) as err:
        client.get_order("111-1111111-1111111")
    assert err.value.code == "DeadlineExceeded" and re.search(r"last: HTTP 50[03]$", str(err.value)), str(err.value)


def test_client_errors_are_not_retried_and_carry_amazons_words(client, emulator):
    with pytest.raises(SpApiError) as err:
        client.get_order("999-0000000-0000000")
    assert err.value.status == 404 and err.value.code == "NotFound"
    assert err.value.request_id and err.value.request_id in str(err.value)
    with pytest.raises(SpApiError) as err:
        list(client.search_pages(last_updated_after=START, last_updated_before=datetime(2030, 1, 1, tzinfo=UTC)))
    assert err.value.status == 400 and "two minutes" in err.value.amazon_message
    assert emulator.get("stats")["operations"]["getOrder"]["requests"] == 1
    assert emulator.get("stats")["operations"]["searchOrders"]["requests"] == 1


def test_token_is_cached_and_refreshed_once_when_rejected(client, emulator):
    order_id = next(iter(truth_ids(emulator)))
    client.get_order(order_id)
    client.get_order(order_id)
    assert client.stats.token_refreshes == 1
    emulator.reset()  # the emulator forgets every token it issued, as an expired token looks to the client
    assert client.get_order(order_id)["orderId"] == order_id
    assert client.stats.token_refreshes == 2


def test_token_refreshed_before_expiry(client, emulator):
    emulator.configure(access_token_ttl=60)  # within the client's 60 s safety margin: every call refreshes
    order_id = next(iter(truth_ids(emulator)))
    client.get_order(order_id)
    client.get_order(order_id)
    assert client.stats.token_refreshes == 2
    assert client.stats.calls == 2  # no call was wasted on a 403


def test_bad_credentials_raise_lwa_error(emulator):
    cfg = emulator.get("config")
    client = SpApiClient(SpApiConfig.from_connection(cfg["client_id"], "wrong", emulator.connection_extra()))
    with pytest.raises(SpApiError) as err:
        client.get_order("111-1111111-1111111")
    assert err.value.code == "invalid_client" and err.value.status == 401


def test_client_adopts_the_rate_amazon_announces(client, emulator):
    client.get_order(next(iter(truth_ids(emulator))))
    assert client.buckets["getOrder"].rate == pytest.approx(0.5 * 2000)


def test_logs_carry_no_buyer_data_or_secrets(client, emulator, caplog):
    caplog.set_level("DEBUG")
    emulator.configure(error_rate=0.3)
    orders = [o for page in client.search_pages(last_updated_after=START, last_updated_before=END) for o in page.orders]
    text = caplog.text
    assert "x-amzn-RequestId" in text or "retry" in text
    secrets = [client.config.client_secret, client.config.refresh_token, client._token]
    personal = {o["buyer"].get("buyerEmail") for o in orders if o.get("buyer")} | {
        o["buyer"].get("buyerName") for o in orders if o.get("buyer")}
    for value in [*secrets, *(p for p in personal if p)]:
        assert value not in text
