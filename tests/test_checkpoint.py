"""SQLite WAL checkpoints run on their own thread (store/db/checkpoint.py): committed writes reach
the database file while the server runs, and the WAL starts over under steady writes instead of
growing without end. On a SQLite file in both test runs: PostgreSQL has no WAL file of ours."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
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


def _in_database_file(path: str, table: str = "contact") -> int:
    """Rows in the database file alone, the WAL ignored (`immutable=1` reads the file as is); 0
    while the table is not in the file yet or a checkpoint is copying pages (a torn read)."""
    connection = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        return int(connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    except sqlite3.DatabaseError:
        return 0
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


def _wal_generation(wal: Path) -> int:
    """The WAL header's checkpoint sequence number: SQLite adds one each time the WAL starts over
    (-1 before there is a WAL)."""
    try:
        with wal.open("rb") as file:
            return int.from_bytes(file.read(16)[12:16], "big")
    except FileNotFoundError:
        return -1


@pytest.mark.system
async def test_the_wal_starts_over_under_steady_writes(monkeypatch: pytest.MonkeyPatch, app: Any, api: Api, database_url: str) -> None:
    """Round after round of writes, each far past `RESTART_FRAMES`: the WAL starts over after
    every round, so its file stays near the size of the largest round instead of growing by one
    round's frames each time. The rounds wait for the restart (polling, bounded) rather than
    keep a pace: how many writes fit between two checkpoints depends on the machine."""
    monkeypatch.setattr(checkpoint, "RESTART_FRAMES", 40)
    wal = Path(sqlite_path(database_url) + "-wal")
    written = 0

    async def write() -> None:
        nonlocal written
        await api.upsert({"email": f"wal{written}@example.com", "firstName": "W" * 200, "lastName": f"{written}"})
        written += 1

    sizes = []
    first_round = 0
    for _ in range(16):  # the more rounds, the further apart keeping and starting over
        generation = _wal_generation(wal)
        for _ in range(20):  # hundreds of frames: a write changes a dozen pages or more
            await write()
        for _ in range(200):  # bounded: 10 s; the restart comes with a write after the last copy
            if _wal_generation(wal) != generation:
                break
            await asyncio.sleep(0.05)
            await write()
        assert _wal_generation(wal) != generation, "the WAL did not start over"
        sizes.append(await asyncio.to_thread(os.path.getsize, wal))
        first_round = first_round or written
    # Had the WAL kept its frames, the file would hold every write's: at the first round's bytes
    # a write (an overestimate: the WAL held the schema's pages too), `written` writes. Starting
    # over, it holds the largest round's, a fraction of that. (How large each round is depends on
    # when the copy ran, so the sizes themselves may creep up from round to round.)
    without_restarts = sizes[0] / first_round * written
    assert sizes[-1] < without_restarts / 2, (sizes, first_round, written)
    assert (await api.gql("{ contacts { totalCount } }"))["contacts"]["totalCount"] == written


def test_past_restart_frames_the_last_copy_runs_between_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The part a busy writer needs: a PASSIVE copy beside it never catches up, so past
    `RESTART_FRAMES` the checkpointer asks for its last copy between two writes (on a server:
    on the writer's thread, holding the write lock). Below the mark it does not."""
    monkeypatch.setattr(checkpoint, "RESTART_FRAMES", 40)
    path = str(tmp_path / "wal.db")
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("CREATE TABLE t (x TEXT)")
    asked: list[int] = []

    def between_writes(fn: Any) -> object:
        copied = fn()
        asked.append(1)  # after the copy: the test's next write may follow at once
        return copied

    def write(pages: int) -> None:
        for _ in range(pages):  # a transaction a page: a frame or two each
            writer.execute("INSERT INTO t VALUES (?)", ("x" * 4000,))

    checkpointer = checkpoint.Checkpointer(path, 5000, between_writes)
    try:
        write(5)
        checkpointer.written()
        for _ in range(100):  # bounded: 10 s, until the copy reached the database file
            if _in_database_file(path, "t") == 5:
                break
            time.sleep(0.1)
        assert _in_database_file(path, "t") == 5 and asked == []
        write(100)
        checkpointer.written()
        for _ in range(100):
            if asked:
                break
            time.sleep(0.1)
        assert asked
        generation = _wal_generation(Path(path + "-wal"))
        write(1)
        assert _wal_generation(Path(path + "-wal")) == generation + 1  # the next write started it over
    finally:
        checkpointer.close()
        writer.close()

