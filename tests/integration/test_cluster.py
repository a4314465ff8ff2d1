"""`make cluster` proven: CeleryExecutor with two workers on this machine's PostgreSQL (metadata, Commerce DB) and
Redis (broker), started by include/scripts/run_cluster.sh exactly as an operator starts it.

- `airflow backfill create` replays hours of yesterday while a worker is killed with SIGKILL in the middle of
  `load_orders`; every hour's orders equal the emulator's ground truth, none twice, the killed task was retried on
  the other worker, and the Commerce tables equal a LocalExecutor replay of the same hours (`make run`'s
  run_local.sh, on its own Commerce DB) by checksum.
- Packages shipped in Commerce go to Amazon while the worker running `push_tracking` is killed: one package per
  track at Amazon, each sent once in Commerce.
- Unpaused, a DAG is run by the scheduler on its own for its scheduled intervals (every minute here).
- The scheduler marks the backfill complete (checked last: it looks every 30 s).
- Task instances ran on both workers (their names in the metadata).

The emulator's clock stands an hour ahead of real time, so every window the runs read is in its past and its ground
truth does not move. One module-scoped cluster serves the tests, which run in order and drive it through the REST
API (but for `airflow backfill create`, the command an operator runs); `make test` runs this file alone after the
rest of the suite (`-m cluster`), since it needs the machine's two cores to itself.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
import pytest
import requests
from sqlalchemy import create_engine, select, text
from sqlalchemy.pool import NullPool

from amazon_channel.commerce.db import commerce_engine
from amazon_channel.commerce.schema import channel_amazon_package, channel_amazon_sync_run
from amazon_channel.timeutil import iso_z
from amazon_channel.tools.demo import ship_ready_orders
from tests.integration.commerce_queries import channel_orders, commerce_orders, imported, should_have_commerce_order
from tests.support import ROOT, TEST_DATABASE_PREFIX, EmulatorServer, free_port, running_emulator, table_checksums

pytestmark = [pytest.mark.cluster, pytest.mark.postgres, pytest.mark.emulator, pytest.mark.airflow]

SERVER = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432")
REDIS = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/13")  # a database of its own, emptied first
NOW = datetime.now(UTC).replace(microsecond=0)
CLOCK = (NOW + timedelta(hours=2)).replace(minute=0, second=0)  # the emulator's clock stands here
DAY = (NOW - timedelta(days=1)).replace(hour=0, minute=0, second=0)  # yesterday, replayed by backfill
HOURS = int(os.environ.get("CLUSTER_TEST_HOURS", "3"))  # hours of yesterday the backfill replays, all at once
EMULATOR_ARGS = ["--seed", "11", "--orders", "2500", "--history-days", "3", "--future-days", "0.5",
                 "--clock-start", iso_z(CLOCK), "--clock-speed", "0", "--rate-scale", "20", "--sellers", "2"]
# Seller 1 runs live (scheduled every minute), seller 2 is replayed; Amazon's order ids as order numbers keep the
# tables independent of which hour a worker finishes first.
AMAZON_NUMBERS = {"default": {"order_number": "amazon"}}
# Seller 2's hourly schedule starts its hours half an hour from now: while it is unpaused for the backfill, its
# scheduled interval ended long enough ago for a window as complete as Amazon's lag allows, the same in both
# deployments, and no new interval ends during the test (one ending would be cut at each one's "now - 2 min").
HIST_MINUTE = (NOW.minute + 30) % 60
ACCOUNTS = {"live": (0, "* * * * *"), "hist": (1, f"{HIST_MINUTE} * * * *")}
DAG = {account: f"amazon_orders_sync__{account}" for account in ACCOUNTS}
TIMEOUT = 300  # seconds any one phase may take
ADMIN_PASSWORD = secrets.token_urlsafe(12)  # user admin's, on both deployments' REST API (simple auth manager)


def wait_until(what: str, check, timeout: float = TIMEOUT, every: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


class Airflow:
    """A running Airflow started by one of the project's scripts, with its metadata DB and logs."""

    def __init__(self, name: str, home: Path, env: dict, metadata_url: str, script: str):
        self.name, self.home, self.env, self.metadata_url = name, home, env, metadata_url
        self.log = open(home / f"{name}.out", "w")
        self.process = subprocess.Popen([str(ROOT / "include" / "scripts" / script)], cwd=ROOT, env=env,
                                        stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.metadata = create_engine(metadata_url, poolclass=NullPool)
        self.base_url, self.token = f"http://127.0.0.1:{env['AIRFLOW_PORT']}", None
        self.started: list[psutil.Process] | None = None  # the script's processes when it was told to stop

    def api(self, method: str, path: str, **kwargs) -> dict:
        """A call to the REST API (/api/v2): each `airflow` command would cost seconds of CPU to start."""
        if self.token is None:
            response = requests.post(f"{self.base_url}/auth/token", timeout=30,
                                     json={"username": "admin", "password": ADMIN_PASSWORD})
            assert response.status_code in (200, 201), response.text
            self.token = response.json()["access_token"]
        response = requests.request(method, f"{self.base_url}/api/v2/{path}", timeout=30,
                                    headers={"Authorization": f"Bearer {self.token}"}, **kwargs)
        assert response.ok, f"{method} {path}: {response.status_code} {response.text[:2000]}"
        return response.json()

    def set_paused(self, account: str, paused: bool) -> None:
        self.api("PATCH", f"dags/{DAG[account]}", json={"is_paused": paused})

    def trigger(self, account: str, conf: dict) -> None:
        self.api("POST", f"dags/{DAG[account]}/dagRuns", json={"logical_date": None, "conf": conf})

    def cli(self, *args: str) -> str:
        result = subprocess.run([str(ROOT / ".venv" / "bin" / "airflow"), *args], env=self.env, cwd=ROOT,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"airflow {' '.join(args)}:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
        return result.stdout

    def query(self, sql: str, **params) -> list:
        with self.metadata.connect() as conn:
            return conn.execute(text(sql), params).all()

    def wait_for_dags(self) -> None:
        """The DAGs parsed and the REST API answering."""
        def parsed():
            with suppress(Exception):  # the metadata DB may not be migrated yet
                return set(DAG.values()) <= {d for (d,) in self.query("SELECT dag_id FROM dag WHERE NOT is_stale")}
        wait_until(f"{self.name}: the DAGs parsed", parsed, every=2)
        wait_until(f"{self.name}: the REST API", self._answers, every=1)

    def _answers(self) -> bool:
        with suppress(requests.RequestException):
            return requests.get(f"{self.base_url}/api/v2/monitor/health", timeout=5).ok
        return False

    def backfill(self, account: str, first: datetime, last: datetime) -> None:
        self.cli("backfill", "create", "--dag-id", DAG[account], "--from-date", first.isoformat(),
                 "--to-date", last.isoformat(), "--max-active-runs", "3")

    def runs(self, account: str, run_type: str) -> dict[str, str]:
        return dict(self.query("SELECT run_id, state FROM dag_run WHERE dag_id = :d AND run_type = :t",
                               d=DAG[account], t=run_type))

    def wait_runs_done(self, account: str, run_type: str, count: int) -> dict[str, str]:
        def done():
            runs = self.runs(account, run_type)
            return runs if len(runs) >= count and all(s in ("success", "failed") for s in runs.values()) else None
        runs = wait_until(f"{self.name}: {count} {run_type} runs of {DAG[account]}", done, every=2)
        assert set(runs.values()) == {"success"}, (runs, self.tail())
        return runs

    def wait_quiet(self, account: str) -> None:
        """After a pause: the tasks already handed to workers finish. The scheduler starts no more, so a run that
        was mid-way stays running, its next tasks waiting for an unpause."""
        wait_until(f"{self.name}: no task of {DAG[account]} running", lambda: not self.query(
            "SELECT 1 FROM task_instance WHERE dag_id = :d AND state IN ('queued', 'running')", d=DAG[account]))

    def tail(self) -> str:
        self.log.flush()
        return (self.home / f"{self.name}.out").read_text()[-3000:]

    def begin_stop(self) -> None:
        """Ctrl-C, once: SIGINT to the script's process group; the script stops everything it started (noted first,
        for `stop` to check). A second Ctrl-C would cut its stopping short."""
        if self.started is not None:
            return
        self.started = []
        with suppress(psutil.NoSuchProcess):
            self.started = psutil.Process(self.process.pid).children(recursive=True)
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGINT)

    def stop(self) -> tuple[int, list[str]]:
        """Ctrl-C, then wait for the script; returns how many processes it had started and those it left running
        (killed here), as "pid command"."""
        self.begin_stop()
        with suppress(subprocess.TimeoutExpired):
            self.process.wait(60)
        left = [] if self.process.poll() is not None else [f"{self.process.pid} the script itself"]
        for proc in self.started:
            with suppress(psutil.NoSuchProcess):
                if proc.status() != psutil.STATUS_ZOMBIE:
                    left.append(f"{proc.pid} {' '.join(proc.cmdline())[:200]}")
                    proc.kill()
        kill_tree(self.process.pid)
        self.metadata.dispose()
        self.log.close()
        return len(self.started), left


class Cluster(Airflow):
    def __init__(self, *args):
        super().__init__(*args)
        self.added_workers: list[subprocess.Popen] = []

    def worker_pid(self, name: str) -> int:
        return int((self.home / "cluster" / f"{name}.pid").read_text())

    def kill_worker(self, name: str) -> None:
        """SIGKILL to the worker and everything it started, as when its machine dies."""
        kill_tree(self.worker_pid(name))

    def start_worker(self, name: str) -> None:
        """A new worker of that name (`run_cluster.sh worker NAME`), as an operator replaces a lost one."""
        self.added_workers.append(subprocess.Popen(
            [str(ROOT / "include" / "scripts" / "run_cluster.sh"), "worker", name], cwd=ROOT, env=self.env,
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True))

    def stop(self) -> tuple[int, list[str]]:
        for worker in self.added_workers:  # started by the tests, not by the script
            kill_tree(worker.pid)
        return super().stop()

    def task_tries(self, account: str, task_id: str) -> list[tuple]:
        """(run_id, try_number, state, hostname) of every try of the task, finished tries first."""
        return self.query(
            "SELECT run_id, try_number, state, hostname FROM task_instance_history WHERE dag_id = :d "
            "AND task_id = :t UNION ALL SELECT run_id, try_number, state, hostname FROM task_instance "
            "WHERE dag_id = :d AND task_id = :t ORDER BY 1, 2", d=DAG[account], t=task_id)

    def kill_the_worker_running(self, account: str, task_id: str, run_type: str, ready=lambda: True
                                ) -> tuple[str, str]:
        """Wait until a worker runs the task in a run of that type (and `ready()`), SIGKILL it; (run_id, worker)."""
        def running():
            rows = self.query("SELECT run_id, hostname FROM task_instance WHERE dag_id = :d AND task_id = :t "
                              "AND state = 'running' AND hostname LIKE :w AND run_id LIKE :r", d=DAG[account],
                              t=task_id, w="worker%", r=f"{run_type}__%")
            return rows[0] if rows and ready() else None
        run_id, hostname = wait_until(f"a worker running {task_id}", running, every=0.2)
        worker = hostname.split("@")[0]
        self.kill_worker(worker)
        return run_id, worker


def kill_tree(pid: int) -> None:
    with suppress(psutil.NoSuchProcess):
        root = psutil.Process(pid)
        for proc in [root, *root.children(recursive=True)]:
            with suppress(psutil.NoSuchProcess):
                proc.kill()


def create_database(name: str) -> str:
    admin = create_engine(f"{SERVER}/postgres", isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"{SERVER}/{name}"


def drop_databases(names: list[str]) -> None:
    admin = create_engine(f"{SERVER}/postgres", isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        for name in names:
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"), {"n": name})
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


@pytest.fixture(scope="module")
def services():
    """PostgreSQL and Redis of this machine; a user's machine may have neither (CI has both)."""
    import redis

    try:
        create_engine(f"{SERVER}/postgres", poolclass=NullPool).connect().close()
        broker = redis.Redis.from_url(REDIS, socket_connect_timeout=3)
        broker.flushdb()
    except Exception as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"the cluster needs PostgreSQL and Redis ({type(exc).__name__}); CI runs this test")
    yield
    broker.flushdb()


@pytest.fixture(scope="module")
def emulator(services):
    yield from running_emulator(EMULATOR_ARGS)


@pytest.fixture(scope="module")
def deployment(emulator, tmp_path_factory):
    """The cluster and, beside it, the LocalExecutor reference (`make run`'s script), both on the same accounts."""
    home = tmp_path_factory.mktemp("cluster")
    sellers = emulator.get("sellers")["sellers"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "AMAZON_CHANNEL"))}
    entries = []
    for account, (seller, schedule) in ACCOUNTS.items():
        auth = sellers[seller]["regions"]["na"]
        env[f"AIRFLOW_CONN_AMAZON_SP_API_{account.upper()}"] = json.dumps({
            "conn_type": "generic", "login": auth["client_id"], "password": auth["client_secret"], "extra": {
                "refresh_token": auth["refresh_token"], "region": "na", "endpoint": auth["endpoint"],
                "lwa_endpoint": auth["lwa_endpoint"], "seller_id": sellers[seller]["seller_id"]}})
        entries.append({"id": account, "conn_id": f"amazon_sp_api_{account}", "schedule": schedule,
                        "order_settings": AMAZON_NUMBERS})
    (home / "accounts.json").write_text(json.dumps({"accounts": entries}))
    (home / "passwords.json").write_text(json.dumps({"admin": ADMIN_PASSWORD}))
    env.update({
        "AMAZON_CHANNEL_ACCOUNTS_FILE": str(home / "accounts.json"), "START_EMULATOR": "0", "DEMO_WAREHOUSE": "0",
        "EMULATOR_PORT": emulator.base_url.rsplit(":", 1)[1],
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",  # the test decides what runs when
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",  # a killed worker's task is retried soon
        "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "60",  # a task it had taken but not started, too,
        "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT_CHECK_INTERVAL": "5",  # looked for every 5 s, not every 2 min
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "600",  # the DAG files do not change: parsed once
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",  # user admin, role admin
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AMAZON_CHANNEL_RETRY_DELAY_SECONDS": "3", "AMAZON_CHANNEL_TASK_RETRIES": "2",
        # one buyer data key for both deployments and this test, as an operator gives one key to every process
        "AMAZON_CHANNEL_BUYER_DATA_KEYS": os.environ["AMAZON_CHANNEL_BUYER_DATA_KEYS"]})
    suffix = f"{os.getpid()}_{secrets.token_hex(3)}"
    names = [f"{TEST_DATABASE_PREFIX}cluster_{what}_{suffix}"
             for what in ("meta", "commerce", "reference", "reference_meta")]
    cluster_env = {**env, "CLUSTER_HOME": str(home / "cluster"), "AIRFLOW_PORT": str(free_port()),
                   "CLUSTER_DATABASE_URL": SERVER, "CLUSTER_METADATA_DB": names[0],
                   "CLUSTER_COMMERCE_URL": create_database(names[1]), "CLUSTER_REDIS_URL": REDIS}
    create_database(names[0])
    reference_home = home / "reference"
    reference_home.mkdir()
    # `make run` on PostgreSQL metadata: with SQLite the CLI's backfill and the scheduler lock each other out
    reference_env = {**env, "AIRFLOW_HOME": str(reference_home), "AIRFLOW_PORT": str(free_port()),
                     # log servers of its own: the cluster's triggerer holds the default port
                     "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                     "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
                     "COMMERCE_URL": create_database(names[2]),
                     "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": create_database(names[3])}
    cluster = reference = None
    try:
        cluster = Cluster("cluster", home, cluster_env, f"{SERVER}/{names[0]}", "run_cluster.sh")
        reference = Airflow("reference", home, reference_env, reference_env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"],
                            "run_local.sh")
        wait_until("the cluster's settings", lambda: (home / "cluster" / "cluster.env").exists(), every=1)
        cluster.env = {**cluster_env, **read_cluster_env(home / "cluster" / "cluster.env")}
        reference.env = {**reference_env, "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
                         "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins")}
        for airflow in (cluster, reference):
            airflow.wait_for_dags()
        yield {"cluster": cluster, "reference": reference, "commerce": commerce_engine(cluster_env[
            "CLUSTER_COMMERCE_URL"]), "reference_commerce": commerce_engine(reference_env["COMMERCE_URL"]),
            "sellers": {account: sellers[seller]["seller_id"] for account, (seller, _) in ACCOUNTS.items()}}
    finally:
        left_running = {airflow.name: airflow.stop() for airflow in (cluster, reference) if airflow}
        drop_databases(names)
    # Ctrl-C stops everything `make cluster` and `make run` started, within a minute
    assert {name: left for name, (_, left) in left_running.items()} == {"cluster": [], "reference": []}, left_running
    assert all(started >= 4 for started, _ in left_running.values()), left_running  # Airflow's processes at least


