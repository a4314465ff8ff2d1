"""What the channel's DAGs share: connection ids, the seller's pool, the Commerce orders asset, and how a task
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

    from amazon_channel.settings import OrderSettings
    from amazon_channel.spapi import SpApiClient
    from amazon_channel.staging import Staging
    from amazon_channel.steps import Run

SP_API_CONN_ID = "amazon_sp_api"
COMMERCE_DB_CONN_ID = "commerce_db"
SP_API_POOL = "amazon_sp_api"  # one slot per seller account: its Amazon quota is shared by every run
COMMERCE_ORDERS = Asset("commerce://sales_order")  # downstream systems (ERP/OMS/WMS) schedule on this
TASK_RETRIES = int(os.environ.get("AMAZON_CHANNEL_TASK_RETRIES", "3"))
STAGING_RETENTION_DAYS = float(os.environ.get("AMAZON_CHANNEL_STAGING_RETENTION_DAYS", "7"))  # staged pages hold PII


def staging() -> Staging:
    from amazon_channel.staging import Staging

    return Staging.from_environment()


def current_run() -> Run:
    """This task's run: its DAG, run id and staging."""
    from amazon_channel.steps import Run

    context = get_current_context()
    return Run(context["dag"].dag_id, context["run_id"], staging())


def commerce_engine() -> Engine:
    from commerce_db_hook import CommerceDbHook

    return CommerceDbHook(COMMERCE_DB_CONN_ID).get_conn()


def sp_api_client() -> SpApiClient:
    from amazon_sp_api_hook import AmazonSpApiHook

    return AmazonSpApiHook(SP_API_CONN_ID).get_conn()


def order_settings() -> OrderSettings:
    from airflow.sdk import Variable

    from amazon_channel.settings import VARIABLE_NAME, parse_settings

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
