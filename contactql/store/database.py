"""The database handle: one async engine, read transactions and serialised write transactions.

SQLite (the default) runs in WAL mode with `synchronous=FULL` unless configured otherwise, so a
committed — acknowledged — write survives a crash or power loss. Writes take `BEGIN IMMEDIATE`:
a deferred transaction that reads and then writes fails with SQLITE_BUSY at once when another
connection wrote in between, whatever the busy timeout. Inside one process writers also queue
on an asyncio lock, so they wait for each other instead of spinning on the busy timeout; across
processes the busy timeout makes them wait.

PostgreSQL runs the same statements (READ COMMITTED); uniqueness is kept by its indexes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from contactql.config import Settings
from contactql.store.tables import metadata

_WRITE = "contactql_write"


class Database:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.dialect = settings.dialect
        self.engine: AsyncEngine = _create_engine(settings)
        # SQLite has one writer at a time; PostgreSQL lets writers run side by side.
        self._write_lock: asyncio.Lock | None = asyncio.Lock() if self.dialect == "sqlite" else None

    async def create_schema(self) -> None:
        """Create missing tables and indexes (an existing database is left as it is)."""
        async with self.engine.begin() as conn:
            await conn.run_sync(metadata.create_all)

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only transaction: one consistent snapshot for the whole block."""
        async with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction; committed when the block ends, rolled back on an exception."""
        async with self._locked(), self.engine.connect() as conn:
            await conn.execution_options(**{_WRITE: True})
            async with conn.begin():
                yield conn

    @contextlib.asynccontextmanager
    async def _locked(self) -> AsyncIterator[None]:
        if self._write_lock is None:
            yield
        else:
            async with self._write_lock:
                yield

    async def dispose(self) -> None:
        await self.engine.dispose()


def _create_engine(settings: Settings) -> AsyncEngine:
    if settings.dialect != "sqlite":
        return create_async_engine(settings.database_url, pool_size=10, max_overflow=10, pool_pre_ping=True)

    engine = create_async_engine(settings.database_url, pool_size=8, max_overflow=8)
    pragmas = (
        "PRAGMA journal_mode=WAL",
        f"PRAGMA synchronous={settings.sqlite_synchronous}",
        f"PRAGMA busy_timeout={settings.sqlite_busy_timeout_ms}",
        "PRAGMA foreign_keys=ON",
        "PRAGMA temp_store=MEMORY",
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN away from the sqlite3 driver (it would defer it) and issue our own below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in pragmas:
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE) else "BEGIN")

    return engine
