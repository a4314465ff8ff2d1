"""Mistakes retrying cannot fix fail the task at once, naming the fix; transient trouble keeps its retries.

Each case goes through what a task does: the DAG's `fail_fast()` around the real hook or step, with real
connections (AIRFLOW_CONN_* as the environment gives them), the real emulator over HTTP and real databases.
"""

from __future__ import annotations

import json
import os

import pytest
from airflow.sdk.exceptions import AirflowFailException

from tests.support import COMMERCE_SERVERS

pytestmark = [pytest.mark.airflow]


def run_as_task(action):
    """Run `action` as a task body does; return the AirflowFailException it became, or what it raised as is."""
    from channel_common import fail_fast

    try:
        with fail_fast():
            action()
    except Exception as exc:  # noqa: BLE001 (the test looks at which kind came out)
        print(f"{type(exc).__name__}: {exc}")  # what the operator reads in the task log (pytest -s shows it)
        return exc
    raise AssertionError("the action did not fail")


def sp_api_client():
    from channel_common import sp_api_client

    return sp_api_client()


def set_connection(monkeypatch, emulator, **extra_changes):
    cfg = emulator.get("config")
    extra = {**emulator.connection_extra(), **extra_changes}
    extra = {k: v for k, v in extra.items() if v is not None}
    monkeypatch.setenv("AIRFLOW_CONN_AMAZON_SP_API", json.dumps({
        "conn_type": "generic", "login": cfg["client_id"], "password": cfg["client_secret"], "extra": extra}))


def test_malformed_connection_json_names_the_variable(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_AMAZON_SP_API", '{"conn_type": "generic", "login": ')

    error = run_as_task(sp_api_client)

    assert isinstance(error, AirflowFailException)
    assert "AIRFLOW_CONN_AMAZON_SP_API is not valid JSON" in str(error)


def test_missing_connection_says_where_to_add_it(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_AMAZON_SP_API", raising=False)

    error = run_as_task(sp_api_client)

    assert isinstance(error, AirflowFailException)
    assert "'amazon_sp_api' is not defined" in str(error) and "Admin > Connections" in str(error)


@pytest.mark.emulator
@pytest.mark.parametrize(("changes", "message"), [
    pytest.param({"refresh_token": None}, "missing extra.refresh_token", id="no refresh token"),
    pytest.param({"region": "moon", "endpoint": None}, "unknown SP-API region 'moon'", id="unknown region"),
    pytest.param({"marketplace_ids": ["A1VC38T7YXB528"]}, "not served by region 'na'",
                 id="marketplace of another region"),
])
def test_connection_mistakes_fail_at_once(monkeypatch, emulator, changes, message):
    set_connection(monkeypatch, emulator, **changes)

    error = run_as_task(sp_api_client)

    assert isinstance(error, AirflowFailException) and message in str(error), error


@pytest.mark.emulator
def test_amazon_refusing_the_credentials_fails_at_once(monkeypatch, emulator):
    set_connection(monkeypatch, emulator, refresh_token="Atzr|not-the-sellers-token")

    error = run_as_task(lambda: sp_api_client().access_token())

    assert isinstance(error, AirflowFailException)
    assert "lwaToken: HTTP 400 invalid_grant" in str(error) and "Fix: Amazon refused the credentials" in str(error)


@pytest.mark.emulator
def test_amazon_refusing_the_request_fails_at_once_and_throttling_does_not(monkeypatch, emulator, tmp_path):
    from amazon_channel.spapi import SpApiError
    from amazon_channel.staging import Staging
    from amazon_channel.steps import Run, extract_step

    set_connection(monkeypatch, emulator, marketplace_ids=["A2NOTAMARKETPLACE"])  # not ours to know: Amazon's 400
    run = Run("amazon_orders_sync", "manual__1", Staging(f"file://{tmp_path}"))

    refused = run_as_task(lambda: extract_step(sp_api_client(), run, None, None,
                                               "2026-03-09T00:00:00Z", "2026-03-09T01:00:00Z"))
    emulator.configure(throttle_rate=1.0)
    set_connection(monkeypatch, emulator, deadline=1)
    throttled = run_as_task(lambda: extract_step(sp_api_client(), run, None, None,
                                                 "2026-03-09T00:00:00Z", "2026-03-09T01:00:00Z"))

    assert isinstance(refused, AirflowFailException) and "HTTP 400" in str(refused), refused
    assert isinstance(throttled, SpApiError), throttled  # left to the task's retries


def missing_database_url(dialect: str, tmp_path) -> str:
    if dialect == "sqlite":
        return f"sqlite:///{tmp_path}/no-such-folder/commerce.db"
    variable, default = COMMERCE_SERVERS[dialect]
    return (os.environ.get(variable) or default).rstrip("/") + "/amazon_channel_no_such_database"


@pytest.mark.parametrize("dialect", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres),
                                     pytest.param("mariadb", marks=pytest.mark.mariadb)])
def test_a_commerce_database_that_does_not_exist_fails_at_once(dialect, tmp_path):
    from amazon_channel.commerce.db import commerce_engine
    from amazon_channel.settings import parse_settings
    from amazon_channel.staging import Staging
    from amazon_channel.steps import Run, check_settings_step

    engine = commerce_engine(missing_database_url(dialect, tmp_path))
    run = Run("amazon_orders_sync", "manual__1", Staging(f"file://{tmp_path}"))

    error = run_as_task(lambda: check_settings_step(engine, parse_settings(None), run, 7))

    assert isinstance(error, AirflowFailException), error
    assert "Fix: extra.url of the commerce_db connection" in str(error)


def test_an_unreachable_database_server_keeps_its_retries(tmp_path):
    from sqlalchemy.exc import OperationalError

    from amazon_channel.commerce.db import commerce_engine
    from amazon_channel.settings import parse_settings
    from amazon_channel.staging import Staging
    from amazon_channel.steps import Run, check_settings_step

    engine = commerce_engine("postgresql+psycopg2://postgres@127.0.0.1:1/commerce")  # nothing listens on port 1
    run = Run("amazon_orders_sync", "manual__1", Staging(f"file://{tmp_path}"))

    error = run_as_task(lambda: check_settings_step(engine, parse_settings(None), run, 7))

    assert isinstance(error, OperationalError)  # a server restarting may be back for the next try


def test_broken_order_settings_fail_at_once(monkeypatch):
    from channel_common import order_settings

    monkeypatch.setenv("AIRFLOW_VAR_AMAZON_CHANNEL_ORDER_SETTINGS", '{"default": {"store_id": "one"}}')

    error = run_as_task(order_settings)

    assert isinstance(error, AirflowFailException) and "default.store_id" in str(error), error


@pytest.mark.emulator
def test_a_search_past_the_page_bound_fails_at_once_naming_the_setting(tmp_path):
    from amazon_channel.staging import Staging
    from amazon_channel.steps import Run, extract_step
    from tests.integration.hostile_amazon import HostileAmazon

    run = Run("amazon_orders_sync", "manual__1", Staging(f"file://{tmp_path}"))
    with HostileAmazon() as amazon:
        amazon.endless_pages()
        client = amazon.client(max_pages_per_hour=50)

        error = run_as_task(lambda: extract_step(client, run, None, None,
                                                 "2026-03-09T00:00:00Z", "2026-03-09T01:00:00Z"))

    assert isinstance(error, AirflowFailException), error
    assert "raise extra.max_pages_per_hour" in str(error)
