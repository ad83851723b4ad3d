"""What `id_floor` (migration 0018) costs the write path: history entries inserted with the
trigger that keeps their ids above every deleted one, against the same inserts without it.

    python benchmarks/id_floor.py [--rows 200000] [--rounds 3]

Migrates a fresh SQLite database (`contactql db upgrade`), adds a workspace and a contact with
bare sqlite3, then inserts `--rows` history entries in transactions of 1 000 (a batch chunk's
worth) into one copy with the trigger and one copy without (the floor), alternating, `--rounds`
times. Prints each round and the cost per row; synchronous=OFF, so the disk is not measured.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.loadgen import PYTHON, table  # noqa: E402

CHUNK = 1_000
INSERT = "INSERT INTO contact_history (contact_id, workspace_id, source, changes, created_at) VALUES (1, 1, 'API', '[]', '2026-12-06')"


def prepared(directory: Path) -> Path:
    path = directory / "migrated.db"
    subprocess.run([PYTHON, "-m", "contactql.cli", "db", "upgrade", "--database", f"sqlite+aiosqlite:///{path}"], check=True, capture_output=True)
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO workspace (id, name, webhook_secret, created_at) VALUES (1, 'bench', 's', '2026-12-06')")
        db.execute(
            "INSERT INTO contact (id, workspace_id, email, email_status, sms_status, confirmed, source, created_at, updated_at)"
            " VALUES (1, 1, 'a@example.com', 'NO_MARKETING', 'NO_MARKETING', 0, 'API', '2026-12-06', '2026-12-06')"
        )
    return path


def seconds(path: Path, rows: int, *, trigger: bool) -> float:
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA synchronous=OFF")
        if not trigger:
            db.execute("DROP TRIGGER contact_history_above_floor")
        started = time.perf_counter()
        for _ in range(rows // CHUNK):
            db.execute("BEGIN")
            db.executemany(INSERT, [()] * CHUNK)
            db.execute("COMMIT")
        return time.perf_counter() - started
    finally:
        db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as directory:
        base = prepared(Path(directory))
        for round_ in range(1, args.rounds + 1):
            timed = {}
            for trigger in (False, True):
                copy = Path(directory) / f"r{round_}-{trigger}.db"
                shutil.copyfile(base, copy)
                timed[trigger] = seconds(copy, args.rows, trigger=trigger)
            extra = (timed[True] - timed[False]) / args.rows * 1e6
            results.append([str(round_), f"{args.rows / timed[False]:,.0f}", f"{args.rows / timed[True]:,.0f}", f"{timed[False] / timed[True]:.2f}", f"{extra:.2f}"])
    print(table(results, ["round", "rows/s without (floor)", "rows/s with trigger", "ratio", "µs a row more"]))


if __name__ == "__main__":
    main()