def read_cluster_env(path: Path) -> dict[str, str]:
    """cluster.env (`declare -x NAME="value"` lines, as bash exports them) as a dict."""
    out = subprocess.run(["bash", "-c", 'set -a; source "$1"; env -0', "_", str(path)], capture_output=True,
                         check=True)
    return dict(item.split("=", 1) for item in out.stdout.decode().split("\0") if "=" in item)


def truth(emulator: EmulatorServer, seller_id: str, windows: list[tuple[datetime, datetime]]) -> dict[str, dict]:
    orders = {}
    for start, end in windows:
        for order in emulator.get("orders", seller_id=seller_id, region="na", lastUpdatedAfter=iso_z(start),
                                  lastUpdatedBefore=iso_z(end))["orders"]:
            orders[order["orderId"]] = order
    return orders


def windows_of(engine, account: str) -> list[tuple[datetime, datetime]]:
    r = channel_amazon_sync_run.c
    with engine.connect() as conn:
        return sorted(set(conn.execute(select(r.window_start, r.window_end).where(r.account_id == account)).all()))


def assert_orders_equal_truth(engine, emulator, account: str, seller_id: str) -> dict[str, dict]:
    expected = truth(emulator, seller_id, windows_of(engine, account))
    channel, sales = channel_orders(engine), commerce_orders(engine)  # commerce_orders: none twice
    assert {k for k, o in channel.items() if o["account_id"] == account} == {
        k for k, o in expected.items() if imported(o)}
    assert {k: o["state"] for k, o in sales.items() if o["amazon_account_id"] == account} == {
        k: state for k, o in expected.items() if (state := should_have_commerce_order(o["status"], o["fulfilledBy"]))}
    return expected


