"""Test support (no fixtures): paths, the emulator's start arguments and admin client, per-run server databases,
and helpers the integration tests share. Fixtures live in tests/conftest.py."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest
import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "tests" / "spapi_models"  # Amazon's official models (Apache-2.0), see its README
# A fixed, stopped emulator clock makes windows and ground truth repeatable: nothing changes at "Amazon" between a
# run and the test's look at the ground truth unless the test advances the clock.
EMULATOR_CLOCK = "2026-03-10T12:00:00Z"
EMULATOR_ARGS = ["--seed", "7", "--orders", "6000", "--history-days", "10", "--future-days", "2",
                 "--clock-start", EMULATOR_CLOCK, "--clock-speed", "0", "--rate-scale", "2000"]
# Two sellers in the three regions (six worlds): small worlds keep the many-accounts DAG runs quick.
SELLERS_EMULATOR_ARGS = [*EMULATOR_ARGS[:2], "--orders", "150", *EMULATOR_ARGS[4:], "--sellers", "2"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class EmulatorServer:
    """A running emulator process and its admin API."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        # A new connection per admin call: the emulator (uvicorn) closes a connection idle for 5 s, and a call that
        # reuses one just as it closes fails with RemoteDisconnected (seen on a teardown reset 5 s after the setup's).
        self.admin = requests.Session()
        self.admin.headers["Connection"] = "close"

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


def emulator_client(emulator: EmulatorServer):
    """Our SP-API client, configured as an operator would from the emulator's application and seller."""
    from amazon_channel.spapi import SpApiClient, SpApiConfig

    cfg = emulator.get("config")
    return SpApiClient(SpApiConfig.from_connection(cfg["client_id"], cfg["client_secret"], emulator.connection_extra()))


