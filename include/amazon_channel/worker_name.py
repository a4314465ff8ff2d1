"""The host name Airflow records for a task (`[core] hostname_callable`).

Several Celery workers on one machine (`make cluster`) share its host name, so the metadata could not say which
worker ran a task: each worker sets AMAZON_CHANNEL_WORKER_NAME and is recorded as `<name>@<host>`, the name Celery
gives it. Without the variable this is the machine's FQDN, Airflow's own default.
"""

from __future__ import annotations

import os
import socket

WORKER_NAME_ENV = "AMAZON_CHANNEL_WORKER_NAME"


def worker_hostname() -> str:
    name = os.environ.get(WORKER_NAME_ENV)
    return f"{name}@{socket.getfqdn()}" if name else socket.getfqdn()
