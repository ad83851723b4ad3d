"""`contactql import` of an NDJSON file (issue 23): contacts a second end to end and the
command's peak memory, against bare sqlite3 writing the same contacts.

    python benchmarks/ndjson_import.py [--lines 10000 1000000]

For each size: a fresh SQLite database (`contactql keys create`), a file of that many lines
(email, names, an email status and a list each; every line a new contact), then `contactql
import FILE` timed from start to exit, its peak RSS read from the kernel (ru_maxrss of the
child); the floor is bare sqlite3 inserting the same contacts and memberships into a fresh
database of the same schema, one transaction per 1 000, synchronous=FULL.

The command runs as an installed `contactql` does: the `contactql` script, with ContactQL's
bytecode compiled once beforehand (`contactql/**/__pycache__`, which git ignores). A wheel
install compiles it and a first run writes it; in a shell with PYTHONDONTWRITEBYTECODE set
(this project's development machine has it) every start would compile ContactQL's ~70 modules
anew, ~0.1 s of a 10 000-line import's ~2.5 s.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.loadgen import PYTHON, table  # noqa: E402


def objects(count: int) -> Iterator[dict[str, object]]:
    """Made as they are written: the benchmark's own memory must not grow with the file, since
    the import it starts begins as a copy of it (a fork), and that copy is the child's RSS too."""
    return ({"email": f"user{i}@example.com", "firstName": f"F{i}", "lastName": "Nordmann", "emailStatus": "SUBSCRIBED" if i % 2 else "NO_MARKETING",
             "lists": {"add": [{"name": "Synced"}]}} for i in range(count))  # fmt: skip


def installed() -> tuple[list[str], dict[str, str]]:
    """The `contactql` command and the environment it runs in once installed (see the module doc):
    ContactQL's bytecode written next to its modules (`__pycache__`, as a first run writes it)."""
    script = Path(PYTHON).with_name("contactql")
    command = [str(script)] if script.exists() else [PYTHON, "-m", "contactql.cli"]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    package = Path(__file__).resolve().parent.parent / "contactql"
    subprocess.run([PYTHON, "-m", "compileall", "-q", str(package)], env=env, check=True)
    return command, env


def fresh(path: Path) -> None:
    subprocess.run([PYTHON, "-m", "contactql.cli", "keys", "create", "--scope", "write", "--database", f"sqlite:///{path}"], capture_output=True, check=True)


def imported(path: Path, file: Path, command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(seconds, peak MiB) of `contactql import` of the file."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as errors:
        child = subprocess.Popen([*command, "import", str(file), "--database", f"sqlite:///{path}"], stdout=subprocess.DEVNULL, stderr=errors, env=env)
        _, status, usage = os.wait4(child.pid, 0)  # this child's own peak, not the largest of every child so far
        child.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        if child.returncode != 0:
            errors.seek(0)
            raise SystemExit(f"the import failed: {errors.read()[-2000:].decode(errors='replace')}")
    return seconds, usage.ru_maxrss / 1024


def floor(path: Path, count: int) -> float:
    """Seconds bare sqlite3 takes to insert the contacts and their memberships."""
    now = dt.datetime.now(dt.UTC).isoformat()
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        workspace = db.execute("SELECT id FROM workspace WHERE name = 'default'").fetchone()[0]
        db.execute("INSERT INTO contact_list (id, workspace_id, name, name_key, created_at) VALUES ('l1', ?, 'Synced', 'synced', ?)", (workspace, now))
        items = list(objects(count))  # made before the clock starts (and after the import ran)
        started = time.perf_counter()
        for at in range(0, count, 1000):
            part = items[at : at + 1000]
            db.execute("BEGIN IMMEDIATE")
            first = db.execute("SELECT coalesce(max(id), 0) + 1 FROM contact").fetchone()[0]
            db.executemany(
                "INSERT INTO contact (id, workspace_id, email, first_name, last_name, email_status, sms_status, confirmed, source, created_at, updated_at, search_text)"
                " VALUES (?, ?, ?, ?, ?, ?, 'NO_MARKETING', 1, 'CSV_IMPORT', ?, ?, ?)",
                [(first + n, workspace, o["email"], o["firstName"], o["lastName"], o["emailStatus"], now, now, f"{o['firstName']} {o['lastName']} {o['email']}") for n, o in enumerate(part)],
            )
            db.executemany("INSERT INTO list_membership (list_id, contact_id, created_at) VALUES ('l1', ?, ?)", [(first + n, now) for n in range(len(part))])
            db.execute("COMMIT")
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, nargs="+", default=[10_000, 1_000_000])
    args = parser.parse_args()
    rows = []
    for count in args.lines:
        with tempfile.TemporaryDirectory() as tmp:
            file = Path(tmp) / "contacts.ndjson"
            with file.open("w") as out:
                out.writelines(json.dumps(o) + "\n" for o in objects(count))
            db, bare = Path(tmp) / "import.db", Path(tmp) / "floor.db"
            fresh(db)
            fresh(bare)
            size = file.stat().st_size
            seconds, peak = imported(db, file, *installed())
            floor_seconds = floor(bare, count)
        rows.append([f"{count:,}", f"{count / seconds:,.0f}", f"{count / floor_seconds:,.0f}", f"{floor_seconds / seconds:.2f}", f"{peak:,.0f}", f"{size / 2**20:,.1f}"])
    print("\n`contactql import` of NDJSON files (SQLite, synchronous=FULL); the floor: bare sqlite3, the same contacts and memberships")
    print(table(rows, ["lines", "import contacts/s (from start to exit)", "bare sqlite3 contacts/s (floor)", "ratio", "peak RSS MiB", "file MiB"]))


if __name__ == "__main__":
    main()
