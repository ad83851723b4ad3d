"""SQLite WAL checkpoints run on their own thread (store/db/checkpoint.py): committed writes reach
the database file while the server runs, and the WAL starts over under steady writes instead of
growing without end. On a SQLite file in both test runs: PostgreSQL has no WAL file of ours."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from contactql.store.db import checkpoint
from contactql.store.db.database import sqlite_path
from tests.helpers import Api


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """A SQLite file whatever engine the rest of the run uses."""
    return f"sqlite+aiosqlite:///{tmp_path / 'contactql.db'}"


def _in_database_file(path: str) -> int:
    """Contacts in the database file alone, the WAL ignored (`immutable=1` reads the file as is)."""
    connection = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        return int(connection.execute("SELECT count(*) FROM contact").fetchone()[0])
    finally:
        connection.close()


async def test_committed_writes_reach_the_database_file_while_the_server_runs(app: Any, api: Api, database_url: str) -> None:
    path = sqlite_path(database_url)
    for i in range(20):
        await api.upsert({"email": f"ck{i}@example.com"})
    for _ in range(100):  # bounded: 10 s
        if _in_database_file(path) == 20:
            break
        await asyncio.sleep(0.1)
    assert _in_database_file(path) == 20
    assert (await api.gql("{ contacts { totalCount } }"))["contacts"]["totalCount"] == 20


@pytest.mark.system
async def test_the_wal_starts_over_under_steady_writes(monkeypatch: pytest.MonkeyPatch, app: Any, api: Api, database_url: str) -> None:
    monkeypatch.setattr(checkpoint, "RESTART_FRAMES", 40)
    wal = Path(sqlite_path(database_url) + "-wal")
    for i in range(300):
        await api.upsert({"email": f"wal{i}@example.com", "firstName": "W" * 200, "lastName": f"{i}"})
    with sqlite3.connect(sqlite_path(database_url)) as connection:
        frames = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()[0][1]
    # 300 write transactions of several pages each: thousands of frames were written in all.
    # Started over every ~40 frames, the WAL file never held more than a few hundred of them.
    size = await asyncio.to_thread(os.path.getsize, wal)
    assert size < 600 * 4096, (size, frames)
    assert (await api.gql("{ contacts { totalCount } }"))["contacts"]["totalCount"] == 300
