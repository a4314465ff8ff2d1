"""A database error shows no buyer data, on each database: neither the values a statement bound (hide_parameters)
nor those the server quotes in its own message (PostgreSQL's "Key (email)=(...)" and "Failing row contains (...)",
MariaDB's "Duplicate entry '...'"). Such an error reaches a task log's traceback and a failure alert."""

from __future__ import annotations

import traceback
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from amazon_channel.commerce.db import HIDDEN, lock_conflict
from amazon_channel.commerce.schema import customer_entity

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