def test_a_backfill_on_celery_with_a_worker_killed_in_load_orders_equals_truth_and_a_local_executor_replay(
        deployment, emulator):
    cluster, reference, commerce = deployment["cluster"], deployment["reference"], deployment["commerce"]
    first = DAY + timedelta(minutes=HIST_MINUTE)
    last = first + timedelta(hours=HOURS - 1)

    # Act: both replay the same hours of yesterday with `airflow backfill create`; one cluster worker dies in a load.
    # A backfill runs only while its DAG is unpaused, so each also runs its last complete hour as scheduled.
    for airflow in (cluster, reference):
        airflow.set_paused("hist", False)
    with ThreadPoolExecutor(2) as both:
        list(both.map(lambda airflow: airflow.backfill("hist", first, last), (cluster, reference)))
    killed_run, killed = cluster.kill_the_worker_running("hist", "load_orders", "backfill")
    try:
        for airflow in (cluster, reference):
            airflow.wait_runs_done("hist", "backfill", HOURS)
            airflow.wait_runs_done("hist", "scheduled", 1)
    finally:
        cluster.start_worker(killed)  # back to two workers for the next tests, whatever this one's outcome
    reference.begin_stop()  # its replay is done: the next tests have the machine's cores for the cluster

    # Assert: the killed load was retried on the other worker and finished there
    tries = [t for t in cluster.task_tries("hist", "load_orders") if t[0] == killed_run]
    assert tries[0][2] != "success" and tries[0][3].startswith(f"{killed}@"), tries
    assert tries[-1][2] == "success" and not tries[-1][3].startswith(f"{killed}@"), tries
    # every hour's orders equal Amazon's, none twice, on both executors; the tables equal each other
    expected = assert_orders_equal_truth(commerce, emulator, "hist", deployment["sellers"]["hist"])
    assert len(expected) > 10 * HOURS
    assert windows_of(commerce, "hist") == windows_of(deployment["reference_commerce"], "hist")
    assert table_checksums(commerce, surrogate_keys=False) == table_checksums(deployment["reference_commerce"],
                                                                              surrogate_keys=False)


