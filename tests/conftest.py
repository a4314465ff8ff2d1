"""Shared fixtures: a real SP-API emulator over HTTP, clients pointed at it, and an Airflow home for DAG tests."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "tests" / "spapi_models"  # Amazon's official models (Apache-2.0), see its README
# A fixed, stopped emulator clock makes windows and ground truth repeatable: nothing changes at "Amazon" between a
# run and the test's look at the ground truth unless the test advances the clock.
EMULATOR_CLOCK = "2026-03-10T12:00:00Z"
EMULATOR_ARGS = ["--seed", "7", "--orders", "6000", "--history-days", "10", "--future-days", "2",
                 "--clock-start", EMULATOR_CLOCK, "--clock-speed", "0", "--rate-scale", "2000"]

# Airflow reads its configuration at import time: point it at a throw-away home before any test imports it.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="airflow-test-"))
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(ROOT / "dags"))
os.environ.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(ROOT / "plugins"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "False")
os.environ.setdefault("AMAZON_CHANNEL_TASK_RETRIES", "0")  # a failing task fails the test now, not after backoff
sys.path[:0] = [str(ROOT / "plugins"), str(ROOT / "dags")]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class EmulatorServer:
    """A running emulator process and its admin API."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.admin = requests.Session()

    def reset(self) -> None:
        self.admin.post(f"{self.base_url}/_emulator/reset").raise_for_status()

    def configure(self, **changes) -> dict:
        response = self.admin.patch(f"{self.base_url}/_emulator/config", json=changes)
        response.raise_for_status()
        return response.json()

    def advance(self, seconds: float) -> str:
        response = self.admin.post(f"{self.base_url}/_emulator/clock/advance", params={"seconds": seconds})
        response.raise_for_status()
        return response.json()["now"]

    def get(self, path: str, **params) -> dict:
        response = self.admin.get(f"{self.base_url}/_emulator/{path}", params=params)
        response.raise_for_status()
        return response.json()

    def truth(self, after: str, before: str) -> list[dict]:
        return self.get("orders", lastUpdatedAfter=after, lastUpdatedBefore=before)["orders"]

    def token(self) -> str:
        cfg = self.get("config")
        response = requests.post(f"{self.base_url}/auth/o2/token", data={
            "grant_type": "refresh_token", "refresh_token": cfg["refresh_token"],
            "client_id": cfg["client_id"], "client_secret": cfg["client_secret"]})
        response.raise_for_status()
        return response.json()["access_token"]

    def connection_extra(self) -> dict:
        return {"refresh_token": self.get("config")["refresh_token"], "region": "na",
                "endpoint": self.base_url, "lwa_endpoint": f"{self.base_url}/auth/o2/token",
                "backoff_base": 0.05, "backoff_cap": 0.5, "deadline": 120}


