"""The one place SQLite and PostgreSQL differ: which dialect's `insert` offers ON CONFLICT.

Statements are built once per (dialect, table): building one (`excluded` makes a table alias
with a proxy per column) costs more than running it.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from contactql.store.db.reads import Read


def _insert(dialect: str, table: sa.Table) -> Any:
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


@functools.cache
def upsert(dialect: str, table: sa.Table, keys: tuple[str, ...], update: tuple[str, ...]) -> Any:
    """INSERT … ON CONFLICT (keys) DO UPDATE SET each of `update` to the new value."""
    statement = _insert(dialect, table)
    return statement.on_conflict_do_update(
        index_elements=[table.c[k] for k in keys], set_={c: statement.excluded[c] for c in update}
    )


def allocate_ids(conn: sa.Connection, table: sa.Table, count: int) -> list[int]:
    """`count` new ids for `table`'s integer primary key, so rows go in by plain executemany
    (faster than INSERT … RETURNING in parameter order) and references can be written at once.

    PostgreSQL: the column's own sequence. SQLite: after the largest id, and after the largest
    id ever deleted (`id_floor`, migration 0018: an erased contact's id is never given to
    another) — safe because a write transaction holds SQLite's only write lock (BEGIN
    IMMEDIATE) until it commits."""
    if conn.dialect.name == "postgresql":
        return [row[0] for row in conn.execute(_next_ids(table), {"count": count})]
    start = _largest_id(table).scalar(conn, {})
    return list(range(start + 1, start + 1 + count))


# Built once per table: building a SELECT of functions costs more than running it (~0.1 ms of a
# single upsert's writer time, measured with py-spy).
@functools.cache
def _next_ids(table: sa.Table) -> sa.Select[Any]:
    sequence = sa.func.pg_get_serial_sequence(table.name, "id")
    return sa.select(sa.func.nextval(sequence)).select_from(sa.func.generate_series(1, sa.bindparam("count", type_=sa.Integer)))


@functools.cache
def _largest_id(table: sa.Table) -> Read:
    floor = sa.table("id_floor", sa.column("name"), sa.column("last_id"))
    deleted = sa.select(floor.c.last_id).where(floor.c.name == table.name).scalar_subquery()
    return Read(sa.select(sa.func.max(sa.func.coalesce(sa.func.max(table.c.id), 0), sa.func.coalesce(deleted, 0))))


@functools.cache
def insert_ignoring_duplicates(dialect: str, table: sa.Table) -> Any:
    """INSERT … ON CONFLICT DO NOTHING."""
    return _insert(dialect, table).on_conflict_do_nothing()


MAX_KEY_LOCKS = 256
_WHOLE_WORKSPACE = -1


def serialize(conn: sa.Connection, *, workspace_id: int, keys: Iterable[str]) -> None:
    """On PostgreSQL, hold transaction-scoped advisory locks on the normalised keys a
    match-or-create depends on (SPEC §8), so two processes cannot both decide "no match,
    create" for rules no unique index covers. Keys are hashed to 32-bit numbers and locked in
    order (no deadlocks between lockers). A chunk with more than MAX_KEY_LOCKS keys takes one
    exclusive lock on the whole workspace instead; every key locker also holds that lock in
    shared mode, so the two conflict. SQLite needs nothing: its writes are already one at a
    time (BEGIN IMMEDIATE)."""
    if conn.dialect.name != "postgresql":
        return
    numbers = sorted({int.from_bytes(hashlib.blake2b(k.encode(), digest_size=4).digest(), "big", signed=True) for k in keys})
    if not numbers:
        return
    if len(numbers) > MAX_KEY_LOCKS:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:ws, :whole)"), {"ws": workspace_id, "whole": _WHOLE_WORKSPACE})
        return
    conn.execute(sa.text("SELECT pg_advisory_xact_lock_shared(:ws, :whole)"), {"ws": workspace_id, "whole": _WHOLE_WORKSPACE})
    conn.execute(
        sa.text("SELECT count(pg_advisory_xact_lock(:ws, k)) FROM (SELECT unnest(CAST(:keys AS integer[])) AS k ORDER BY 1) AS ordered"),
        {"ws": workspace_id, "keys": numbers},
    )
