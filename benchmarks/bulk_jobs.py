"""A bulk job beside single upserts (issue 22): how fast deleteContacts goes, and that single
upserts are never held up long while it runs.

    python benchmarks/bulk_jobs.py [--contacts 50000]

Makes a SQLite database (`contactql keys create`), fills it with `--contacts` live contacts
(bare sqlite3), starts `contactql serve` (defaults: synchronous=FULL) and asks it to
`deleteContacts(filter: {})`. From this process, single upsertContact requests at concurrency 1
go on while the job runs, and again once it is done (the floor: the same server, nothing else
running). Then the job's own speed against a floor measured here: bare sqlite3 doing what a
slice does (mark 500 contacts deleted, write their history entries, commit with
synchronous=FULL) to a copy of the same contacts. Bounded: at most 20 000 requests during the job.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.loadgen import PYTHON, Run, free_port, latency_table, process, serve_command, table, upserts_beside  # noqa: E402

DELETE = "mutation { deleteContacts(filter: {}) { job { id total } userErrors { message } } }"
STATUS = "query S($id: ID!) { bulkJob(id: $id) { status } }"
STEP = 10  # requests between two looks at the job
SLICE = 500


def fill(path: Path, contacts: int) -> None:
    now = dt.datetime.now(dt.UTC).isoformat()
    with contextlib.closing(sqlite3.connect(path)) as db, db:  # closed here: a connection left open in this process would keep a stale view of the WAL the server rewrites
        workspace = db.execute("SELECT id FROM workspace WHERE name = 'default'").fetchone()[0]
        start = db.execute("SELECT coalesce(max(id), 0) + 1 FROM contact").fetchone()[0]
        db.executemany(
            "INSERT INTO contact (id, workspace_id, email, first_name, email_status, sms_status, confirmed, source, created_at, updated_at, search_text)"
            " VALUES (?, ?, ?, 'Bulk', 'NO_MARKETING', 'NO_MARKETING', 1, 'API', ?, ?, ?)",
            [(i, workspace, f"bulk{i}@example.com", now, now, f"bulk bulk{i}@example.com") for i in range(start, start + contacts)],
        )


def job_state(path: Path) -> tuple[str, int, str | None, str | None]:
    with contextlib.closing(sqlite3.connect(path)) as db:  # once the server has stopped
        row = db.execute("SELECT status, changed, created_at, finished_at FROM bulk_job").fetchone()
        return row if row else ("NONE", 0, None, None)


def floor(path: Path) -> float:
    """Contacts a second that bare sqlite3 marks deleted, with a history entry each, 500 a commit."""
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        workspace = db.execute("SELECT id FROM workspace WHERE name = 'default'").fetchone()[0]
        ids = [r[0] for r in db.execute("SELECT id FROM contact WHERE deleted_at IS NULL ORDER BY id")]
        started = time.perf_counter()
        for at in range(0, len(ids), SLICE):
            part = ids[at : at + SLICE]
            now = dt.datetime.now(dt.UTC).isoformat()
            marks = ",".join("?" * len(part))
            db.execute("BEGIN IMMEDIATE")
            db.execute(f"UPDATE contact SET deleted_at = ?, updated_at = ? WHERE id IN ({marks})", [now, now, *part])  # noqa: S608 - placeholders only
            changes = json.dumps([{"field": "deletedAt", "old": None, "new": now}])
            db.executemany("INSERT INTO contact_history (contact_id, workspace_id, source, actor, changes, created_at) VALUES (?, ?, 'BULK', 'bench', ?, ?)",
                           [(cid, workspace, changes, now) for cid in part])  # fmt: skip
            db.execute("COMMIT")
        return len(ids) / (time.perf_counter() - started)


async def phases(port: int, key: str) -> tuple[Run, Run]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {key}"}) as http:
        answer = (await http.post("/graphql", json={"query": DELETE})).json()
        assert answer["data"]["deleteContacts"]["userErrors"] == [], answer
        job_id = answer["data"]["deleteContacts"]["job"]["id"]

        async def running() -> bool:  # asked of the server: the file is its own while it runs
            job = (await http.post("/graphql", json={"query": STATUS, "variables": {"id": job_id}})).json()["data"]["bulkJob"]
            return bool(job["status"] != "COMPLETED")

        return await upserts_beside(port, key, running, "the job", step=STEP)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=50_000, help="live contacts the job deletes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bulk.db"
        made = subprocess.run([PYTHON, "-m", "contactql.cli", "keys", "create", "--scope", "write", "--database", f"sqlite:///{path}"], capture_output=True, text=True, check=True)
        key = made.stdout.strip().splitlines()[-1]
        fill(path, args.contacts)
        copy = Path(tmp) / "floor.db"
        shutil.copy(path, copy)
        port = free_port()
        with process(serve_command(port, f"sqlite:///{path}"), port=port, env={"CONTACTQL_RATE_LIMIT": "10000000"}):
            during, after = asyncio.run(phases(port, key))
        _, changed, created, finished = job_state(path)
        job_rate = changed / (dt.datetime.fromisoformat(str(finished)) - dt.datetime.fromisoformat(str(created))).total_seconds()
        bare = floor(copy)
    print(f"\nsingle upsertContact at concurrency 1 while deleteContacts deletes {args.contacts:,} contacts (SQLite, synchronous=FULL)")
    print(latency_table(during, after))
    print(f"\nlongest wait beyond the floor's longest: {max(during.latencies_ms) - max(after.latencies_ms):.1f} ms")
    print("\nthe job's speed (asked for to COMPLETED, single upserts going on beside it)")
    print(table([["bulk job", f"{job_rate:,.0f}", f"{job_rate / bare:.2f}"], ["bare sqlite3, same statements (floor)", f"{bare:,.0f}", "1.00"]], ["what", "contacts/s", "ratio"]))


if __name__ == "__main__":
    main()