@pytest.fixture(scope="session")
def emulator_process():
    port = free_port()
    log = tempfile.NamedTemporaryFile("w+", prefix="emulator-", suffix=".log", delete=False)
    # Its own session: signals meant for a task's process group in dag.test never reach the emulator.
    proc = subprocess.Popen([sys.executable, "-m", "amazon_channel.emulator", "--port", str(port), *EMULATOR_ARGS],
                            stdout=log, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    server = EmulatorServer(f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 60
    while True:
        try:
            server.get("health")
            break
        except requests.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"emulator did not start: {open(log.name).read()}") from None
            time.sleep(0.1)
    yield server
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def emulator(emulator_process):
    """The session's emulator, reset to its start state (clock, config, packages, tokens) for each test."""
    emulator_process.reset()
    yield emulator_process
    emulator_process.reset()


@pytest.fixture
def client(emulator):
    from amazon_channel.spapi import SpApiClient, SpApiConfig

    cfg = emulator.get("config")
    config = SpApiConfig.from_connection(cfg["client_id"], cfg["client_secret"], emulator.connection_extra())
    return SpApiClient(config)


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

COMMERCE_URLS = {
    "sqlite": None,  # a file in the test's tmp_path
    "postgresql": "postgresql+psycopg2://postgres@127.0.0.1:5432/test",
    "mariadb": "mysql+pymysql://root@127.0.0.1:3306/test",
}


@pytest.fixture(params=[pytest.param("sqlite"), pytest.param("postgresql", marks=pytest.mark.postgres),
                        pytest.param("mariadb", marks=pytest.mark.mariadb)])
def commerce_url(request, tmp_path):
    """An empty Commerce DB with the schema and the demo catalog, on SQLite, PostgreSQL and MariaDB."""
    from amazon_channel.commerce.db import commerce_engine
    from amazon_channel.commerce.demo import seed_catalog
    from amazon_channel.commerce.schema import metadata

    url = COMMERCE_URLS[request.param] or f"sqlite:///{tmp_path}/commerce.db"
    engine = commerce_engine(url)
    try:
        engine.connect().close()
    except Exception as exc:  # a user's machine may have no database server; CI always has both
        if os.environ.get("CI"):
            raise
        pytest.skip(f"{request.param} not reachable ({type(exc).__name__}); CI runs these tests")
    metadata.drop_all(engine)
    seed_catalog(engine)
    engine.dispose()
    return url


@pytest.fixture
def commerce(commerce_url):
    from amazon_channel.commerce.db import commerce_engine

    engine = commerce_engine(commerce_url)
    yield engine
    engine.dispose()


def table_checksums(engine, surrogate_keys: bool = True) -> dict[str, str]:
    """sha256 of every Commerce table's rows: equal checksums mean identical content.

    With surrogate_keys=False, auto-increment ids and the foreign keys holding them are left out: PostgreSQL
    and MariaDB do not give back ids a rolled-back transaction used, so only the business content can equal a
    clean run's after a failure. The run log tables grow with every run by design and are left out; so is the
    wall-clock time of note history rows when comparing separate databases.
    """
    import hashlib

    from sqlalchemy import select

    from amazon_channel.commerce.schema import RUN_LOG_TABLES, metadata

    sums = {}
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            if table.name in RUN_LOG_TABLES:
                continue
            columns = [c for c in table.columns if surrogate_keys or not (
                (c.primary_key and c.autoincrement is True) or c.foreign_keys or c.name == "noted_at")]
            rows = [repr(tuple(row)) for row in conn.execute(select(*columns).order_by(*table.primary_key.columns))]
            digest = hashlib.sha256()
            for row in rows if surrogate_keys else sorted(rows):
                digest.update(row.encode())
            sums[table.name] = digest.hexdigest()
    return sums


@pytest.fixture
def pipeline_env(airflow_db, sp_api_connection, commerce_url, tmp_path, monkeypatch):
    """Everything a DAG run needs: both connections, staging in tmp_path, default Order Settings."""
    monkeypatch.setenv("AIRFLOW_CONN_COMMERCE_DB", json.dumps({"conn_type": "generic", "extra": {"url": commerce_url}}))
    monkeypatch.setenv("AMAZON_CHANNEL_STAGING_ROOT", f"file://{tmp_path}/staging")
    monkeypatch.delenv("AIRFLOW_VAR_AMAZON_CHANNEL_ORDER_SETTINGS", raising=False)
    return monkeypatch


def set_order_settings(monkeypatch, settings: dict) -> None:
    monkeypatch.setenv("AIRFLOW_VAR_AMAZON_CHANNEL_ORDER_SETTINGS", json.dumps(settings))


def run_sync(interval_end, **conf):
    """Run amazon_orders_sync with dag.test for the hourly interval ending at `interval_end`."""
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(ROOT / "dags")).get_dag("amazon_orders_sync")
    run = dag.test(logical_date=interval_end, run_conf=conf or None)
    return run


@pytest.fixture
def steps(commerce, client, tmp_path):
    """The DAG's task sequence as plain calls on real staging, the emulator and the Commerce DB."""
    from amazon_channel.staging import Staging
    from tests.integration.pipeline_steps import Steps

    return Steps(commerce, Staging(f"file://{tmp_path}/staging"), client)
