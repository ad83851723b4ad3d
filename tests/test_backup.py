"""`contactql db backup` and `db restore` (issue 22): a consistent copy of a live SQLite
database, and a restore that never replaces a database in use and never loses the one it
replaces."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import httpx
import pytest

from contactql.store.db.backup import backup
from tests.helpers import serve, submit_batch
from tests.test_cli import run_cli

BATCHES, BATCH = 10, 1_000  # CONTACTQL_MAX_BATCH_SIZE's default


def count(path: Path, sql: str) -> int:
    with sqlite3.connect(path) as connection:
        return int(connection.execute(sql).fetchone()[0])


@pytest.mark.system
def test_backups_taken_while_batches_write_are_each_one_consistent_moment(tmp_path: Path) -> None:
    """A batch commits its contacts and its progress together: in every copy, the contacts are
    exactly what the copy's batches say they have processed — never a chunk without its progress."""
    database = tmp_path / "live.db"
    seen: list[int] = []
    with serve(f"sqlite:///{database}") as (base, key, _):
        assert key is not None
        for b in range(BATCHES):
            submit_batch(base, key, BATCH, name=f"b{b}-")
        for i in range(600):  # bounded: the batches take seconds, a copy well under one
            copy = tmp_path / f"copy-{i}.db"
            backup(database, copy)
            with sqlite3.connect(copy) as connection:
                assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
                assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # one self-contained file
                processed = connection.execute("SELECT coalesce(sum(processed), 0) FROM batch").fetchone()[0]
                contacts = connection.execute("SELECT count(*) FROM contact").fetchone()[0]
            assert contacts == processed, copy
            seen.append(processed)
            copy.unlink()
            if processed == BATCHES * BATCH:
                break
    assert any(0 < p < BATCHES * BATCH for p in seen), seen  # some copies were taken mid-way
    assert seen[-1] == BATCHES * BATCH and seen == sorted(seen)


@pytest.mark.system
def test_restore_refuses_a_database_in_use_and_keeps_the_one_it_replaces(tmp_path: Path) -> None:
    database = tmp_path / "contactql.db"
    url = f"sqlite:///{database}"
    with serve(url) as (base, key, _):
        assert key is not None
        upsert = 'mutation { upsertContact(input: {contact: {email: "kept@example.com"}}) { outcome } }'
        httpx.post(f"{base}/graphql", json={"query": upsert}, headers={"Authorization": f"Bearer {key}"}, timeout=30)
        made = run_cli("db", "backup", str(tmp_path / "monday.db"), "--database", url)
        assert made.returncode == 0 and "1 contacts" in made.stderr and "integrity checked" in made.stderr, made.stderr
        later = 'mutation { upsertContact(input: {contact: {email: "later@example.com"}}) { outcome } }'
        httpx.post(f"{base}/graphql", json={"query": later}, headers={"Authorization": f"Bearer {key}"}, timeout=30)
        refused = run_cli("db", "restore", str(tmp_path / "monday.db"), "--database", url)
        assert refused.returncode == 2 and refused.stderr.strip() == f"contactql: {database} is in use (a contactql server, worker or command has it open): stop it, then restore"
    restored = run_cli("db", "restore", str(tmp_path / "monday.db"), "--database", url)
    assert restored.returncode == 0, restored.stderr
    [kept] = tmp_path.glob("contactql.db.before-restore-*")
    assert f"kept at {kept}" in restored.stderr
    assert count(database, "SELECT count(*) FROM contact") == 1 and count(kept, "SELECT count(*) FROM contact") == 2
    with serve(url) as (base, key, _):  # the restored database serves, with its keys
        found = httpx.post(f"{base}/graphql", json={"query": "{ contacts { totalCount } }"}, headers={"Authorization": f"Bearer {run_admin_key(url)}"}, timeout=30)
        assert found.json()["data"]["contacts"]["totalCount"] == 1


