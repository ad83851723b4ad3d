"""Backing up and restoring a SQLite database (issue 22): `contactql db backup` and `db restore`.

A backup is SQLite's online backup API in one step: one read transaction, so the copy is the
database as of one commit while the server goes on writing (in WAL mode a reader holds no
writer back; a backup in several steps would start over at every commit of another
connection, and under steady writes never end). The copy is written beside its destination,
checked with `PRAGMA integrity_check`, made durable, then renamed into place: a file named
FILE is always a whole, checked backup.

Restoring overwrites a database, so nothing may be using it: every process that opens a
SQLite database through `Database` holds a shared lock on `<database>.lock` for as long as it
runs (`hold_shared`), and a restore takes that lock exclusively, or refuses. The database it
replaces is kept beside it (`<database>.before-restore-<time>`): a restore loses nothing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import fcntl
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from contactql.config import ConfigError
from contactql.store.db import migrate


@dataclasses.dataclass(frozen=True, slots=True)
class Copied:
    path: Path
    size: int
    contacts: int
    revision: str | None
    kept: Path | None = None  # a restore's: the database it replaced


def lock_path(database: Path) -> Path:
    return database.with_name(database.name + ".lock")


def hold_shared(database: Path) -> IO[bytes]:
    """The lock a process using `database` holds until it closes the returned file (or ends):
    shared, so servers, workers and commands use a database together; a restore waits for none
    of them and refuses instead."""
    handle = open(lock_path(database), "ab")  # noqa: SIM115 - held for the process's use of the database
    try:
        fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise ConfigError(f"{database} is being restored (contactql db restore); start again once it is done") from None
    return handle


@contextlib.contextmanager
def _exclusive(database: Path) -> Iterator[None]:
    with open(lock_path(database), "ab") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(f"{database} is in use (a contactql server, worker or command has it open): stop it, then restore") from None
        yield


def _connect(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise ConfigError(f"{path} does not exist")
    connection = sqlite3.connect(path, timeout=30)
    try:
        connection.execute("SELECT count(*) FROM sqlite_schema").fetchone()
    except sqlite3.DatabaseError:
        connection.close()
        raise ConfigError(f"{path} is not a SQLite database") from None
    return connection


def _describe(connection: sqlite3.Connection, path: Path) -> Copied:
    problems = [row[0] for row in connection.execute("PRAGMA integrity_check(10)")]
    if problems != ["ok"]:
        raise ConfigError(f"{path} fails SQLite's integrity check: {'; '.join(problems)}")
    tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")}
    if "alembic_version" not in tables or "contact" not in tables:
        raise ConfigError(f"{path} is not a ContactQL database (no contact table or schema revision)")
    revision = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    contacts = connection.execute("SELECT count(*) FROM contact WHERE deleted_at IS NULL").fetchone()[0]
    return Copied(path, path.stat().st_size, int(contacts), None if revision is None else str(revision[0]))


def _copy(source: sqlite3.Connection, target: Path, *, journal: str) -> None:
    """`source` into a new file at `target`, whole and durable, or nothing at `target`."""
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        copy = sqlite3.connect(partial)
        try:
            source.backup(copy)  # one step: one snapshot (see the module's note)
            copy.execute(f"PRAGMA journal_mode={journal}")
        finally:
            copy.close()
        with open(partial, "rb") as written:
            os.fsync(written.fileno())
        os.replace(partial, target)
        directory = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    finally:
        partial.unlink(missing_ok=True)


def backup(database: Path, target: Path) -> Copied:
    """A consistent, checked copy of the live `database` at `target` (a new file)."""
    if target.exists():
        raise ConfigError(f"{target} exists: give a new file name (a backup never overwrites one)")
    if not target.parent.is_dir():
        raise ConfigError(f"the folder {target.parent} does not exist")
    source = _connect(database)
    try:
        _describe(source, database)  # a ContactQL database, whole, before it is copied
        _copy(source, target, journal="DELETE")  # one self-contained file
    finally:
        source.close()
    checked = sqlite3.connect(target)
    try:
        return _describe(checked, target)
    finally:
        checked.close()


def restore(backup_file: Path, database: Path, *, now: dt.datetime | None = None) -> Copied:
    """`backup_file` becomes `database`, which nothing may be using; the database it replaces is
    kept beside it."""
    if database.exists() and backup_file.resolve() == database.resolve():
        raise ConfigError(f"{backup_file} is the database itself")
    source = _connect(backup_file)
    try:
        found = _describe(source, backup_file)
        if found.revision is not None and found.revision > migrate.head():
            raise ConfigError(f"{backup_file} was made by a newer ContactQL (schema {found.revision}; this one knows up to {migrate.head()})")
        with _exclusive(database):
            kept = None
            if database.exists():
                stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%SZ")
                kept = database.with_name(f"{database.name}.before-restore-{stamp}")
                current = sqlite3.connect(database, timeout=30)
                try:
                    _copy(current, kept, journal="DELETE")
                finally:
                    current.close()
                for leftover in (database.with_name(database.name + "-wal"), database.with_name(database.name + "-shm")):
                    leftover.unlink(missing_ok=True)  # the old database's, checkpointed into `kept`; nobody has it open
            _copy(source, database, journal="WAL")
    finally:
        source.close()
    restored = sqlite3.connect(database)
    try:
        return dataclasses.replace(_describe(restored, database), kept=kept)
    finally:
        restored.close()
