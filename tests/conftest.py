"""Shared fixtures: a real SP-API emulator over HTTP, clients pointed at it, an Airflow home for DAG tests, and
a Commerce DB per test on SQLite and on this run's own PostgreSQL and MariaDB databases. Helpers: tests/support.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from tests.support import (
    DIALECTS,
    EMULATOR_ARGS,
    ROOT,
    SELLERS_EMULATOR_ARGS,
    ServerDatabases,
    empty_commerce_db,
    emulator_client,
    running_emulator,
)

# Airflow reads its configuration at import time: point it at a throw-away home before any test imports it.
# One home per process: pytest-xdist workers inherit the controller's environment, and two processes sharing
# one SQLite metadata DB would lock each other out. TEST_AIRFLOW_HOME_OF records "pid:home" of the one we made.
_made_by, _, _made_home = os.environ.get("TEST_AIRFLOW_HOME_OF", "").partition(":")
if "AIRFLOW_HOME" not in os.environ or (_made_home == os.environ["AIRFLOW_HOME"] and _made_by != str(os.getpid())):
    os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="airflow-test-")
    os.environ["TEST_AIRFLOW_HOME_OF"] = f"{os.getpid()}:{os.environ['AIRFLOW_HOME']}"
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(ROOT / "dags"))
os.environ.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(ROOT / "plugins"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "False")
os.environ.setdefault("AMAZON_CHANNEL_TASK_RETRIES", "0")  # a failing task fails the test now, not after backoff
# Every test runs with buyer data sealed at rest, as production does: a key made for the tests (not a secret), the
# same in every process so databases loaded alike stay comparable.
TEST_BUYER_DATA_KEY = ("7cwKRXGCWjaqOLTsi9smwJLLfnE69IowmGISpu9b_sGO"
                       "lu96a6JhHZbdKfBxKj7kR_llebSvyjcc5Ur2ZuTvzg==")  # noqa: S105 (a test key)
os.environ.setdefault("AMAZON_CHANNEL_BUYER_DATA_KEYS", TEST_BUYER_DATA_KEY)
sys.path[:0] = [str(ROOT / "plugins"), str(ROOT / "dags")]


@pytest.fixture(scope="session")
def emulator_process():
    yield from running_emulator(EMULATOR_ARGS)


@pytest.fixture(scope="session")
def sellers_emulator_process():
    """An emulator with two sellers, each authorized in the three regions (`--sellers 2`), small worlds."""
    yield from running_emulator(SELLERS_EMULATOR_ARGS)


@pytest.fixture
def emulator(emulator_process):
    """The session's emulator, reset to its start state (clock, config, packages, tokens) for each test."""
    emulator_process.reset()
    yield emulator_process
    emulator_process.reset()


@pytest.fixture
def client(emulator):
    return emulator_client(emulator)


@pytest.fixture
def sp_api_connection(emulator, monkeypatch):
    """The amazon_sp_api Airflow connection, set the standard way (AIRFLOW_CONN_* as JSON)."""
    cfg = emulator.get("config")
    monkeypatch.setenv("AIRFLOW_CONN_AMAZON_SP_API", json.dumps({
        "conn_type": "generic", "login": cfg["client_id"], "password": cfg["client_secret"],
        "extra": emulator.connection_extra()}))


@pytest.fixture(scope="session")
def airflow_db():
    """A migrated Airflow metadata DB (SQLite in the throw-away AIRFLOW_HOME)."""
    airflow = Path(sys.executable).with_name("airflow")
    subprocess.run([str(airflow), "db", "migrate"], check=True, capture_output=True, env=os.environ.copy())
    return os.environ["AIRFLOW_HOME"]


# ---- the Commerce database on each supported dialect ------------------------------------------------

@pytest.fixture(scope="session")
def server_databases():
    """This run's own database on PostgreSQL and MariaDB (see tests.support.ServerDatabases), made on first use
    and dropped when the session ends, whatever the tests' outcome."""
    databases = ServerDatabases()
    yield databases
    failures = databases.drop_all()
    if failures:
        raise RuntimeError("test databases left behind: " + "; ".join(failures))


@pytest.fixture(params=DIALECTS)
def commerce_url(request, tmp_path):
    """An empty Commerce DB with the schema and the demo catalog, on SQLite, PostgreSQL and MariaDB."""
    return empty_commerce_db(request, request.param, tmp_path)


@pytest.fixture
def commerce(commerce_url):
    from amazon_channel.commerce.db import commerce_engine

    engine = commerce_engine(commerce_url)
    yield engine
    engine.dispose()


@pytest.fixture
def pipeline_env(airflow_db, sp_api_connection, commerce_url, tmp_path, monkeypatch):
    """Everything a DAG run needs: both connections, staging in tmp_path, default Order Settings."""
    monkeypatch.setenv("AIRFLOW_CONN_COMMERCE_DB", json.dumps({"conn_type": "generic", "extra": {"url": commerce_url}}))
    monkeypatch.setenv("AMAZON_CHANNEL_STAGING_ROOT", f"file://{tmp_path}/staging")
    monkeypatch.delenv("AIRFLOW_VAR_AMAZON_CHANNEL_ORDER_SETTINGS", raising=False)
    return monkeypatch


@pytest.fixture
def steps(commerce, client, tmp_path):
    """The DAG's task sequence as plain calls on real staging, the emulator and the Commerce DB."""
    from amazon_channel.staging import Staging
    from tests.integration.pipeline_steps import Steps

    return Steps(commerce, Staging(f"file://{tmp_path}/staging"), client)


@pytest.fixture
def receiver(monkeypatch):
    """A local webhook receiver, set as the `amazon_channel_alerts` connection."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("AIRFLOW_CONN_AMAZON_CHANNEL_ALERTS", json.dumps(
        {"conn_type": "http", "host": f"http://127.0.0.1:{server.server_port}/hooks/ops"}))
    yield received
    server.shutdown()
