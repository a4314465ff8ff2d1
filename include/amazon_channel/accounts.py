"""The seller accounts one deployment serves: one DAG each, its connection, region, marketplaces and settings.

Declared in a JSON or YAML file whose path is in `AMAZON_CHANNEL_ACCOUNTS_FILE` (none: today's single account
`default` on connection `amazon_sp_api`). Read when the DAG file is parsed, so this reads only the file: never the
metadata database, Variables or connections (those are checked when a run starts, see `connection_marketplaces`).

    {"accounts": [
      {"id": "us", "conn_id": "amazon_sp_api_us"},
      {"id": "eu", "conn_id": "amazon_sp_api_eu", "region": "eu", "marketplace_ids": ["A1PA6795UKMFR9"],
       "schedule": "30 * * * *", "order_settings": {"default": {"store_id": 2}}, "pool": "amazon_eu"}
    ]}

A mistake in one entry is a problem of that entry only (its DAG fails at once saying why); the others run.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import NotRetryableError
from .rules import MARKETPLACE_BY_ID, MARKETPLACES

ACCOUNTS_FILE_ENV = "AMAZON_CHANNEL_ACCOUNTS_FILE"
DEFAULT_ACCOUNT_ID = "default"
DEFAULT_CONN_ID = "amazon_sp_api"
DEFAULT_POOL = "amazon_sp_api"
DAG_ID_PREFIX = "amazon_orders_sync"
DEFAULT_SCHEDULE = "0 * * * *"
ACCOUNTS_FILE_PROBLEM = "accounts_file"  # the DAG `amazon_orders_sync__accounts_file` reports an unreadable file
ACCOUNT_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
# What Airflow accepts in a connection id and a pool name; anything else is surely a typo.
AIRFLOW_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,250}$")
REGIONS = sorted({m.region for m in MARKETPLACES})
ENTRY_FIELDS = {"id", "conn_id", "region", "marketplace_ids", "schedule", "order_settings", "pool"}


@dataclass(frozen=True)
class Account:
    id: str
    conn_id: str
    region: str | None = None  # None: the connection's
    marketplace_ids: tuple[str, ...] | None = None  # None: the connection's
    schedule: str = DEFAULT_SCHEDULE
    order_settings: dict | None = None  # None: the Variable amazon_channel_order_settings
    pool: str = DEFAULT_POOL
    dag_id: str = DAG_ID_PREFIX


@dataclass(frozen=True)
class AccountProblem:
    """An entry (or the whole file) that cannot become an account. `key` is the entry's id, `entry-<n>` (1-based)
    when it has no usable id, or `accounts_file`."""

    key: str
    message: str

    @property
    def dag_id(self) -> str:
        return account_dag_id(self.key)


def account_dag_id(account_id: str) -> str:
    return f"{DAG_ID_PREFIX}__{account_id}"


def default_account() -> Account:
    """The implicit single account when no accounts file is set: exactly today's DAG, connection and pool."""
    return Account(DEFAULT_ACCOUNT_ID, DEFAULT_CONN_ID)


def read_accounts(path: str | None) -> tuple[list[Account], list[AccountProblem]]:
    """The accounts declared in the file at `path` and the entries that are wrong; no path: the default account."""
    if not path:
        return [default_account()], []
    try:
        entries = _load_entries(Path(path))
    except (OSError, ValueError) as exc:
        return [], [AccountProblem(ACCOUNTS_FILE_PROBLEM, f"accounts file {path} ({ACCOUNTS_FILE_ENV}): {exc}")]
    keys = [_entry_key(entry, position) for position, entry in enumerate(entries, 1)]
    accounts, problems = [], []
    for position, (entry, key) in enumerate(zip(entries, keys, strict=True), 1):
        if keys.count(key) > 1:
            where = ", ".join(str(n) for n, k in enumerate(keys, 1) if k == key)
            if keys.index(key) == position - 1:  # one problem (and one failing DAG) for all of them
                problems.append(AccountProblem(key, f"account id {key!r} is declared more than once (entries "
                                                    f"{where}); give each account its own id"))
            continue
        try:
            accounts.append(_account(entry, key))
        except ValueError as exc:
            problems.append(AccountProblem(key, f"account {key!r} (entry {position} of {path}): {exc}"))
    return accounts, problems


def _load_entries(path: Path) -> list:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON: {exc}") from None
    elif path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValueError(f"not valid YAML: {' '.join(str(exc).split())}") from None
    else:
        raise ValueError("the file name must end in .json, .yaml or .yml")
    entries = data.get("accounts") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ValueError('expected {"accounts": [{"id": "...", "conn_id": "..."}, ...]} with at least one account')
    return entries


def _entry_key(entry, position: int) -> str:
    account_id = entry.get("id") if isinstance(entry, dict) else None
    return account_id if isinstance(account_id, str) and ACCOUNT_ID.match(account_id) else f"entry-{position}"


