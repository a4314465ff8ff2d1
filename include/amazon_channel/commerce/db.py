"""Engines and set-based bulk writes for SQLite, PostgreSQL and MariaDB: the one place with dialect SQL."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

from sqlalchemy import Select, Table, and_, case, create_engine, event
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

T = TypeVar("T")

BATCH_ROWS = 5000
LOCK_CONFLICT_ATTEMPTS = 4  # a transaction the database aborted for another one's sake is run again this often
_PG_LOCK_CONFLICTS = {"40P01", "40001", "55P03"}  # deadlock, serialization failure, lock not available
_MYSQL_LOCK_CONFLICTS = {1213, 1205}  # deadlock found, lock wait timeout exceeded

log = logging.getLogger(__name__)

# What database servers quote, in their own error messages, of the row that broke a rule: PostgreSQL's DETAIL and
# CONTEXT lines, MariaDB's "Duplicate entry '...'". These are buyers' data; the message keeps the rule, the table and
# the columns, which say what to fix.
HIDDEN = "(values hidden)"
_QUOTED_VALUES = (
    (re.compile(r"(Key \([^=\n]*\))=\(.*?\)( already exists| is not present| conflicts)"), rf"\1={HIDDEN}\2"),
    (re.compile(r"(Failing row contains) \(.*\)"), rf"\1 {HIDDEN}"),
    (re.compile(r"(COPY [^,\n]+, line \d+)\b[^\n]*"), rf"\1: {HIDDEN}"),
    (re.compile(r"(invalid input syntax for type [\w ]+): .*"), rf"\1: {HIDDEN}"),
    (re.compile(r"(Duplicate entry|Incorrect [\w ]+ value:) '.*?'( for )"), rf"\1 {HIDDEN}\2"),
)


def hide_quoted_values(message: str) -> str:
    for pattern, replacement in _QUOTED_VALUES:
        message = pattern.sub(replacement, message)
    return message


_VALUES_CLAUSE = re.compile(r"\bVALUES\b.*", re.IGNORECASE | re.DOTALL)


def _hide_values_in_error(context) -> None:
    """handle_error: the driver's exception and SQLAlchemy's around it lose the values the server quoted, before
    anything (a task log's traceback, a failure alert) shows them. Error codes stay: retries read them. A statement
    run without parameters holds its values as literals (_pymysql_execute_many): it is shown up to its VALUES, as
    hide_parameters shows a statement without the values it bound."""
    for exc in (context.original_exception, context.sqlalchemy_exception):
        if exc is not None:
            exc.args = tuple(hide_quoted_values(a) if isinstance(a, str) else a for a in exc.args)
    literal = context.execution_context is not None and context.execution_context.execution_options.get(
        "no_parameters")
    if literal and context.sqlalchemy_exception is not None and context.sqlalchemy_exception.statement:
        context.sqlalchemy_exception.statement = _VALUES_CLAUSE.sub(f"VALUES ... {HIDDEN}",
                                                                    context.sqlalchemy_exception.statement)


def commerce_engine(url: str) -> Engine:
    # hide_parameters: a failed statement's error (the task log's traceback, a failure alert) must not show the values
    # it bound, which are buyers' names, addresses, phones and e-mails (Amazon's Data Protection Policy); nor what the
    # server quotes of them (_hide_values_in_error).
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 60}, hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _):
            dbapi_conn.execute("PRAGMA journal_mode=WAL")  # readers (the UI) never block the loader
            dbapi_conn.execute("PRAGMA foreign_keys=ON")

    else:
        if url.startswith(("mysql", "mariadb")) and "charset=" not in url:
            url += ("&" if "?" in url else "?") + "charset=utf8mb4"
        options = {"executemany_mode": "values_plus_batch"} if url.startswith("postgresql+psycopg2") else {}
        engine = create_engine(url, pool_pre_ping=True, hide_parameters=True, **options)
    event.listen(engine, "handle_error", _hide_values_in_error)
    return engine


def lock_conflict(exc: BaseException) -> bool:
    """The database aborted the transaction because of a concurrent one (a deadlock or a lock wait timeout): running
    it again is safe and usually succeeds. Anything else is not retried."""
    orig = getattr(exc, "orig", None)
    if getattr(orig, "pgcode", None) in _PG_LOCK_CONFLICTS:
        return True
    args = getattr(orig, "args", ())
    return bool(args) and args[0] in _MYSQL_LOCK_CONFLICTS


def in_transaction(engine: Engine, work: Callable[[Connection], T], attempts: int = LOCK_CONFLICT_ATTEMPTS) -> T:
    """`work(conn)` in one transaction, run again from the start when the database aborts it for a concurrent
    transaction (two accounts loading into one Commerce DB at once); SQLite waits on its busy timeout instead."""
    for attempt in range(1, attempts + 1):
        try:
            with engine.begin() as conn:
                return work(conn)
        except DBAPIError as exc:
            if attempt == attempts or not lock_conflict(exc):
                raise
            log.warning("transaction aborted by a concurrent one (%s); running it again (%d of %d)",
                        type(exc.orig).__name__, attempt + 1, attempts)
            time.sleep(0.2 * attempt)
    raise AssertionError("unreachable")


# Rows to write: a list of dicts, or the same by column (column name -> its values, all lists as long), which is what
# a frame gives for free; the writes below work column by column either way.
Rows = Sequence[dict] | Mapping[str, list]


def _by_column(rows: Rows) -> dict[str, list]:
    if isinstance(rows, Mapping):
        return dict(rows)
    return {column: [row[column] for row in rows] for column in rows[0]} if rows else {}


def _row_count(columns: dict[str, list]) -> int:
    return len(next(iter(columns.values()), []))


def _chunks(columns: dict[str, list], size: int):
    for start in range(0, _row_count(columns), size):
        yield {name: values[start:start + size] for name, values in columns.items()}


def _insert(conn: Connection, table: Table):
    return {"postgresql": postgresql.insert, "sqlite": sqlite.insert}.get(conn.dialect.name, mysql.insert)(table)


def upsert(conn: Connection, table: Table, rows: Rows, keys: Sequence[str], update: Sequence[str],
           newer: str | None = None, owner: str | None = None) -> None:
    """Insert rows, or update `update` columns of the existing row with the same `keys`.

    With `newer`, an existing row is only updated when the incoming `newer` value is not older than the stored
    one, so a late re-run of an old window never overwrites fresher data. With `owner` (a column such as
    account_id), an existing row is only updated when it has the incoming row's owner: one account never
    rewrites another's rows, even when both write the same key at once.
    """
    columns = _by_column(rows)
    if not _row_count(columns):
        return
    if conn.dialect.name == "postgresql":
        return _pg_copy_merge(conn, table, columns, keys, update, newer, owner)
    stmt = _insert(conn, table)
    new = stmt.inserted if conn.dialect.name == "mysql" else stmt.excluded
    guards = ([table.c[newer] <= new[newer]] if newer else []) + ([table.c[owner] == new[owner]] if owner else [])
    allowed = and_(*guards) if guards else None
    if conn.dialect.name == "mysql":
        if allowed is not None:
            values = {c: _if(allowed, new[c], table.c[c]) for c in update if c not in (newer, owner)}
            if newer:
                values[newer] = _if(allowed, new[newer], table.c[newer])  # last: MySQL assigns left to right
        else:
            values = {c: new[c] for c in update}
        stmt = stmt.on_duplicate_key_update(**values)
    else:
        stmt = stmt.on_conflict_do_update(index_elements=list(keys), set_={c: new[c] for c in update}, where=allowed)
    for chunk in _chunks(columns, BATCH_ROWS):
        _execute_many(conn, table, stmt, chunk)


def insert_missing(conn: Connection, table: Table, rows: Rows, keys: Sequence[str]) -> None:
    """Insert rows whose `keys` are not there yet; leave existing rows untouched."""
    columns = _by_column(rows)
    if not _row_count(columns):
        return
    if conn.dialect.name == "postgresql":
        return _pg_copy_merge(conn, table, columns, keys, None, None)
    stmt = _insert(conn, table)
    if conn.dialect.name == "mysql":  # a no-op update, not INSERT IGNORE, which would also hide bad data
        stmt = stmt.on_duplicate_key_update({keys[0]: table.c[keys[0]]})
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
    for chunk in _chunks(columns, BATCH_ROWS):
        _execute_many(conn, table, stmt, chunk)


def _bound(conn: Connection, table: Table, columns: dict[str, list], finish=None) -> dict[str, list]:
    """Each column's values as the driver takes them, converted by the column type's bind processor exactly as
    SQLAlchemy converts them (then by `finish`), a column at a time and each distinct value once: amounts, SKUs and
    times repeat a lot (zeros, prices, an order's time on each of its items)."""
    bound, converted = {}, {}
    for name, values in columns.items():
        kind = table.c[name].type
        process = kind._cached_bind_processor(conn.dialect)
        if process is None and finish is None:
            bound[name] = values
            continue
        if finish is None:
            convert = process
        else:
            convert = finish if process is None else (lambda value, process=process: finish(process(value)))
        done = converted.setdefault(repr(kind), {})  # columns of one type share theirs (an amount, its base twin)
        bound[name] = [done[v] if v in done else done.setdefault(v, convert(v)) for v in values]
    return bound


def _execute_many(conn: Connection, table: Table, stmt, columns: dict[str, list]) -> None:
    """The driver's executemany of `stmt`, compiled once. SQLAlchemy's own executemany handles the parameters row by
    row, which on wide tables costs several times what the database's work does; the values bound are the same."""
    compiled = stmt.compile(dialect=conn.dialect, column_keys=list(columns))
    if conn.dialect.driver == "pymysql":
        return _pymysql_execute_many(conn, table, compiled.string, columns)
    bound = _bound(conn, table, columns)
    if compiled.positiontup is not None:  # SQLite's "?": the parameters in the compiled statement's order
        params = list(zip(*(bound[name] for name in compiled.positiontup), strict=True))
    else:  # another MySQL driver's "%(name)s"
        params = [dict(zip(bound, row, strict=True)) for row in zip(*bound.values(), strict=True)]
    conn.exec_driver_sql(compiled.string, params)


def _pymysql_execute_many(conn: Connection, table: Table, sql: str, columns: dict[str, list]) -> None:
    """PyMySQL's executemany (multi-row INSERT statements up to its maximum length), with each distinct value of a
    column escaped once, by PyMySQL's own escaping: PyMySQL escapes every value anew, in Python, which was most of a
    MariaDB load's time."""
    from pymysql.cursors import RE_INSERT_VALUES, Cursor

    driver = conn.connection.dbapi_connection
    escaped = _bound(conn, table, columns, finish=driver.escape)
    parts = RE_INSERT_VALUES.match(sql)
    if parts is None:
        raise ValueError(f"not a multi-row INSERT: {sql}")
    prefix, template, postfix = parts.group(1) % (), parts.group(2).rstrip(), (parts.group(3) or "") % ()
    order = re.findall(r"%\((\w+)\)s", template)  # the VALUES (...) placeholders, in column order
    if f"({', '.join(f'%({name})s' for name in order)})" != template:
        raise ValueError(f"unexpected VALUES clause: {template}")
    limit = Cursor.max_stmt_length - len(prefix) - len(postfix)
    batch, size = [], 0
    for row in zip(*(escaped[name] for name in order), strict=True):
        values = f"({','.join(row)})"
        length = len(values.encode(driver.encoding)) + 1
        if batch and size + length > limit:
            _execute_literal(conn, prefix + ",".join(batch) + postfix)
            batch, size = [], 0
        batch.append(values)
        size += length
    if batch:
        _execute_literal(conn, prefix + ",".join(batch) + postfix)


def _execute_literal(conn: Connection, sql: str) -> None:
    """A statement holding its values as literals: run without parameters, so "%" in a value stays as it is (its
    error does not show the values: _hide_values_in_error)."""
    conn.exec_driver_sql(sql, execution_options={"no_parameters": True})


def copy_missing(conn: Connection, table: Table, query: Select, columns: Sequence[str], keys: Sequence[str]) -> None:
    """INSERT INTO table (columns) SELECT ...: rows the database derives from rows it holds, never passing through
    Python; those whose `keys` are there already are left untouched, as in insert_missing."""
    stmt = _insert(conn, table).from_select(list(columns), query)
    if conn.dialect.name == "mysql":
        stmt = stmt.on_duplicate_key_update({keys[0]: table.c[keys[0]]})
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
    conn.execute(stmt)


def _pg_copy_merge(conn: Connection, table: Table, columns: dict[str, list], keys: Sequence[str],
                   update: Sequence[str] | None, newer: str | None, owner: str | None = None) -> None:
    """PostgreSQL: COPY the rows into a temporary table, then one INSERT ... SELECT ... ON CONFLICT. Row-by-row
    statements cost about 60 µs a row here; this runs near COPY speed. Same semantics as the generic path."""
    import csv
    import io

    # One row per key: the last one's values, in the order keys first appear, as sequential writes would leave them.
    last = {key: n for n, key in enumerate(zip(*(columns[k] for k in keys), strict=True))}
    text = _bound(conn, table, {name: [values[n] for n in last.values()] for name, values in columns.items()},
                  finish=_copy_text)
    buffer = io.StringIO()
    csv.writer(buffer).writerows(zip(*text.values(), strict=True))
    buffer.seek(0)
    temp = f"tmp_{table.name}"
    names = ", ".join(f'"{c}"' for c in columns)
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {temp}")  # only the given columns: no defaults, no sequences
    conn.exec_driver_sql(f'CREATE TEMP TABLE {temp} ON COMMIT DROP AS SELECT {names} FROM "{table.name}" WITH NO DATA')
    conn.connection.cursor().copy_expert(f"COPY {temp} ({names}) FROM STDIN WITH (FORMAT csv, NULL '\\N')", buffer)
    conflict = ", ".join(f'"{k}"' for k in keys)
    if update:
        action = "DO UPDATE SET " + ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in update)
        guards = ([f'"{table.name}"."{newer}" <= EXCLUDED."{newer}"'] if newer else []) + (
            [f'"{table.name}"."{owner}" = EXCLUDED."{owner}"'] if owner else [])
        if guards:
            action += " WHERE " + " AND ".join(guards)
    else:
        action = "DO NOTHING"
    conn.exec_driver_sql(f'INSERT INTO "{table.name}" ({names}) SELECT {names} FROM {temp} '
                         f"ON CONFLICT ({conflict}) {action}")


def _copy_text(value):
    """A bound value as COPY's CSV reads it (\\N is NULL)."""
    return "\\N" if value is None else value.isoformat() if hasattr(value, "isoformat") else value


def _if(condition, then, otherwise):
    return case((condition, then), else_=otherwise)