def test_a_worker_killed_in_push_tracking_leaves_one_package_per_track(deployment, emulator):
    cluster, commerce = deployment["cluster"], deployment["commerce"]
    seen: set[str] = set()
    ship_ready_orders(commerce, seen)
    assert ship_ready_orders(commerce, seen) > 5  # the warehouse ships what it saw in its previous cycle
    emulator.configure(slow_rate=1.0, slow_seconds=0.4)  # each confirmation takes a moment: time to die mid-way
    try:
        hour = DAY + timedelta(hours=HOURS)  # an operator's manual run of the next hour
        cluster.trigger("hist", {"window_start": iso_z(hour), "window_end": iso_z(hour + timedelta(hours=1))})
        killed_run, killed = cluster.kill_the_worker_running(
            "hist", "push_tracking", "manual", ready=lambda: emulator.get("stats")["packages"] > 0)
        emulator.configure(slow_rate=0.0)  # the retry sends the rest at Amazon's usual pace
        # The next test's scheduled runs start now, beside this retry: not before the kill, which would have hit
        # their tasks too (one that may not retry, like check_settings, would fail its run).
        cluster.set_paused("live", False)
        try:
            cluster.wait_runs_done("hist", "manual", 1)
        finally:
            cluster.start_worker(killed)
    finally:
        emulator.configure(slow_rate=0.0)

    tries = [t for t in cluster.task_tries("hist", "push_tracking") if t[0] == killed_run]
    assert tries[0][2] != "success" and tries[0][3].startswith(f"{killed}@"), tries
    assert tries[-1][2] == "success" and not tries[-1][3].startswith(f"{killed}@"), tries
    p = channel_amazon_package.c
    with commerce.connect() as conn:
        tracks = conn.execute(select(p.amazon_order_id, p.tracking_number, p.state)).all()
    # held: the buyer asked to cancel that order; its package waits for the seller's decision, Amazon has none
    assert "sent" in {state for *_, state in tracks} <= {"sent", "held"}, tracks
    by_order: dict[str, list[str]] = {}
    for order_id, tracking, state in tracks:
        by_order.setdefault(order_id, [])
        if state == "sent":
            by_order[order_id].append(tracking)
    for order_id, numbers in by_order.items():
        at_amazon = emulator.get(f"orders/{order_id}")["packages"]
        assert sorted(x["tracking_number"] for x in at_amazon) == sorted(numbers), order_id


