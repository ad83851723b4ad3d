"""Single upserts while retention erases deleted contacts (issue 22): never blocked long.

    python benchmarks/retention.py [--deleted 50000]

Makes a SQLite database (`contactql keys create`), fills it with `--deleted` contacts deleted
30 days ago, each with two history entries and an event, and starts `contactql serve` with
CONTACTQL_RETENTION_DAYS=1: housekeeping sweeps at start, erasing them in slices. From this
process, single upsertContact requests at concurrency 1 go on meanwhile, and again once the
erasing is done (the floor: the same server, nothing else running). Prints each phase's
latencies and the ratio to the floor; the issue asks that no upsert waits more than 50 ms
longer than it would. Bounded: at most 20 000 requests during the erase.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.loadgen import PYTHON, Run, free_port, latency_table, process, serve_command, upserts_beside  # noqa: E402

STEP = 50  # requests between two looks at how many deleted contacts are left


def fill(path: Path, deleted: int) -> None:
    """`deleted` contacts deleted 30 days ago, with history and events, written with bare sqlite3."""
    gone = (dt.datetime.now(dt.UTC) - dt.timedelta(days=30)).isoformat()
    with contextlib.closing(sqlite3.connect(path)) as db, db:  # closed here: a connection left open in this process would keep a stale view of the WAL the server rewrites
        workspace = db.execute("SELECT id FROM workspace WHERE name = 'default'").fetchone()[0]
        start = db.execute("SELECT coalesce(max(id), 0) + 1 FROM contact").fetchone()[0]
        ids = range(start, start + deleted)
        db.executemany(
            "INSERT INTO contact (id, workspace_id, email, first_name, email_status, sms_status, confirmed, source, created_at, updated_at, deleted_at, search_text)"
            " VALUES (?, ?, ?, 'Gone', 'NO_MARKETING', 'NO_MARKETING', 1, 'API', ?, ?, ?, ?)",
            [(i, workspace, f"gone{i}@example.com", gone, gone, gone, f"gone gone{i}@example.com") for i in ids],
        )
        changes = json.dumps([{"field": "email", "old": None, "new": "gone@example.com"}])
        db.executemany(
            "INSERT INTO contact_history (contact_id, workspace_id, source, changes, created_at) VALUES (?, ?, 'API', ?, ?)",
            [(i, workspace, changes, gone) for i in ids for _ in range(2)],
        )
        db.executemany(
            "INSERT INTO event (id, workspace_id, type, key, contact_id, params, created_at) VALUES (?, ?, 'contactCreated', ?, ?, '{}', ?)",
            [(f"e{i}", workspace, f"gone{i}@example.com", i, gone) for i in ids],
        )


def left(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)) as db:
        return int(db.execute("SELECT count(*) FROM contact WHERE deleted_at IS NOT NULL").fetchone()[0])


async def phases(port: int, key: str, path: Path) -> tuple[Run, Run]:
    async def erasing() -> bool:
        return left(path) > 0

    return await upserts_beside(port, key, erasing, "the erase", step=STEP)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deleted", type=int, default=50_000, help="deleted contacts to erase")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "retention.db"
        made = subprocess.run([PYTHON, "-m", "contactql.cli", "keys", "create", "--scope", "write", "--database", f"sqlite:///{path}"], capture_output=True, text=True, check=True)
        key = made.stdout.strip().splitlines()[-1]
        fill(path, args.deleted)
        port = free_port()
        with process(serve_command(port, f"sqlite:///{path}"), port=port, env={"CONTACTQL_RETENTION_DAYS": "1", "CONTACTQL_RATE_LIMIT": "10000000"}):
            during, after = asyncio.run(phases(port, key, path))
    print(f"\nsingle upsertContact at concurrency 1 while {args.deleted:,} deleted contacts are erased (SQLite, synchronous=FULL)")
    print(latency_table(during, after))
    print(f"\nlongest wait beyond the floor's longest: {max(during.latencies_ms) - max(after.latencies_ms):.1f} ms (target ≤ 50 ms)")


if __name__ == "__main__":
    main()