def running_emulator(args: list[str]):
    """An emulator process started with `args` on a free port, as a generator for fixtures: yields its admin
    client once it answers, stops it when resumed."""
    for _attempt in range(5):
        port = free_port()
        log = tempfile.NamedTemporaryFile("w+", prefix="emulator-", suffix=".log", delete=False)
        # Its own session: signals meant for a task's process group in dag.test never reach the emulator.
        proc = subprocess.Popen([sys.executable, "-m", "amazon_channel.emulator", "--port", str(port), *args],
                                stdout=log, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        server = EmulatorServer(f"http://127.0.0.1:{port}")
        if _answers_on(proc, port, server):
            break
        proc.kill()
        proc.wait(10)
        log.close()
        output = Path(log.name).read_text()
        os.unlink(log.name)
        if "address already in use" not in output:
            raise RuntimeError(f"emulator did not start: {output}")
    else:
        raise RuntimeError("emulator did not start: no free port after 5 tries")
    yield server
    proc.terminate()
    proc.wait(10)
    log.close()
    os.unlink(log.name)  # nothing left behind in the temporary folder


def _answers_on(proc: subprocess.Popen, port: int, server: EmulatorServer) -> bool:
    """Whether `proc` itself answers on `port`. Another test process (pytest-xdist) may take the same free port
    between our probe and the emulator's bind: then its emulator answers and ours exits, and ours must retry."""
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            server.get("health")
        except requests.ConnectionError:
            time.sleep(0.1)
            continue
        listening = {c.laddr.port for c in psutil.Process(proc.pid).net_connections("tcp")
                     if c.status == psutil.CONN_LISTEN}
        if port in listening:
            return True
        time.sleep(0.1)
    return False


# The Commerce DB's dialects, as fixture params: PostgreSQL and MariaDB tests carry their server's marker.
DIALECTS = [pytest.param("sqlite"), pytest.param("postgresql", marks=pytest.mark.postgres),
            pytest.param("mariadb", marks=pytest.mark.mariadb)]


def empty_commerce_db(request, dialect: str, folder: Path) -> str:
    """The URL of an empty Commerce DB with the schema and the demo catalog: a file in `folder` on SQLite, this
    run's database on a server (skipped when the server is unreachable, except on CI)."""
    from amazon_channel.commerce.db import commerce_engine
    from amazon_channel.commerce.schema import metadata
    from amazon_channel.tools.demo import seed_catalog

    if dialect == "sqlite":
        url = f"sqlite:///{folder}/commerce.db"
    else:
        try:
            url = request.getfixturevalue("server_databases").url(dialect)
        except Exception as exc:  # a user's machine may have no database server; CI always has both
            if os.environ.get("CI"):
                raise
            reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
            pytest.skip(f"{dialect} not reachable ({type(exc).__name__}: {reason}); CI runs these tests")
    engine = commerce_engine(url)
    metadata.drop_all(engine)
    seed_catalog(engine)
    engine.dispose()
    return url


# ---- a Commerce database of its own per test run on each server -------------------------------------------

# The servers the database tests use: dialect -> (environment variable naming another server, default).
# A database in such a URL is only where CREATE/DROP DATABASE run; the tests' own database is made per run.
COMMERCE_SERVERS = {
    "postgresql": ("TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432"),
    "mariadb": ("TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306"),
}
TEST_DATABASE_PREFIX = "amazon_channel_test_"


class ServerDatabases:
    """One uniquely named database per test run on each server, created on first use and dropped by `drop_all`.

    Two test runs on one machine (or CI jobs sharing a server) never see each other's tables. A server that
    cannot be reached or refuses to create the database is remembered, so later tests fail or skip at once.
    """

    def __init__(self):
        self.name = f"{TEST_DATABASE_PREFIX}{os.getpid()}_{secrets.token_hex(4)}"
        self.servers = {dialect: os.environ.get(variable) or default
                        for dialect, (variable, default) in COMMERCE_SERVERS.items()}
        self.created: dict[str, str] = {}  # dialect -> URL of the run's database
        self.errors: dict[str, Exception] = {}

    def url(self, dialect: str) -> str:
        """The run's database on that server, created on first call; raises what the server raised."""
        if dialect in self.errors:
            raise self.errors[dialect]
        if dialect not in self.created:
            try:
                self.created[dialect] = self._create(dialect)
            except Exception as exc:
                self.errors[dialect] = exc
                raise
        return self.created[dialect]

    def _admin(self, dialect: str):
        """An engine on the server for CREATE/DROP DATABASE (PostgreSQL: the `postgres` database by default)."""
        url = make_url(self.servers[dialect])
        if dialect == "postgresql" and not url.database:
            url = url.set(database="postgres")
        return create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool,
                             connect_args={"connect_timeout": 10})

    def _create(self, dialect: str) -> str:
        engine = self._admin(dialect)
        try:
            with engine.connect() as conn:
                if dialect == "postgresql":
                    conn.execute(text(f'CREATE DATABASE "{self.name}"'))
                else:
                    conn.execute(text(f"CREATE DATABASE `{self.name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"))
        finally:
            engine.dispose()
        return make_url(self.servers[dialect]).set(database=self.name).render_as_string(hide_password=False)

    def drop_all(self) -> list[str]:
        """Drop every database this run created (closing other sessions still on it); returns the failures."""
        failures = []
        for dialect in list(self.created):
            engine = self._admin(dialect)
            try:
                with engine.connect() as conn:
                    if dialect == "postgresql":
                        conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                          "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": self.name})
                        conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}"'))
                    else:
                        sessions = conn.execute(text("SELECT id FROM information_schema.processlist "
                                                     "WHERE db = :name AND id <> CONNECTION_ID()"),
                                                {"name": self.name}).scalars().all()
                        for session_id in sessions:
                            try:
                                conn.execute(text(f"KILL {int(session_id)}"))
                            except Exception:  # it ended by itself meanwhile
                                pass
                        conn.execute(text(f"DROP DATABASE IF EXISTS `{self.name}`"))
                del self.created[dialect]
            except Exception as exc:
                failures.append(f"{dialect}: could not drop database {self.name}: {exc}")
            finally:
                engine.dispose()
        return failures


# ---- helpers for pipeline tests ------------------------------------------------------------------------------

UNLINKED_IDS = {"order_item_id"}  # surrogate ids of another table held without a foreign key (as in Magento)


def table_checksums(engine, surrogate_keys: bool = True) -> dict[str, str]:
    """sha256 of every Commerce table's rows: equal checksums mean identical content.

    With surrogate_keys=False, auto-increment ids and the foreign keys holding them are left out: PostgreSQL
    and MariaDB do not give back ids a rolled-back transaction used, so only the business content can equal a
    clean run's after a failure. The run log tables grow with every run by design and are left out; so is the
    wall-clock time of note history rows when comparing separate databases.
    """
    from sqlalchemy import select

    from amazon_channel.commerce.schema import RUN_LOG_TABLES, metadata

    sums = {}
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            if table.name in RUN_LOG_TABLES:
                continue
            columns = [c for c in table.columns if surrogate_keys or not (
                (c.primary_key and c.autoincrement is True) or c.foreign_keys or c.name in UNLINKED_IDS
                or c.name == "noted_at")]
            rows = [repr(tuple(row)) for row in conn.execute(select(*columns).order_by(*table.primary_key.columns))]
            digest = hashlib.sha256()
            for row in rows if surrogate_keys else sorted(rows):
                digest.update(row.encode())
            sums[table.name] = digest.hexdigest()
    return sums


