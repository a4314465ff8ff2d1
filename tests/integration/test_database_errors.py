"""A database error shows no buyer data, on each database: neither the values a statement bound (hide_parameters)
nor those the server quotes in its own message (PostgreSQL's "Key (email)=(...)" and "Failing row contains (...)",
MariaDB's "Duplicate entry '...'"). Such an error reaches a task log's traceback and a failure alert. And a
transaction the server aborts for a concurrent one (a deadlock) is run again whole, by `in_transaction`."""

from __future__ import annotations

import threading
import traceback
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from amazon_channel.commerce.db import HIDDEN, in_transaction, insert_missing, lock_conflict
from amazon_channel.commerce.schema import catalog_product, customer_entity

BUYER = {"website_id": 1, "email": "jane.buyer@example.org", "firstname": "Jane", "lastname": "Quillfeather",
         "created_at": datetime(2026, 3, 8, tzinfo=UTC)}


def shown(exc: BaseException) -> str:
    """Everything a task log shows of the error: its message and the whole chained traceback."""
    return str(exc) + "".join(traceback.format_exception(exc))


def test_a_broken_unique_rule_names_the_rule_but_not_the_buyers_values(commerce):
    with commerce.begin() as conn:
        conn.execute(insert(customer_entity).values(**BUYER))

    with pytest.raises(IntegrityError) as raised, commerce.begin() as conn:
        conn.execute(insert(customer_entity).values(**BUYER))

    text = shown(raised.value)
    assert "jane.buyer@example.org" not in text and "Quillfeather" not in text, text
    assert "customer_entity" in text or "uq_customer_email_website" in text, text  # what to fix
    if commerce.dialect.name != "sqlite":  # SQLite quotes no values, so there is nothing to hide
        assert HIDDEN in text, text
    assert not lock_conflict(raised.value)  # codes kept: a retry still tells a conflict from a broken rule


def test_a_missing_value_hides_the_rest_of_the_row(commerce):
    with pytest.raises(IntegrityError) as raised, commerce.begin() as conn:
        conn.execute(insert(customer_entity).values(**{**BUYER, "created_at": None}))

    text = shown(raised.value)
    assert "created_at" in text, text
    assert "jane.buyer@example.org" not in text and "Quillfeather" not in text, text


def test_a_bulk_write_that_fails_shows_its_statement_without_the_rows(commerce):
    # The loader's bulk path: bound parameters on SQLite and PostgreSQL, literal multi-row INSERTs on MariaDB
    rows = [{**BUYER, "email": f"buyer{n}@example.org"} for n in range(3)] + [{**BUYER, "created_at": None}]

    with pytest.raises(IntegrityError) as raised, commerce.begin() as conn:
        insert_missing(conn, customer_entity, rows, ["email", "website_id"])

    text = shown(raised.value)
    assert "example.org" not in text and "Quillfeather" not in text, text
    assert "customer_entity" in text and "created_at" in text, text  # the table, and the column to fix


@pytest.mark.parametrize("commerce_url", ["postgresql", "mariadb"], indirect=True)  # SQLite waits: one writer
def test_a_transaction_aborted_by_a_deadlock_runs_again_and_both_finish(commerce):
    # Arrange: two transactions that each lock one stock row, then want the other's (as two accounts once did)
    p = catalog_product.c
    with commerce.connect() as conn:
        first, second = conn.execute(select(p.sku).order_by(p.sku).limit(2)).scalars().all()
        before = dict(conn.execute(select(p.sku, p.qty).where(p.sku.in_([first, second]))).all())
    both_hold_one = threading.Barrier(2)
    tries = Counter()

    def deduct(name: str, skus: tuple[str, str]):
        def work(conn):
            tries[name] += 1
            conn.execute(update(catalog_product).where(p.sku == skus[0]).values(qty=p.qty - 1))
            if tries[name] == 1:
                both_hold_one.wait(timeout=30)
            conn.execute(update(catalog_product).where(p.sku == skus[1]).values(qty=p.qty - 1))
        return lambda: in_transaction(commerce, work)

    # Act: both at once; the server aborts one of them
    with ThreadPoolExecutor(2) as pool:
        for future in [pool.submit(deduct("ab", (first, second))), pool.submit(deduct("ba", (second, first)))]:
            future.result(timeout=60)

    # Assert: one ran again from the start, and every deduction counted once
    assert sorted(tries.values()) == [1, 2], tries
    with commerce.connect() as conn:
        after = dict(conn.execute(select(p.sku, p.qty).where(p.sku.in_([first, second]))).all())
    assert after == {sku: qty - 2 for sku, qty in before.items()}