def _account(entry, key: str) -> Account:
    if not isinstance(entry, dict):
        raise ValueError("an account must be an object with at least id and conn_id")
    if unknown := sorted(set(entry) - ENTRY_FIELDS):
        raise ValueError(f"unknown field(s) {unknown}; an account has {sorted(ENTRY_FIELDS)}")
    if key != entry.get("id"):
        raise ValueError(f"id {entry.get('id')!r} is not a valid account id: 1 to 32 characters, lowercase letters, "
                         "digits, '_' and '-', starting with a letter or digit")
    conn_id = entry.get("conn_id")
    if not isinstance(conn_id, str) or not AIRFLOW_NAME.match(conn_id):
        raise ValueError(f"conn_id {conn_id!r}: give the id of the account's SP-API connection")
    region = entry.get("region")
    if region is not None and region not in REGIONS:
        raise ValueError(f"region {region!r} is unknown; use one of {REGIONS}")
    marketplace_ids = entry.get("marketplace_ids")
    if marketplace_ids is not None:
        if isinstance(marketplace_ids, str):
            marketplace_ids = [m.strip() for m in marketplace_ids.split(",") if m.strip()]
        if (not isinstance(marketplace_ids, list) or not marketplace_ids
                or not all(isinstance(m, str) and m for m in marketplace_ids)):
            raise ValueError("marketplace_ids must be a non-empty list of Amazon marketplace ids")
        regions = {MARKETPLACE_BY_ID[m].region for m in marketplace_ids if m in MARKETPLACE_BY_ID}
        if region is not None and (wrong := _outside(region, marketplace_ids)):
            raise ValueError(f"marketplace_ids {wrong} are not served by region {region!r}; one account per region")
        if len(regions) > 1:
            raise ValueError(f"marketplace_ids span the regions {sorted(regions)}; one account per region")
        marketplace_ids = tuple(marketplace_ids)
    schedule = entry.get("schedule", DEFAULT_SCHEDULE)
    if not _valid_cron(schedule):
        raise ValueError(f"schedule {schedule!r} is not a cron expression (e.g. {DEFAULT_SCHEDULE!r})")
    order_settings = entry.get("order_settings")
    if order_settings is not None:
        from .settings import parse_settings

        if not isinstance(order_settings, dict):
            raise ValueError("order_settings must be an object (the Order Settings JSON)")
        try:
            parse_settings(order_settings)
        except NotRetryableError as exc:
            raise ValueError(f"order_settings: {exc}") from None
    pool = entry.get("pool", f"{DEFAULT_POOL}__{key}")
    if not isinstance(pool, str) or not AIRFLOW_NAME.match(pool):
        raise ValueError(f"pool {pool!r} is not a valid Airflow pool name")
    return Account(key, conn_id, region, marketplace_ids, schedule, order_settings, pool, account_dag_id(key))


def _outside(region: str, marketplace_ids) -> list[str]:
    return [m for m in marketplace_ids if m in MARKETPLACE_BY_ID and MARKETPLACE_BY_ID[m].region != region]


def _valid_cron(schedule) -> bool:
    from croniter import croniter  # Airflow's own cron parser: what it accepts, the DAG accepts

    return isinstance(schedule, str) and croniter.is_valid(schedule)


def connection_marketplaces(account: Account, conn_region: str, conn_marketplace_ids: list[str]) -> list[str]:
    """The marketplaces the account's runs ask Amazon for, given its connection's region and marketplaces: the
    declared ones, else the connection's. A declared region or marketplace the connection does not serve raises
    NotRetryableError naming both (the token is the connection's: Amazon would refuse it)."""
    where = f"account {account.id!r} (connection {account.conn_id!r})"
    if account.region is not None and account.region != conn_region:
        raise NotRetryableError(f"{where}: the accounts file declares region {account.region!r} but the connection "
                                f"is for region {conn_region!r}. Fix: correct the region in the accounts file, or "
                                "point conn_id at the connection authorised for that region")
    if account.marketplace_ids is None:
        return list(conn_marketplace_ids)
    if wrong := _outside(conn_region, account.marketplace_ids):
        raise NotRetryableError(f"{where}: the accounts file declares marketplace_ids {wrong}, which region "
                                f"{conn_region!r} of the connection does not serve. Fix: one account per region")
    if conn_marketplace_ids and (extra := [m for m in account.marketplace_ids if m not in conn_marketplace_ids]):
        raise NotRetryableError(f"{where}: the accounts file declares marketplace_ids {extra}, which the "
                                f"connection does not list (it lists {list(conn_marketplace_ids)}). Fix: declare a "
                                "subset of the connection's marketplaces, or add them to its extra.marketplace_ids")
    return list(account.marketplace_ids)
