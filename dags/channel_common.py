"""What the channel's DAGs share: connection ids, the Commerce orders asset, and how a task of an account's DAG
reaches staging, the Commerce DB, Amazon and the Order Settings. Not a DAG (listed in `.airflowignore`).

Everything heavy is imported inside the functions: importing this module at DAG-parse time stays cheap.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from airflow.sdk import Asset, get_current_context

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from amazon_channel.accounts import Account
    from amazon_channel.settings import OrderSettings
    from amazon_channel.spapi import SpApiClient, SpApiConfig
    from amazon_channel.staging import Staging
    from amazon_channel.steps import Run

COMMERCE_DB_CONN_ID = "commerce_db"
COMMERCE_ORDERS = Asset("commerce://sales_order")  # downstream systems (ERP/OMS/WMS) schedule on this
TASK_RETRIES = int(os.environ.get("AMAZON_CHANNEL_TASK_RETRIES", "3"))
# The first retry's wait (doubling after each try up to 15 min); the cluster test shortens it.
RETRY_DELAY_SECONDS = float(os.environ.get("AMAZON_CHANNEL_RETRY_DELAY_SECONDS", "60"))
STAGING_RETENTION_DAYS = float(os.environ.get("AMAZON_CHANNEL_STAGING_RETENTION_DAYS", "7"))  # staged pages hold PII


def staging() -> Staging:
    from commerce_db_hook import use_buyer_data_keys

    from amazon_channel.staging import Staging

    use_buyer_data_keys()  # staged pages are sealed with them
    return Staging.from_environment()


def _or_default(account: Account | None) -> Account:
    from amazon_channel.accounts import default_account

    return account or default_account()


def current_run(account: Account | None = None) -> Run:
    """This task's run: its DAG, run id, staging and account (None: the default account)."""
    from amazon_channel.steps import Run

    context = get_current_context()
    return Run(context["dag"].dag_id, context["run_id"], staging(), account_id=_or_default(account).id)


@contextmanager
def commerce_db() -> Iterator[Engine]:
    """The Commerce DB for one task's work; its connections are closed when the work is done. A task process ends
    anyway, but `dag.test` runs every task in one process, where each task's engine kept its pooled connections
    open until a garbage collection: a day of test runs held dozens on PostgreSQL."""
    from commerce_db_hook import CommerceDbHook

    engine = CommerceDbHook(COMMERCE_DB_CONN_ID).get_conn()
    try:
        yield engine
    finally:
        engine.dispose()


def sp_api_config(account: Account | None = None) -> SpApiConfig:
    """The account's connection, asking Amazon for the account's marketplaces. A region or marketplace the accounts
    file declares but the connection does not serve raises NotRetryableError naming both."""
    from dataclasses import replace

    from amazon_channel.accounts import connection_marketplaces
    from amazon_sp_api_hook import AmazonSpApiHook

    account = _or_default(account)
    config = AmazonSpApiHook(account.conn_id).get_config()
    return replace(config, marketplace_ids=connection_marketplaces(account, config.region, config.marketplace_ids))


def sp_api_client(account: Account | None = None) -> SpApiClient:
    from amazon_channel.spapi import SpApiClient

    return SpApiClient(sp_api_config(account))


def order_settings(account: Account | None = None) -> OrderSettings:
    """The account's own Order Settings from the accounts file, else the Variable."""
    from amazon_channel.settings import VARIABLE_NAME, parse_settings

    if account is not None and account.order_settings is not None:
        return parse_settings(account.order_settings)
    from airflow.sdk import Variable

    return parse_settings(Variable.get(VARIABLE_NAME, default=None))


@contextmanager
def fail_fast() -> Iterator[None]:
    """A mistake retrying cannot fix (see `amazon_channel.errors`) fails the task at once, naming the fix, instead of
    after every retry; anything else is raised as it is and retried."""
    from airflow.sdk.exceptions import AirflowFailException

    from amazon_channel.errors import not_retryable_reason

    try:
        yield
    except AirflowFailException:
        raise
    except Exception as exc:
        reason = not_retryable_reason(exc)
        if reason is None:
            raise
        raise AirflowFailException(reason) from exc