def set_order_settings(monkeypatch, settings: dict) -> None:
    monkeypatch.setenv("AIRFLOW_VAR_AMAZON_CHANNEL_ORDER_SETTINGS", json.dumps(settings))


def run_sync(interval_end, dag_id: str = "amazon_orders_sync", **conf):
    """Run a sync DAG (the default account's unless `dag_id` names an account's, `amazon_orders_sync__<id>`) with
    dag.test for the hourly interval ending at `interval_end`."""
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(ROOT / "dags")).get_dag(dag_id)
    run = dag.test(logical_date=interval_end, run_conf=conf or None)
    return run


# ---- searching Airflow for buyer data (Amazon's Data Protection Policy) --------------------------------------

BUYER_FIELDS = ("name", "email", "phone", "street")  # searched as whole values: names and streets are few and common


def buyer_values(truth: list[dict]) -> set[str]:
    """Every order's whole buyer name, e-mail, phone and street in the emulator's ground truth (`emulator.truth`)."""
    return {order["buyer"][field] for order in truth for field in BUYER_FIELDS if order["buyer"].get(field)}


def _written_forms(value: str) -> set[str]:
    """`value` as it may be written: as it is, escaped in JSON (non-ASCII as \\uXXXX: XCom, rendered fields and
    serialized rows are JSON) and quoted in a URL."""
    from urllib.parse import quote, quote_plus

    return {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1], quote(value),
            quote_plus(value)}


def _trie_pattern(words: set[str]):
    """One regex matching any of `words` (a trie, so the text is scanned once however many words there are)."""
    import re

    trie: dict = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def walk(node: dict) -> str:
        branches = [re.escape(char) + walk(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        pattern = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{pattern})?" if "" in node else pattern

    return re.compile(walk(trie))


def find_buyer_data(texts, truth: list[dict]) -> list[tuple[str, str]]:
    """Where any whole buyer name, e-mail, phone or street of the orders in `truth` occurs in `texts`, an iterable of
    (where, text): a list of (where:line, the value found), one per place and value, so a failure says where the leak
    is without printing the text around it."""
    forms = {form: value for value in buyer_values(truth) for form in _written_forms(value)}
    if not forms:
        raise ValueError("no buyer data in the ground truth: a search for nothing cannot fail")
    pattern = _trie_pattern(set(forms))
    hits: dict[tuple[str, str], None] = {}
    for where, content in texts:
        for match in pattern.finditer(content):
            line = content.count("\n", 0, match.start()) + 1
            hits[(f"{where}:{line}" if "\n" in content else where, forms[match.group()])] = None
    return list(hits)


def _cell_text(value) -> str:
    """A metadata DB cell as text to search: bytes (pickles, zlib-compressed serialized DAGs) decoded as UTF-8."""
    import zlib

    if isinstance(value, bytes | memoryview):
        value = bytes(value)
        try:
            value = zlib.decompress(value)
        except zlib.error:
            pass
        return value.decode("utf-8", "replace")
    return str(value)


def airflow_metadata_rows(tables: list[str] | None = None):
    """(where, text) of every row of every table (or of `tables`) of this process's Airflow metadata DB, where names
    the table and the row's dag, task and run ids when it has them."""
    from airflow import settings
    from sqlalchemy import MetaData, select

    metadata = MetaData()
    metadata.reflect(settings.engine, only=tables)
    with settings.engine.connect() as conn:
        for table in metadata.sorted_tables:
            keys = [c for c in ("dag_id", "task_id", "run_id", "key", "id") if c in table.c]
            for n, row in enumerate(conn.execute(select(table)).mappings(), start=1):
                label = ", ".join(f"{k}={row[k]}" for k in keys)
                yield f"metadata DB {table.name} row {n} ({label})", " | ".join(_cell_text(v) for v in row.values())


def airflow_log_files(home: str | None = None):
    """(where, text) of every file under the Airflow home's logs folder (task, dag-processor and scheduler logs)."""
    from airflow.configuration import conf

    folder = Path(conf.get("logging", "base_log_folder")) if home is None else Path(home) / "logs"
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        yield str(path), path.read_bytes().decode("utf-8", "replace")