def test_the_scheduler_runs_scheduled_intervals_on_both_workers(deployment, emulator):
    cluster, commerce = deployment["cluster"], deployment["commerce"]

    cluster.set_paused("live", False)  # if the test before has not (run alone)
    wait_until("two scheduled runs", lambda: list(cluster.runs("live", "scheduled").values()).count("success") >= 2,
               every=2)
    cluster.set_paused("live", True)
    cluster.wait_quiet("live")  # a run that was mid-way when paused stays so: its loads are done or not begun
    runs = cluster.runs("live", "scheduled")

    assert "failed" not in runs.values() and list(runs.values()).count("success") >= 2, (runs, cluster.tail())
    expected = assert_orders_equal_truth(commerce, emulator, "live", deployment["sellers"]["live"])
    assert expected
    hosts = {h.split("@")[0] for (h,) in cluster.query("SELECT DISTINCT hostname FROM task_instance_history "
                                                       "UNION SELECT DISTINCT hostname FROM task_instance")
             if h}
    assert {"worker1", "worker2"} <= hosts, hosts
    response = requests.get(f"http://127.0.0.1:{cluster.env['AIRFLOW_PORT']}/api/v2/monitor/health", timeout=10)
    assert response.json()["scheduler"]["status"] == "healthy"


def test_the_scheduler_marks_the_backfill_complete(deployment):
    """Last: the scheduler looks at backfills every 30 s (hard-coded); by now it has seen the first test's finish."""
    cluster = deployment["cluster"]
    backfills = cluster.query("SELECT completed_at FROM backfill WHERE dag_id = :d", d=DAG["hist"])
    if not backfills:
        pytest.skip("the backfill test did not run")
    wait_until("the backfill complete", lambda: cluster.query(
        "SELECT completed_at FROM backfill WHERE dag_id = :d", d=DAG["hist"])[0][0], every=2)
