"""`make bench`: extraction at Amazon's rate limit, and validate + transform + load at database speed.

Everything in one run on this machine, written to tests/benchmarks/results.md (+ results.png) and printed:
1. extraction of 2,000 and 20,000 orders from the emulator with Amazon's default searchOrders limit
   (0.0056 req/s, burst 20), time-compressed by RATE_SCALE, against the floor the token bucket allows;
2. validate + transform + load of 100,000 orders into SQLite, PostgreSQL and MariaDB, against a naive per-row ORM
   baseline and the database's bulk floor for the same rows; peak memory;
3. the same window a second time; 4. 1k / 10k / 100k orders: cost per order; 5. the Orders grid at 100k;
6. buyer-data retention at the largest size: every loaded order expired and erased, the daily check when nothing
   is due; the staged files scrubbed (once, in the SQLite case).

PostgreSQL and MariaDB are used when reachable (BENCH_POSTGRES_URL / BENCH_MARIADB_URL; the benchmark drops and
recreates the Commerce tables there). BENCH_SIZES="1000,10000,100000" changes the sizes. Buyer data is sealed
at rest, as in production (amazon_channel.crypto).
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

from amazon_channel.crypto import KEYS_ENV, new_key
from amazon_channel.ratelimit import DEFAULT_USAGE_PLANS
from amazon_channel.spapi import SpApiClient, SpApiConfig
from amazon_channel.staging import Staging

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "benchmarks"
CLOCK = datetime(2026, 3, 10, 12, tzinfo=UTC)
RATE_SCALE = 1000  # Amazon's refill rate x1000: 180 paced calls take 32 s instead of 8.9 hours
SIZES = [int(n) for n in os.environ.get("BENCH_SIZES", "1000,10000,100000").split(",")]
EXTRACT_SIZES = (2000, 20000)
NAIVE_ORDERS = 2000
# As `make run` stores it: buyer data sealed at rest (a key of the benchmark's own, in every case's process).
os.environ.setdefault(KEYS_ENV, new_key())
DATABASES = {
    "SQLite": None,
    "PostgreSQL": os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test"),
    "MariaDB": os.environ.get("BENCH_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test"),
}


class Emulator:
    def __init__(self, orders: int, rate_scale: float):
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "amazon_channel.emulator", "--port", str(self.port), "--seed", "11",
             "--orders", str(orders), "--history-days", "30", "--future-days", "0",
             "--clock-start", CLOCK.isoformat(), "--rate-scale", str(rate_scale)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        for _ in range(300):
            try:
                requests.get(f"{self.base}/_emulator/health", timeout=2).raise_for_status()
                return
            except requests.RequestException:
                time.sleep(0.2)
        raise RuntimeError("emulator did not start")

    def admin(self, path: str, **params) -> dict:
        return requests.get(f"{self.base}/_emulator/{path}", params=params, timeout=300).json()

    def client(self) -> SpApiClient:
        cfg = self.admin("config")
        return SpApiClient(SpApiConfig.from_connection(cfg["client_id"], cfg["client_secret"], {
            "refresh_token": cfg["refresh_token"], "region": "na", "endpoint": self.base,
            "lwa_endpoint": f"{self.base}/auth/o2/token", "deadline": 600}))

    def stop(self):
        self.proc.terminate()
        self.proc.wait(30)


WINDOW = (CLOCK - timedelta(days=31), CLOCK - timedelta(minutes=2))


def extraction(n: int, work: Path) -> dict:
    from amazon_channel.extract import Window, extract_orders

    emulator = Emulator(n, RATE_SCALE)
    try:
        expected = len(emulator.admin("orders", lastUpdatedAfter=WINDOW[0].isoformat().replace("+00:00", "Z"),
                                      lastUpdatedBefore=WINDOW[1].isoformat().replace("+00:00", "Z"))["orders"])
        client = emulator.client()
        client.access_token()  # LWA outside the timing, as in a warm worker
        staging = Staging(f"file://{work}/extract-{n}")
        started = time.perf_counter()
        summary = extract_orders(client, staging, staging.run_path("bench", f"extract-{n}", "extract"),
                                 Window(*WINDOW))
        wall = time.perf_counter() - started
        server = emulator.admin("stats")["operations"]["searchOrders"]
    finally:
        emulator.stop()
    rate, burst = DEFAULT_USAGE_PLANS["searchOrders"]
    minimum = math.ceil(expected / 100)
    floor = max(0, minimum - burst) / (rate * RATE_SCALE)
    return {"orders": summary["orders"], "expected": expected, "calls": summary["api_calls"],
            "min_calls": minimum, "throttled": summary["throttled"], "server_429": server.get("throttled", 0),
            "wall_s": wall, "floor_s": floor, "floor_share": (floor / wall) if floor else None}


def source_orders(work: Path, n: int) -> Path:
    """n orders extracted once through our client (limits lifted): the input of every load case."""
    emulator = Emulator(n, 1e6)
    try:
        from amazon_channel.extract import Window, extract_orders

        staging = Staging(f"file://{work}/source")
        path = staging.run_path("bench", "source", "extract")
        extract_orders(emulator.client(), staging, path, Window(*WINDOW))
    finally:
        emulator.stop()
    return Path(path.removeprefix("file://"))


def reachable(url: str) -> bool:
    from sqlalchemy import create_engine, text

    try:
        with create_engine(url).connect() as conn:
            conn.execute(text("select 1"))
        return True
    except Exception:
        return False


def run_case(name: str, url: str, source: Path, n: int, work: Path, full: bool) -> dict:
    args = [sys.executable, "-m", "tests.benchmarks.case", "--url", url, "--source", str(source),
            "--orders", str(n), "--work", str(work / f"{name}-{n}")]
    if full:
        args += ["--grid", "--floor", "--naive", str(NAIVE_ORDERS), "--retention"]
        if name == "SQLite":  # the staged files and the erased orders are the same on every database: scrubbed once
            args.append("--scrub")
    done = subprocess.run(args, capture_output=True, text=True, cwd=ROOT)
    if done.returncode:
        raise RuntimeError(f"{name} {n}: {done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem = next((int(line.split()[1]) // 1024 // 1024 for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")), 0)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": mem, "python": platform.python_version(),
            "os": platform.platform(), "commit": commit.strip(),
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}


def main() -> None:
    from tests.benchmarks.report import write_report

    work = Path(tempfile.mkdtemp(prefix="amazon-channel-bench-"))
    started = time.perf_counter()
    results = {"machine": machine(), "rate_scale": RATE_SCALE, "extraction": [], "cases": []}
    for n in EXTRACT_SIZES:
        print(f"extraction: {n} orders ...", flush=True)
        results["extraction"].append(extraction(n, work))
    print(f"source: {max(SIZES)} orders ...", flush=True)
    source = source_orders(work, max(SIZES))
    DATABASES["SQLite"] = f"sqlite:///{work}/commerce.db"
    for name, url in DATABASES.items():
        if not reachable(url):
            print(f"{name}: not reachable, skipped", flush=True)
            continue
        for n in SIZES if name != "MariaDB" else [max(SIZES)]:
            print(f"{name}: {n} orders ...", flush=True)
            case = run_case(name, url, source, n, work, full=(n == max(SIZES)))
            results["cases"].append({"database": name, **case})
    results["bench_seconds"] = time.perf_counter() - started
    (OUT / "results.json").write_text(json.dumps(results, indent=1, default=str))
    print(write_report(results, OUT / "results.md", OUT / "results.png"))


if __name__ == "__main__":
    main()
