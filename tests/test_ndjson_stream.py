"""NDJSON imports are streamed (issue 23): a file goes into one batch a part of 1 000 lines at a
time, RECEIVING until the whole file is in, and is applied whole or not at all."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from contactql.config import normalise_url
from contactql.schema.root import build_schema
from contactql.store.batches import parts
from contactql.store.batches import queue as batches
from contactql.store.errors import Invalid
from contactql.store.model import Source, UpsertOptions
from contactql.workers import importer
from contactql.workers.ndjson import Reader
from tests.helpers import Api, query
from tests.test_batches import status, wait_finished
from tests.test_ndjson import lines, upload


def people(count: int) -> list[Any]:
    return [{"email": f"p{i}@example.com", "firstName": f"P{i}"} for i in range(count)]


async def test_a_large_file_is_stored_in_parts_and_every_line_counted(api: Api, database_url: str) -> None:
    objects = people(2345)
    objects[1499] = {"email": "broken", "firstName": "Broken"}  # in the second part; line 1502 (two blank lines come before)
    objects[2100] = {"email": "P7@EXAMPLE.COM", "lastName": "Seven"}  # contact 7 again, in other case
    data = b"\xef\xbb\xbf" + lines(*objects[:1000]) + b"\n\n   \n" + lines(*objects[1000:]) + b"\n"
    accepted = await upload(api, data)
    assert accepted["userErrors"] == [] and accepted["batch"]["total"] == 2345 and accepted["importReport"]["rows"] == 2345
    assert query(database_url, "SELECT first, stop FROM batch_part ORDER BY first") == [(0, 1000), (1000, 2000), (2000, 2345)]
    done = await wait_finished(api, accepted["batch"]["id"], within=60)
    assert (done["status"], done["created"], done["updated"], done["failed"]) == ("COMPLETED", 2343, 1, 1)
    failed = (await status(api, done["id"], failedOnly=True))["results"]["edges"]
    assert [(e["node"]["index"], e["node"]["clientRef"]) for e in failed] == [(1499, "line 1502")]
    assert query(database_url, "SELECT last_name FROM contact WHERE email = 'p7@example.com'") == [("Seven",)]
    assert query(database_url, "SELECT count(*) FROM contact") == [(2343,)]


async def test_a_file_refused_midway_leaves_no_batch(api: Api, database_url: str) -> None:
    head = lines(*people(2200)) + b"\n"
    refused = await upload(api, head + '{"email": "l@example.com", "firstName": "Lærke"}\n'.encode("latin-1") + lines(*people(10)))
    at = len(head) + len(b'{"email": "l@example.com", "firstName": "L')
    assert refused["batch"] is None and refused["userErrors"][0]["field"] == ["file"]
    assert f"byte {at} cannot be read; save it as UTF-8" in refused["userErrors"][0]["message"], refused
    nul = await upload(api, lines(*people(1500)) + b'\n{"email": "n@example.com"}\x00\n')
    assert "NUL byte" in nul["userErrors"][0]["message"]
    assert query(database_url, "SELECT count(*) FROM batch") == [(0,)] and query(database_url, "SELECT count(*) FROM batch_part") == [(0,)]
    assert query(database_url, "SELECT count(*) FROM contact") == [(0,)], "nothing of a refused file is applied"


async def test_a_line_longer_than_a_mebibyte_fails_alone(api: Api) -> None:
    huge = json.dumps({"email": "huge@example.com", "firstName": "x" * (1024 * 1024)})
    accepted = await upload(api, lines({"email": "before@example.com"}, huge, {"email": "after@example.com"}))
    done = await wait_finished(api, accepted["batch"]["id"])
    assert (done["created"], done["failed"]) == (2, 1)
    [failed] = (await status(api, done["id"], failedOnly=True))["results"]["edges"]
    assert failed["node"]["clientRef"] == "line 2" and "longer than 1 MiB" in failed["node"]["errors"][0]["message"]


async def test_a_reader_that_stops_leaves_a_failed_batch_once_its_lease_runs_out(app: Any, api: Api, database_url: str) -> None:
    db = app.state.services.db
    [(workspace_id,)] = query(database_url, "SELECT id FROM workspace WHERE name = 'default'")
    options = UpsertOptions(source=Source.CSV_IMPORT, actor="test")
    entries = batches.validate_entries([{"email": f"r{i}@example.com"} for i in range(3)])
    opened = await db.write(batches.accept_import, workspace_id=workspace_id, entries=entries, options=options, list_name=None, webhook_url=None, reader=("reader-1", 30))
    assert (await status(api, opened.id))["status"] == "RECEIVING"
    now = dt.datetime.now(dt.UTC)
    assert await db.write(batches.claim_next_batch, owner="worker-x", lease_seconds=30, now=now) is None, "a batch is not applied while received"
    assert await db.write(batches.claim_next_batch, owner="worker-x", lease_seconds=30, now=now + dt.timedelta(seconds=31)) is None
    gone = (await api.gql("query($id: ID!) { batch(id: $id) { status total processed error } }", {"id": opened.id}))["batch"]
    assert (gone["status"], gone["total"], gone["processed"]) == ("FAILED", 3, 0)
    assert "stopped after 3 items were received" in gone["error"], "the reason is the batch's, for everyone to read"
    assert not await db.write(parts.renew, batch_id=opened.id, owner="reader-1", lease_seconds=30), "a lost lease is not renewed"
    with pytest.raises(Invalid, match="took too long"):
        await db.write(parts.append, batch_id=opened.id, owner="reader-1", entries=entries, lease_seconds=30)
    assert query(database_url, "SELECT count(*) FROM contact") == [(0,)]


def test_the_command_streams_a_file_larger_than_the_upload_cap(tmp_path: Path, database_url: str) -> None:
    path = tmp_path / "big.ndjson"
    objects = [{"email": f"c{i}@example.com", "firstName": "F" * 200, "lastName": "L" * 200} for i in range(3000)]  # ~1.3 MiB
    path.write_bytes(lines(*objects))
    env = {"CONTACTQL_MAX_IMPORT_MB": "1"}  # the setting under test: it caps what is read whole, not a stream
    result = subprocess.run(
        [sys.executable, "-m", "contactql.cli", "import", str(path), "--database", database_url],
        capture_output=True, text=True, timeout=300, check=False, env={**os.environ, **env},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = dict(line.split(None, 1) for line in result.stdout.splitlines() if line and not line.startswith(" "))
    assert (summary["rows"], summary["created"], summary["failed"]) == ("3000", "3000", "0")
    assert query(database_url, "SELECT count(*) FROM contact") == [(3000,)]
    csv = tmp_path / "big.csv"
    csv.write_text("email,firstName,lastName\n" + "".join(f"c{i}@example.com,{'F' * 200},{'L' * 200}\n" for i in range(3000)))
    capped = subprocess.run(
        [sys.executable, "-m", "contactql.cli", "import", str(csv), "--database", database_url],
        capture_output=True, text=True, timeout=120, check=False, env={**os.environ, **env},
    )  # fmt: skip
    assert capped.returncode == 2 and "larger than CONTACTQL_MAX_IMPORT_MB (1 MiB)" in capped.stderr, capped.stderr



def test_a_part_ends_at_a_thousand_lines_or_sixteen_mebibytes() -> None:
    fat = json.dumps({"email": "f@example.com", "firstName": "x" * 200})
    reader = Reader(build_schema()._schema.get_type("ContactInput"))  # type: ignore[arg-type]
    pieces = list(reader.parts(io.BytesIO(("\n".join([fat] * 2500)).encode()), most_bytes=(len(fat) + 1) * 700))  # a line and its end
    assert [len(p) for p in pieces] == [700, 700, 700, 400], "the byte bound (given small here) ends a part before its thousand lines"
    assert [len(p) for p in reader.parts(io.BytesIO(lines(*people(2500))))] == [1000, 1000, 500]


async def test_a_refused_file_leaves_no_list_and_names_no_more_than_250_properties(api: Api, database_url: str) -> None:
    refused = await upload(api, lines(*people(1500)) + b'\n{"email": "n@example.com"}\x00\n', listName="Never made")
    assert refused["batch"] is None and query(database_url, "SELECT count(*) FROM contact_list") == [(0,)], "the list is made once the file is in"
    many = [{"email": f"m{i}@example.com", "properties": [{"name": f"prop {i}", "value": "x"}]} for i in range(300)]
    accepted = await upload(api, lines(*many, {"email": "bad", "properties": [{"name": "from a bad line", "value": "x"}]}), listName="Made")
    assert len(accepted["importReport"]["propertyColumns"]) == 250 and "from a bad line" not in accepted["importReport"]["propertyColumns"]
    assert query(database_url, "SELECT name FROM contact_list") == [("Made",)]
    done = await wait_finished(api, accepted["batch"]["id"])
    assert (done["created"], done["failed"]) == (300, 1)
    assert query(database_url, "SELECT count(*) FROM list_membership") == [(300,)]


async def test_line_ends_and_a_clientref_with_nul(api: Api) -> None:
    exact = '{"email": "exact@example.com", "firstName": "' + "e" * 200 + '"}'
    exact = exact.replace('"}', " " * (1024 * 1024 - len(exact)) + '"}')  # a line of exactly 1 MiB
    assert len(exact.encode()) == 1024 * 1024
    accepted = await upload(api, exact.encode() + b"\r\n" + lines({"email": "r@example.com", "clientRef": "r\u0000f"}) + b"\r\n")
    done = await wait_finished(api, accepted["batch"]["id"])
    [failed] = (await status(api, done["id"], failedOnly=True))["results"]["edges"]
    assert done["total"] == 2 and failed["node"]["clientRef"] == "line 2", "a ref with NUL is not echoed; a 1 MiB line ending CRLF is read"
    assert failed["node"]["errors"][0]["message"].startswith("text may not contain the NUL"), failed


def test_the_command_reads_a_pipe_and_stops_in_one_line(tmp_path: Path, database_url: str) -> None:
    path = tmp_path / "piped.ndjson"
    path.write_bytes(lines(*people(50)))
    with path.open("rb") as piped:
        result = subprocess.run(
            [sys.executable, "-m", "contactql.cli", "import", "/dev/stdin", "--database", database_url],
            stdin=piped, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    assert result.returncode == 0 and "newline (NDJSON)" in result.stdout, result.stderr
    big = tmp_path / "big.ndjson"
    big.write_bytes(lines(*people(400_000)))
    returncode, stderr = _interrupted(["import", str(big), "--database", database_url, "--list", "Stopped"], database_url, READING)
    assert returncode == 130 and "Traceback" not in stderr and stderr.strip().endswith("takes it."), stderr[-2000:]
    assert query(database_url, "SELECT count(*) FROM batch WHERE status = 'RECEIVING'") == [(0,)], "the file being read is discarded"
    assert query(database_url, "SELECT count(*) FROM contact_list WHERE name = 'Stopped'") == [(0,)]


def test_the_command_stopped_while_applying_gives_the_batch_back(tmp_path: Path, database_url: str) -> None:
    big = tmp_path / "apply.ndjson"
    big.write_bytes(lines(*people(60_000)))
    returncode, stderr = _interrupted(["import", str(big), "--database", database_url], database_url, APPLYING)
    assert returncode == 130 and "Traceback" not in stderr and "failed unexpectedly" not in stderr, stderr[-2000:]
    [(state, processed, failed, lease)] = query(database_url, "SELECT status, processed, failed, lease_expires_at FROM batch")
    assert (state, failed, lease) == ("PROCESSING", 0, None) and 0 < processed < 60_000, "stopped between chunks, its lease given back"


READING = "SELECT count(*) FROM batch WHERE status = 'RECEIVING'"  # a part of the file stored
APPLYING = "SELECT count(*) FROM batch WHERE status = 'PROCESSING' AND processed > 0"  # a chunk applied


def _interrupted(args: list[str], database_url: str, when: str) -> tuple[int, str]:
    """`contactql ARGS` stopped by SIGINT (Ctrl-C) once `when` counts one batch: its exit status and stderr."""
    child = subprocess.Popen([sys.executable, "-m", "contactql.cli", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while query(database_url, when) != [(1,)]:
            assert time.monotonic() < deadline and child.poll() is None, f"never came to: {when}"
            time.sleep(0.05)
        child.send_signal(signal.SIGINT)
        _, stderr = child.communicate(timeout=60)
    finally:
        child.kill()
    return child.returncode, stderr


async def test_a_reader_stopped_while_its_batch_is_made_leaves_no_batch(app: Any, api: Api, database_url: str) -> None:
    """Ctrl-C (a cancelled import) can come while accept_import's write is under way: the write
    goes on and makes the batch, but the reader never learns its id. The batch goes all the same
    (it is abandoned by its reader). The write is held at BEGIN by another connection's write
    lock, so the cancel comes while it runs, not before it starts."""
    db = app.state.services.db
    [(workspace_id,)] = query(database_url, "SELECT id FROM workspace WHERE name = 'default'")
    read = asyncio.Event()
    loop = asyncio.get_running_loop()
    contact_type = build_schema()._schema.get_type("ContactInput")
    async with _write_lock_held(database_url) as release:
        reading = asyncio.create_task(
            importer.receive_ndjson(
                db, io.BytesIO(lines(*people(10))), contact_type, workspace_id=workspace_id, options=UpsertOptions(source=Source.CSV_IMPORT, actor="test"),
                list_name=None, webhook_url=None, default_country=None, lease_seconds=60, on_row=lambda: loop.call_soon_threadsafe(read.set),
            )
        )  # fmt: skip
        await read.wait()
        await asyncio.sleep(0.5)  # the first part read, its write waiting for the lock
        reading.cancel()
        await release()
        with pytest.raises(asyncio.CancelledError):
            await reading
    await db.write(lambda conn: None)  # SQLite: after every write queued before it (the batch's, and its abandon)
    assert query(database_url, "SELECT status, total FROM batch") == []


@contextlib.asynccontextmanager
async def _write_lock_held(database_url: str) -> AsyncIterator[Callable[[], Awaitable[None]]]:
    """Another connection holds the write lock (SQLite) or a lock on `batch` that keeps inserts
    out (PostgreSQL) until the yielded function is awaited."""
    engine = create_async_engine(normalise_url(database_url))
    try:
        async with engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                await conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                await conn.exec_driver_sql("BEGIN")
                await conn.exec_driver_sql("LOCK TABLE batch IN EXCLUSIVE MODE")

            async def release() -> None:
                await conn.exec_driver_sql("ROLLBACK")

            yield release
    finally:
        await engine.dispose()
