"""An order's latest note (the Orders grid) and its history (the order detail), kept in one place."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Connection

from ..batching import IN_LIST, chunked
from .schema import channel_amazon_order, channel_amazon_order_note


def set_notes(conn: Connection, notes: Mapping[str, str], at: datetime) -> int:
    """Set each order's latest note; a history row is added only when the note changed, so re-runs add none."""
    o = channel_amazon_order.c
    current: dict[str, str | None] = {}
    for ids in chunked(list(notes), IN_LIST):
        current.update(conn.execute(select(o.amazon_order_id, o.note).where(o.amazon_order_id.in_(ids))).all())
    changed = {order: note[:1024] for order, note in notes.items()
               if order in current and current[order] != note[:1024]}
    if changed:
        conn.execute(update(channel_amazon_order).where(o.amazon_order_id == bindparam("b_id"))
                     .values(note=bindparam("b_note")), [{"b_id": k, "b_note": v} for k, v in changed.items()])
        add_history(conn, changed, at)
    return len(changed)


def unrecorded(conn: Connection, notes: Mapping[str, str]) -> dict[str, str]:
    """The notes (cut to the column) whose order's history does not hold that very note yet."""
    n = channel_amazon_order_note.c
    recorded: set[tuple[str, str]] = set()
    for ids in chunked(list(notes), IN_LIST):
        recorded.update(conn.execute(select(n.amazon_order_id, n.note).where(n.amazon_order_id.in_(ids))).all())
    return {order: note[:1024] for order, note in notes.items() if (order, note[:1024]) not in recorded}


def note_once(conn: Connection, notes: Mapping[str, str], at: datetime) -> int:
    """Set each order's latest note, unless its history already holds that very note: an event is noted once, however
    often later runs see it again (another note may have been set since)."""
    new = unrecorded(conn, notes)
    if new:
        o = channel_amazon_order.c
        conn.execute(update(channel_amazon_order).where(o.amazon_order_id == bindparam("b_id"))
                     .values(note=bindparam("b_note")), [{"b_id": k, "b_note": v} for k, v in new.items()])
        add_history(conn, new, at)
    return len(new)


def add_history(conn: Connection, notes: Mapping[str, str], at: datetime) -> None:
    """History rows for notes the caller has already written to channel_amazon_order.note."""
    if notes:
        conn.execute(insert(channel_amazon_order_note),
                     [{"amazon_order_id": k, "noted_at": at, "note": v[:1024]} for k, v in notes.items()])
