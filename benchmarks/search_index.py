"""What the contact search index costs a write, on SQLite (issue 23: where the engine's time goes).

    python benchmarks/search_index.py [--contacts 6000] [--rounds 3]

On ContactQL's migrated schema, inserts `--contacts` new contacts (email, mobile, names) with
bare sqlite3 at ContactQL's default `synchronous=FULL`, in transactions of 1 contact (a single
upsert) and of 500 (`CONTACTQL_BATCH_CHUNK_SIZE`, a batch's chunk), three ways, interleaved per
round, each into a fresh copy of the schema:

1. **indexed** — the row carries `search_text` as the engine writes it (store/workspace/search.py)
   and the FTS5 trigram index is kept by its trigger (migration 0007), a statement a row
   (`executemany`), as ContactQL wrote before store/db/bulk.py sent many rows a statement;
2. **search text NULL** — the same rows without `search_text`, what batch_upsert.py's bare
   sqlite3 floor (its figure 2) writes: the trigger runs, with nothing to index;
3. **floor** — the same rows as (1) with the index's trigger dropped: the contact row and its
   other indexes alone;
4. **indexed, many rows a statement** — (1) as one `INSERT … VALUES (…), (…)` a transaction,
   as ContactQL writes now: the trigger's fixed cost is paid a statement, not a row.

Prints contacts/s per way and size with the ratio to the floor of the same round.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402

from benchmarks.loadgen import PYTHON, table  # noqa: E402
from contactql.store.workspace.keys import ensure_workspace  # noqa: E402
from contactql.store.workspace.search import search_text  # noqa: E402

INSERT = (
    "INSERT INTO contact (id, workspace_id, email, mobile, first_name, last_name, email_status, sms_status, confirmed, "
    "source, created_by, created_at, updated_at, search_text) "
    "VALUES (?, 1, ?, ?, ?, ?, 'SUBSCRIBED', 'NO_MARKETING', 1, 'API', 'bench', ?, ?, ?)"
)
NOW = "2026-12-07 00:00:00.000000"
WAYS = (
    "1. indexed, a statement a row",
    "2. search text NULL (batch_upsert.py's floor)",
    "3. no search index (floor)",
    "4. indexed, many rows a statement (as ContactQL writes)",
)


def schema(folder: Path) -> Path:
    """A migrated, empty ContactQL database with its one workspace."""
    path = folder / "schema.db"
    subprocess.run([PYTHON, "-m", "contactql.cli", "db", "upgrade", "--database", f"sqlite:///{path}"], check=True, capture_output=True)
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        if ensure_workspace(conn, name="default").id != 1:
            raise SystemExit("the benchmark's rows name workspace 1")
    engine.dispose()
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return path


def rows(count: int, start: int) -> list[tuple[object, ...]]:
    out = []
    for i in range(start, start + count):
        row = {"email": f"bench.{i}@example.com", "mobile": f"+479{i:07d}", "first_name": f"First{i}", "last_name": f"Last{i}"}
        out.append((i + 1, row["email"], row["mobile"], row["first_name"], row["last_name"], NOW, NOW, search_text(row)))
    return out


def insert(template: Path, folder: Path, way: int, contacts: list[tuple[object, ...]], per: int) -> float:
    path = folder / f"way{way}-{per}-{time.monotonic_ns()}.db"
    shutil.copy(template, path)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA foreign_keys=ON")  # as ContactQL's connections
    if way == 2:
        contacts = [(*row[:-1], None) for row in contacts]
    if way == 3:
        db.execute("DROP TRIGGER contact_search_insert")
    started = time.perf_counter()
    for at in range(0, len(contacts), per):
        db.execute("BEGIN IMMEDIATE")
        part = contacts[at : at + per]
        if way == 4:
            head, row = INSERT.split(" VALUES ")
            db.execute(f"{head} VALUES {', '.join([row] * len(part))}", [value for values in part for value in values])
        else:
            db.executemany(INSERT, part)
        db.execute("COMMIT")
    rate = len(contacts) / (time.perf_counter() - started)
    db.close()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=6000, help="contacts a way writes in transactions of 500 (a quarter in transactions of 1)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    results: dict[tuple[int, int], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        template = schema(folder)
        for _ in range(args.rounds):
            for per, count in ((1, max(200, args.contacts // 4)), (500, args.contacts)):
                contacts = rows(count, 0)
                for way in (1, 2, 3, 4):
                    results.setdefault((per, way), []).append(insert(template, folder, way, contacts, per))
    table_rows = []
    for per in (1, 500):
        floor = statistics.mean(results[(per, 3)])
        for way in (1, 2, 3, 4):
            rates = results[(per, way)]
            mean = statistics.mean(rates)
            table_rows.append([str(per), WAYS[way - 1], f"{mean:,.0f}", ", ".join(f"{r:,.0f}" for r in rates), f"{mean / floor:.2f}"])
    print(f"\nnew contacts on SQLite {sqlite3.sqlite_version}, synchronous=FULL, {args.rounds} interleaved rounds")
    print(table(table_rows, ["contacts a transaction", "way", "contacts/s (mean)", "by round", "ratio to floor"]))


if __name__ == "__main__":
    main()
