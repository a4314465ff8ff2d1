"""What every pipeline task imports, imported once by each Celery worker (plugins/celery_config.py).

A Celery worker forks a process per task; modules its pool processes already hold are inherited, not imported
again. Great Expectations alone takes seconds to import, which would otherwise be paid by every validate task of
every run and backfill hour. Nothing here opens a connection or starts a thread, so forking stays safe.
"""

from __future__ import annotations

import great_expectations  # noqa: F401
import pandas  # noqa: F401
import pyarrow.parquet  # noqa: F401
import requests  # noqa: F401
import sqlalchemy  # noqa: F401

from . import cancellation, extract, shipping, steps, transform, validate  # noqa: F401
from .commerce import load  # noqa: F401