def run_admin_key(url: str) -> str:
    made = run_cli("keys", "create", "--scope", "read", "--database", url)
    assert made.returncode == 0, made.stderr
    return made.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["db", "backup", "{tmp}/a.db"], None),
        (["db", "backup", "{tmp}/exists.db"], "{tmp}/exists.db exists: give a new file name (a backup never overwrites one)"),
        (["db", "backup", "{tmp}/no/such/folder/b.db"], "the folder {tmp}/no/such/folder does not exist"),
        (["db", "restore", "{tmp}/missing.db"], "{tmp}/missing.db does not exist"),
        (["db", "restore", "{tmp}/exists.db"], "{tmp}/exists.db cannot be read as a SQLite database (file is not a database)"),
        (["db", "restore", "{tmp}"], "{tmp} is a folder, not a database file"),
        (["db", "restore", "{tmp}/contactql.db-wal"], "{tmp}/contactql.db-wal is one of the database's own files, not a backup"),
        (["db", "backup", "{tmp}/contactql.db-journal"], "{tmp}/contactql.db-journal is the database or a name SQLite uses beside one"),
        (["db", "backup", "{tmp}/x.db-wal"], "{tmp}/x.db-wal is the database or a name SQLite uses beside one"),
        (["db", "restore", "{tmp}/a.db", "--database", "sqlite:///{tmp}"], "{tmp} is a folder, not a database file"),
        (["db", "restore", "{tmp}/unknown.db"], "{tmp}/unknown.db has schema revision 0009zz, which this ContactQL does not know"),
        (["db", "restore", "{tmp}/norevision.db"], "{tmp}/norevision.db has no schema revision"),
        (["db", "restore", "{tmp}/contactql.db"], "{tmp}/contactql.db is the database itself"),
        (["db", "restore", "{tmp}/other.db"], "{tmp}/other.db is not a ContactQL database (no contact table or schema revision)"),
        (["db", "backup", "{tmp}/c.db", "--database", "postgresql://u@localhost/x"], "`contactql db backup` is for SQLite; back up PostgreSQL with pg_dump"),
    ],
)
def test_backup_and_restore_mistakes_are_one_line(tmp_path: Path, args: list[str], says: str | None) -> None:
    database = tmp_path / "contactql.db"
    assert run_cli("keys", "create", "--database", f"sqlite:///{database}").returncode == 0
    (tmp_path / "exists.db").write_text("not a database")
    with sqlite3.connect(tmp_path / "other.db") as other:
        other.execute("CREATE TABLE notes (x)")
    for name, revision in (("unknown.db", "0009zz"), ("norevision.db", None)):
        assert run_cli("db", "backup", str(tmp_path / name), "--database", f"sqlite:///{database}").returncode == 0
        with sqlite3.connect(tmp_path / name) as made:
            made.execute("DELETE FROM alembic_version") if revision is None else made.execute("UPDATE alembic_version SET version_num = ?", (revision,))
    if "a.db" in args[2] and args[1] == "restore":
        assert run_cli("db", "backup", str(tmp_path / "a.db"), "--database", f"sqlite:///{database}").returncode == 0
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    ran = run_cli(*args, *([] if "--database" in args else ["--database", f"sqlite:///{database}"]))
    if says is None:
        assert ran.returncode == 0 and count(tmp_path / "a.db", "SELECT count(*) FROM api_key") == 1
        assert (tmp_path / "a.db").stat().st_mode & 0o777 == database.stat().st_mode & 0o777
        return
    assert ran.returncode == 2 and "Traceback" not in ran.stderr
    assert ran.stderr.strip().splitlines()[-1].startswith(f"contactql: {says.replace('{tmp}', str(tmp_path))}"), ran.stderr


def test_a_server_does_not_start_on_a_database_being_restored(tmp_path: Path) -> None:
    import fcntl

    database = tmp_path / "contactql.db"
    assert run_cli("keys", "create", "--database", f"sqlite:///{database}").returncode == 0
    with open(database.with_name("contactql.db.lock"), "ab") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # as `db restore` holds it
        refused = run_cli("keys", "list", "--database", f"sqlite:///{database}")
    assert refused.returncode == 2 and refused.stderr.strip() == f"contactql: {database} is being restored (contactql db restore); start again once it is done"
    assert run_cli("keys", "list", "--database", f"sqlite:///{database}").returncode == 0


def test_a_restore_replaces_a_damaged_database_and_keeps_it_as_it_was(tmp_path: Path) -> None:
    """A database that SQLite cannot read is what a restore is for: it is kept byte for byte."""
    database = tmp_path / "contactql.db"
    url = f"sqlite:///{database}"
    assert run_cli("keys", "create", "--database", url).returncode == 0
    assert run_cli("db", "backup", str(tmp_path / "good.db"), "--database", url).returncode == 0
    for damage in (b"\x00garbage" * 10_000, database.read_bytes()[:8192]):  # junk; a torn file
        database.write_bytes(damage)
        os.chmod(database, 0o600)
        restored = run_cli("db", "restore", str(tmp_path / "good.db"), "--database", url)
        assert restored.returncode == 0 and "Traceback" not in restored.stderr, restored.stderr
        assert count(database, "SELECT count(*) FROM api_key") == 1
        assert database.stat().st_mode & 0o777 == 0o600  # the permissions it had
        kept = sorted(tmp_path.glob("contactql.db.before-restore-*"))[-1]
        assert kept.read_bytes() == damage
        for old in tmp_path.glob("contactql.db.before-restore-*"):
            old.unlink()


def test_two_restores_in_one_second_keep_both_databases(tmp_path: Path) -> None:
    import datetime as dt

    from contactql.store.db.backup import restore

    database = tmp_path / "contactql.db"
    assert run_cli("keys", "create", "--database", f"sqlite:///{database}").returncode == 0
    backup(database, tmp_path / "b.db")
    at = dt.datetime(2026, 12, 6, 9, 0, 0, tzinfo=dt.UTC)
    restore(tmp_path / "b.db", database, now=at)
    restore(tmp_path / "b.db", database, now=at + dt.timedelta(microseconds=1))
    assert len(list(tmp_path.glob("contactql.db.before-restore-*"))) == 2
