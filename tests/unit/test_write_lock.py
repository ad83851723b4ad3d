"""BEGIN IMMEDIATE waits for SQLite's write lock by trying every millisecond
(store/db/database.py `begin_immediate`), not with SQLite's busy handler's growing sleeps."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from contactql.config import Settings
from contactql.store.db.database import LOCK_POLL_SECONDS, LONG_WRITE_SECONDS, YIELD_SECONDS, Database, begin_immediate


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _connections(path: Path) -> tuple[sqlite3.Connection, sqlite3.Connection]:
    holder, waiter = (sqlite3.connect(path, isolation_level=None, check_same_thread=False) for _ in range(2))
    holder.execute("PRAGMA journal_mode=WAL")
    holder.execute("CREATE TABLE t (x)")
    return holder, waiter


def _busy_timeout(connection: sqlite3.Connection) -> int:
    return int(connection.execute("PRAGMA busy_timeout").fetchone()[0])


def test_the_lock_is_taken_in_the_gap_the_other_writer_leaves(tmp_path: Path) -> None:
    holder, waiter = _connections(tmp_path / "gap.db")
    holder.execute("BEGIN IMMEDIATE")
    clock = Clock()

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        if len(clock.slept) == 7:  # the other writer commits (and would begin again within ms)
            holder.execute("COMMIT")

    begin_immediate(waiter, wait_ms=5_000, busy_timeout_ms=5_000, clock=clock, sleep=sleep)
    assert waiter.in_transaction and clock.slept == [LOCK_POLL_SECONDS] * 7, "tried again every millisecond until free"
    holder.execute("PRAGMA busy_timeout=0")
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        holder.execute("BEGIN IMMEDIATE")  # the waiter holds it now
    waiter.execute("COMMIT")
    assert _busy_timeout(waiter) == 5_000, "SQLite's own busy timeout is back for everything else"


def test_past_the_wait_it_is_sqlite_s_own_database_is_locked(tmp_path: Path) -> None:
    holder, waiter = _connections(tmp_path / "held.db")
    holder.execute("BEGIN IMMEDIATE")
    clock = Clock()
    with pytest.raises(sqlite3.OperationalError, match="database is locked"):
        begin_immediate(waiter, wait_ms=250, busy_timeout_ms=4_000, clock=clock, sleep=clock.sleep)
    assert 249 <= len(clock.slept) <= 251 and not waiter.in_transaction
    assert _busy_timeout(waiter) == 4_000
    with pytest.raises(sqlite3.OperationalError, match="database is locked"):
        begin_immediate(waiter, wait_ms=0, busy_timeout_ms=4_000, clock=clock, sleep=clock.sleep)  # no wait: one try
    assert 249 <= len(clock.slept) <= 251, "no wait means no sleep"
    holder.execute("COMMIT")
    begin_immediate(waiter, wait_ms=0, busy_timeout_ms=4_000, clock=clock, sleep=clock.sleep)
    assert waiter.in_transaction


async def test_after_a_long_write_the_writer_thread_lets_others_in(tmp_path: Path) -> None:
    """A batch chunk's transaction (≥ LONG_WRITE_SECONDS) is followed by a pause of
    YIELD_SECONDS before this process's next write begins: long enough for a writer of another
    process, trying every LOCK_POLL_SECONDS, to take the lock in between. A short write is not."""
    db = Database(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'yield.db'}"))
    clock = Clock()
    db.clock, db.sleep = clock, clock.sleep
    try:
        await db.migrate()

        def taking(seconds: float) -> Callable[[Any], None]:
            def write(_conn: Any) -> None:
                clock.now += seconds

            return write

        await db.write(taking(0.001))
        await db.write(taking(0.001))
        assert clock.slept == [], "short writes follow each other at once"
        await db.write(taking(LONG_WRITE_SECONDS * 1.5))
        await db.write(taking(0.001))
        assert clock.slept == [pytest.approx(YIELD_SECONDS)]
        await db.write(taking(0.001))
        assert len(clock.slept) == 1
    finally:
        await db.dispose()
