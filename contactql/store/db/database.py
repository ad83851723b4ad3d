"""The database handle: every store function runs as one whole transaction.

Store functions are plain functions of a SQLAlchemy `Connection` (`fn(conn, *, workspace_id,
…)`); `Database.read(fn, …)` and `Database.write(fn, …)` run one inside a transaction and
return its result. How depends on the dialect, never on the function:

- PostgreSQL: `AsyncConnection.run_sync` over asyncpg (SQLAlchemy's bridge for sync code).
- SQLite: SQLAlchemy's aiosqlite adapter pays several thread hops per statement — measured
  here at 0.4–0.6 ms for a `SELECT 1`, ~10 ms for one upsert — so the transaction runs whole
  on a thread of ours with the stdlib `sqlite3` driver that aiosqlite itself wraps: one hop
  per transaction. Writes have ONE thread (a single writer that queues, never "database is
  locked" inside a process) and take `BEGIN IMMEDIATE` (a deferred transaction that reads then
  writes fails with SQLITE_BUSY at once whatever the busy timeout); reads have a small pool.
  The single upserts' group commit skips even that hop when the lock is free (`write_here`).
  WAL mode, `synchronous=FULL` by default (an acknowledged write survives power loss), a busy
  timeout for other processes, foreign keys on, and WAL checkpoints on a thread of their own
  rather than inside whichever COMMIT crosses SQLite's mark (store/db/checkpoint.py).
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from contactql.config import ConfigError, Settings
from contactql.store.db import backup, migrate
from contactql.store.db.busy import is_busy
from contactql.store.db.checkpoint import Checkpointer, truncate_wal
from contactql.store.upsert.cache import Catalog
from contactql.store.values import fold

P = ParamSpec("P")
T = TypeVar("T")
StoreFn = Callable[Concatenate[sa.Connection, P], T]

_WRITE = "contactql_write"  # execution option: BEGIN IMMEDIATE; its value, whether COMMIT waits for the disk
_DURABLE, _REDOABLE = "durable", "redoable"
_NO_WAIT = "contactql_no_wait"  # execution option: BEGIN IMMEDIATE fails at once when the lock is taken
READER_THREADS = 4


class Database:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.dialect = settings.dialect
        self._async: AsyncEngine | None = None
        self.catalog = Catalog()
        if self.dialect == "sqlite":
            folder = Path(sqlite_path(settings.database_url)).expanduser().resolve().parent
            if not folder.is_dir():
                raise ConfigError(f"the folder {folder} of the SQLite database does not exist; create it, or give another path")
            path = sqlite_path(settings.database_url)
            # While this process uses the file, `contactql db restore` refuses to replace it.
            self._in_use = None if path in {"", ":memory:"} else backup.hold_shared(Path(path).expanduser().resolve())
            self.engine = _sqlite_engine(settings)
            self._writer = ThreadPoolExecutor(1, thread_name_prefix="contactql-writer")
            self._writer_free_at = 0.0  # the writer thread begins no write before (LONG_WRITE_SECONDS)
            self.clock: Callable[[], float] = time.monotonic  # tests replace both
            self.sleep: Callable[[float], None] = time.sleep
            self._checkpointer = Checkpointer(sqlite_path(settings.database_url), settings.sqlite_busy_timeout_ms, self._between_writes)
            self._readers = ThreadPoolExecutor(READER_THREADS, thread_name_prefix="contactql-reader")
            self._committer = ThreadPoolExecutor(1, thread_name_prefix="contactql-commit")  # write_here's COMMITs
        else:
            self._async = create_async_engine(settings.database_url, pool_size=10, max_overflow=10, pool_pre_ping=True)
            self.engine = self._async.sync_engine

    async def read(self, fn: StoreFn[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `fn(conn, …)` in a read transaction (one consistent snapshot)."""
        return await self._run(fn, None, *args, **kwargs)

    async def write(self, fn: StoreFn[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `fn(conn, …)` in a write transaction: committed when it returns, rolled back if it raises."""
        return await self._run(fn, _DURABLE, *args, **kwargs)

    async def write_redoable(self, fn: StoreFn[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """`write`, but the COMMIT returns before the writes reach the disk: for work that is redone
        from what is durable if a power loss takes it back (a batch's chunks before its last).

        Both databases write their log in order, so a power loss can only take back a tail of
        transactions — this one with every later one, never a part of it — and the next
        `write` makes this one durable with itself. A crash of ContactQL loses nothing: the
        writes are with the database (SQLite: with the operating system). SQLite:
        `synchronous=NORMAL` for this transaction, the next one starts with the configured
        setting again. PostgreSQL: `synchronous_commit` off for this transaction."""
        return await self._run(fn, _REDOABLE, *args, **kwargs)

    async def write_here(self, fn: StoreFn[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """`write` for short, CPU-bound transactions (the single upserts' group commit): on
        SQLite the statements run on the calling event-loop thread and only the COMMIT, which
        waits for the disk, goes to a thread of its own.

        A thread hop per transaction costs more than the statements: the writer thread and the
        event loop hand the GIL back and forth around every sqlite3 call. Measured with 16
        concurrent upserts: 0.6 ms of CPU per hop with no database work at all. The write lock
        is taken without waiting (busy timeout 0 for the BEGIN IMMEDIATE): when the writer
        thread or another process holds it, the transaction runs on the writer thread as
        `write` does, so the event loop never waits on a lock. PostgreSQL: `write`."""
        if self._async is not None:
            return await self._run(fn, _DURABLE, *args, **kwargs)
        conn = self.engine.connect().execution_options(**{_WRITE: _DURABLE, _NO_WAIT: True})
        try:
            transaction = conn.begin()
        except (sa.exc.OperationalError, sqlite3.OperationalError) as error:
            conn.close()
            if not is_busy(error):
                raise
            return await self._run(fn, _DURABLE, *args, **kwargs)
        try:
            result = fn(conn, *args, **kwargs)
        except BaseException:
            transaction.rollback()
            conn.close()
            raise
        # The connection belongs to the commit thread from here: a cancelled caller leaves the
        # COMMIT to finish there, never a half-closed connection behind. Not the writer thread:
        # a write queued there ahead of this COMMIT would wait for the lock this one holds.
        await asyncio.get_running_loop().run_in_executor(self._committer, self._commit, conn, transaction)
        return result

    async def truncate_log(self) -> bool:
        """SQLite: copy the whole WAL into the database and empty the file, so no page an
        erasure overwrote survives in it; False when readers kept it from finishing within a
        second (the checkpointer then empties it as soon as they finish). PostgreSQL: nothing to do
        here (its WAL and dead row versions are the server's: see docs/operations.md)."""
        if self._async is not None:
            return True
        emptied = await asyncio.get_running_loop().run_in_executor(self._writer, truncate_wal, sqlite_path(self.settings.database_url))
        if not emptied:
            self._checkpointer.truncate_soon()
        return emptied

    def threads_alive(self) -> dict[str, bool]:
        """This database's own background threads and whether each runs (readiness): SQLite's
        WAL checkpointer; none on PostgreSQL."""
        return {} if self._async is not None else {"sqlite-checkpointer": self._checkpointer.alive}

    def _between_writes(self, fn: Callable[[], T]) -> T:
        """Run `fn` between two write transactions (the checkpointer's last copy): on the writer
        thread, holding SQLite's write lock. The thread alone is not enough since `write_here`
        runs transactions on the event loop: the lock waits for one under way and keeps the next
        out (it finds the lock taken and queues on this thread)."""

        def locked() -> T:
            # A write transaction like any other (BEGIN IMMEDIATE, up to the busy timeout; the
            # `begin` listener raises sqlite3's own error) in which nothing is written.
            with self.engine.connect().execution_options(**{_WRITE: _DURABLE}) as conn, conn.begin():
                return fn()

        return self._writer.submit(locked).result()

    def _commit(self, conn: sa.Connection, transaction: sa.RootTransaction) -> None:
        try:
            transaction.commit()
        finally:
            conn.close()
        self._checkpointer.written()

    async def _run(self, fn: StoreFn[P, T], write: str | None, /, *args: Any, **kwargs: Any) -> T:
        """`write`: None for a read, else `_DURABLE` or `_REDOABLE`."""
        if self._async is not None:
            async with self._async.connect() as conn, conn.begin():
                if write == _REDOABLE:
                    await conn.exec_driver_sql("SET LOCAL synchronous_commit TO OFF")
                return await conn.run_sync(fn, *args, **kwargs)
        call = functools.partial(self._in_thread, fn, write, args, kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._readers if write is None else self._writer, call)

    def _in_thread(self, fn: StoreFn[P, T], write: str | None, args: Any, kwargs: Any) -> T:
        if write is not None and (wait := self._writer_free_at - self.clock()) > 0:
            self.sleep(wait)
        began = self.clock()
        with self.engine.connect() as conn:
            if write is not None:
                conn.execution_options(**{_WRITE: write})
            with conn.begin():
                result = fn(conn, *args, **kwargs)
        if write is not None:
            if (ended := self.clock()) - began >= LONG_WRITE_SECONDS:
                self._writer_free_at = ended + YIELD_SECONDS
            self._checkpointer.written()
        return result

    async def migrate(self) -> str | None:
        """Bring the database to the newest schema revision (Alembic); returns the revision."""
        return await self.write(migrate.upgrade)

    async def dispose(self) -> None:
        if self._async is not None:
            await self._async.dispose()
            return
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._checkpointer.close)  # before the writer it may be waiting on
        await loop.run_in_executor(None, functools.partial(self._committer.shutdown, wait=True))
        await loop.run_in_executor(None, functools.partial(self._writer.shutdown, wait=True))
        await loop.run_in_executor(None, functools.partial(self._readers.shutdown, wait=True))
        self.engine.dispose()  # the last connection to close checkpoints what is left
        if self._in_use is not None:
            self._in_use.close()


# Errors of the database itself rather than of the work asked of it: they can pass (busy, a
# concurrent writer, a connection lost), so work that met one is tried again as it is.
PASSING_ERRORS = (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.IntegrityError, sqlite3.OperationalError, OSError, TimeoutError)
# What reaching or using a database can raise when the database, not ContactQL, is the problem.
UNAVAILABLE = (OSError, sa.exc.DBAPIError)


def is_passing(error: BaseException) -> bool:
    return isinstance(error, PASSING_ERRORS) or bool(getattr(error, "connection_invalidated", False))


def shown_url(url: str) -> str:
    """The database URL without its password, to show in a message."""
    return sa.make_url(url).render_as_string(hide_password=True)


LOCK_POLL_SECONDS = 0.001
# After a write transaction this long (a batch chunk), the writer thread begins no other for a
# moment: a writer of another process, trying every LOCK_POLL_SECONDS (begin_immediate), gets
# the lock in between instead of waiting for the end of the whole batch.
LONG_WRITE_SECONDS = 0.02
YIELD_SECONDS = 0.002


def begin_immediate(
    driver: sqlite3.Connection, *, wait_ms: int, busy_timeout_ms: int, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep
) -> None:
    """BEGIN IMMEDIATE, waiting up to `wait_ms` for the write lock: tried again every
    millisecond, then SQLite's "database is locked" as its busy timeout would raise it.

    Not SQLite's own busy handler: it sleeps 1, 2, 5, 10 … and then 100 ms between tries, so a
    writer in another process that commits and begins again within a few milliseconds — a
    batch worker between two chunks — has the lock back before the waiting writer wakes. With
    the API and the batch worker in two processes, the API's accepts waited more than a second
    at a time behind the worker's chunks (benchmarks/README.md, "The write lock between two
    processes"). A try every millisecond finds the gap between two transactions."""
    driver.execute("PRAGMA busy_timeout=0")
    try:
        deadline = clock() + wait_ms / 1000
        while True:
            try:
                driver.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as error:
                if not is_busy(error) or clock() >= deadline:
                    raise
            sleep(LOCK_POLL_SECONDS)
    finally:
        driver.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")


def sqlite_path(url: str) -> str:
    return sa.make_url(url).database or ""


def _sqlite_engine(settings: Settings) -> sa.Engine:
    path = sqlite_path(settings.database_url)
    engine = sa.create_engine(
        f"sqlite:///{path}",
        pool_size=READER_THREADS + 2,
        max_overflow=0,
        connect_args={"check_same_thread": False, "timeout": settings.sqlite_busy_timeout_ms / 1000},
    )
    pragmas = (
        "PRAGMA journal_mode=WAL",
        f"PRAGMA synchronous={settings.sqlite_synchronous}",
        f"PRAGMA busy_timeout={settings.sqlite_busy_timeout_ms}",
        "PRAGMA foreign_keys=ON",
        "PRAGMA temp_store=MEMORY",
        "PRAGMA wal_autocheckpoint=0",  # checkpoints run on a thread of their own: store/db/checkpoint.py
        # Deleted and overwritten content is zeroed in the file, not left in free space: an
        # erasure (store/workspace/erase.py) leaves no old bytes behind. Writes that free no
        # space cost nothing more; freed pages are written once more as zeros.
        "PRAGMA secure_delete=ON",
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN away from the sqlite3 driver (it would defer it) and issue our own below.
        dbapi_connection.isolation_level = None
        # SQLite's lower() and LIKE fold ASCII only: filters fold text with Python's casefold.
        dbapi_connection.create_function("contactql_fold", 1, _fold_or_none, deterministic=True)
        cursor = dbapi_connection.cursor()
        for pragma in pragmas:
            cursor.execute(pragma)
        cursor.close()

    synchronous = {_DURABLE: f"PRAGMA synchronous={settings.sqlite_synchronous}", _REDOABLE: "PRAGMA synchronous=NORMAL"}

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        # Straight to the driver: this runs for every transaction and needs no result.
        driver: Any = conn.connection.driver_connection
        if write := conn.get_execution_options().get(_WRITE):
            # SQLite reads the setting at COMMIT but takes it only outside a transaction: every
            # write sets it, so one that did not ask never inherits NORMAL from one that did.
            driver.execute(synchronous[write])
            wait_ms = 0 if conn.get_execution_options().get(_NO_WAIT) else settings.sqlite_busy_timeout_ms
            begin_immediate(driver, wait_ms=wait_ms, busy_timeout_ms=settings.sqlite_busy_timeout_ms)
        else:
            driver.execute("BEGIN")

    return engine


def _fold_or_none(text: str | None) -> str | None:
    return None if text is None else fold(text)
