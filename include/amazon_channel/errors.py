"""Errors the pipeline raises on purpose, and which failures retrying cannot fix.

A task that fails for a reason retrying cannot fix (a wrong setting, a refused credential, a database that does not
exist) should fail at once with the field and the fix named, instead of being retried with backoff for minutes and
alerting late; throttling, 5xx answers and network blips keep their retries.
"""

from __future__ import annotations

import json
import os
import re


class NotRetryableError(ValueError):
    """A failure that retrying cannot fix (settings that do not match the database, a run without a window): the
    task fails at once with this message instead of being retried with backoff."""


def describe_invalid(exc) -> str:
    """A pydantic ValidationError as "field.path: message; ...", the way settings errors name what to fix."""
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors())


# Database answers that say the configuration is wrong, not that the server is busy or away for a moment.
PERMANENT_DATABASE_ERRORS = re.compile(
    r"database \S+ does not exist|unknown database|password authentication failed|role \S+ does not exist"
    r"|access denied for user|unable to open database file|no such module|could not parse rfc1738 url"
    r"|can't load plugin", re.IGNORECASE)
SP_API_FIX = {
    300: "the endpoint redirected: check extra.endpoint / extra.lwa_endpoint of the SP-API connection",
    400: "Amazon refused the request as configured: check extra.marketplace_ids and extra.region of the SP-API "
         "connection (each marketplace must belong to the connection's region)",
    401: "Amazon refused the credentials: check login (LWA client id), password (client secret) and "
         "extra.refresh_token of the SP-API connection, and that the seller authorised this application",
    403: "Amazon refused access: check the SP-API connection's credentials, region and the application's roles",
}

SP_API_LIMITS = {"TooManyPages", "ResponseTooLarge"}  # a configured bound was hit: the same run would hit it again


def not_retryable_reason(exc: BaseException) -> str | None:
    """Why retrying `exc` cannot help, with the fix; None for failures that may heal (throttling, 5xx, timeouts,
    a database that is restarting)."""
    if isinstance(exc, NotRetryableError):
        return str(exc)
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

    from .spapi import SpApiError

    if isinstance(exc, SpApiError) and exc.code in SP_API_LIMITS:  # our own bounds: the message says which to raise
        return str(exc)
    if isinstance(exc, SpApiError) and exc.status is not None:
        status = 300 if 300 <= exc.status < 400 else exc.status
        if exc.operation == "lwaToken" and status in (400, 401, 403):  # LWA refused the refresh token or client
            status = 401
        if status in SP_API_FIX:
            return f"{exc}. Fix: {SP_API_FIX[status]}"
    if isinstance(exc, ArgumentError | NoSuchModuleError):
        return f"the Commerce DB URL is not usable: {exc}. Fix: extra.url of the commerce_db connection"
    if isinstance(exc, OperationalError) and PERMANENT_DATABASE_ERRORS.search(str(exc.orig)):
        first_line = str(exc.orig).strip().splitlines()[0]
        return f"the Commerce database refused the connection: {first_line}. Fix: extra.url of the commerce_db " \
               "connection (database name, user, password), or create the database"
    return None


def missing_connection_reason(conn_id: str, environ=os.environ) -> str:
    """What to tell an operator when Airflow cannot find connection `conn_id` (Airflow only says "isn't defined",
    even when the connection is there but its JSON is malformed)."""
    variable = f"AIRFLOW_CONN_{conn_id.upper()}"
    value = environ.get(variable)
    if value is not None and value.lstrip().startswith("{"):
        try:
            json.loads(value)
        except json.JSONDecodeError as exc:
            return f"{variable} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}). " \
                   f"Fix: correct the JSON in that environment variable"
    return f"connection {conn_id!r} is not defined. Fix: add it in Admin > Connections, or set {variable}"
