"""NDJSON imports are streamed (issue 23): a file goes into one batch a part of 1 000 lines at a
time, RECEIVING until the whole file is in, and is applied whole or not at all."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from contactql.store.batches import parts
from contactql.store.batches import queue as batches
from contactql.store.errors import Invalid
from contactql.store.model import Source, UpsertOptions
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
    gone = await status(api, opened.id)
    assert (gone["status"], gone["total"], gone["processed"]) == ("FAILED", 3, 0)
    assert "stopped after 3 items were received" in query(database_url, f"SELECT error FROM batch WHERE id = '{opened.id}'")[0][0]
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

