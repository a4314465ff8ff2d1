"""Imported once by the forkserver that test_many_accounts' concurrent DAG runs fork from, as a Celery worker's pool
processes fork from one that holds Airflow and the pipeline (plugins/celery_config.py).

Besides the pipeline (amazon_channel.preload): Airflow, its plugins, and the Execution API that `dag.test` serves
in-process, with its versioned routes built (Cadwyn builds them on the first request, seconds of CPU that every
forked run would otherwise spend again). Nothing here opens a connection or starts a thread: each run points
Airflow's ORM at its own metadata DB after the fork (tests/integration/test_many_accounts.run_dag).
"""

from __future__ import annotations

import asyncio

from airflow import plugins_manager
from airflow.dag_processing.dagbag import DagBag  # noqa: F401
from airflow.sdk.execution_time.supervisor import in_process_api_server

import amazon_channel.preload  # noqa: F401


async def _one_request(app) -> None:
    """A request for no route: the app builds its routes on the first one and answers 404."""
    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        pass

    await app({"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
               "path": "/preload", "raw_path": b"/preload", "query_string": b"", "root_path": "", "headers": [],
               "client": ("127.0.0.1", 0), "server": ("127.0.0.1", 80)}, receive, send)


plugins_manager.ensure_plugins_loaded()
asyncio.run(_one_request(in_process_api_server().app))
