"""Backing up and restoring a SQLite database (issue 22): `contactql db backup` and `db restore`.

A backup is SQLite's online backup API in one step: one read transaction, so the copy is the
database as of one commit while the server goes on writing (in WAL mode a reader holds no
writer back; a backup in several steps would start over at every commit of another
connection, and under steady writes never end). The copy is written to a file of its own
beside its destination, checked with `PRAGMA integrity_check`, made durable, then linked into
place — a link never replaces a file, so a file named FILE is always a whole, checked backup
and two backups to one name cannot overwrite each other. It gets the database's permissions
(it holds the same contacts and key digests).

Restoring overwrites a database, so nothing may be using it: every process that opens a SQLite
database through `Database` holds a shared lock on `<database>.lock` for as long as it runs
(`hold_shared`), a backup too, and a restore takes that lock exclusively, or refuses. The
database it replaces is kept beside it (`<database>.before-restore-<time>`) — copied by SQLite
when it can be read, byte for byte when it cannot (a corrupt database is what a restore is for)
— and the restored file takes its permissions and owner: a restore loses nothing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import fcntl
import os
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from contactql.config import ConfigError
from contactql.store.db import migrate

SIDECARS = ("-wal", "-shm", "-journal", ".lock")  # SQLite's files beside a database, and ours


@dataclasses.dataclass(frozen=True, slots=True)
class Copied:
    path: Path
    size: int
    contacts: int
    revision: str | None
    kept: Path | None = None  # a restore's: the database it replaced


def lock_path(database: Path) -> Path:
    return database.with_name(database.name + ".lock")


def _lock_file(database: Path) -> IO[bytes]:
    try:
        return open(lock_path(database), "ab")  # noqa: SIM115 - the caller holds it
    except PermissionError:  # made by another user: a lock needs only a descriptor
        try:
            return open(lock_path(database), "rb")  # noqa: SIM115
        except OSError as error:
            raise ConfigError(f"cannot open {lock_path(database)} ({error.strerror})") from None
    except OSError as error:
        raise ConfigError(f"cannot open {lock_path(database)} ({error.strerror})") from None


def hold_shared(database: Path) -> IO[bytes]:
    """The lock a process using `database` holds until it closes the returned file (or ends):
    shared, so servers, workers and commands use a database together; a restore waits for none
    of them and refuses instead."""
    handle = _lock_file(database)
    try:
        fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise ConfigError(f"{database} is being restored (contactql db restore); start again once it is done") from None
    return handle


@contextlib.contextmanager
def _exclusive(database: Path) -> Iterator[None]:
    with _lock_file(database) as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(f"{database} is in use (a contactql server, worker or command has it open): stop it, then restore") from None
        yield


def _connect(path: Path) -> sqlite3.Connection:
    if path.is_dir():
        raise ConfigError(f"{path} is a folder, not a database file")
    if not path.is_file():
        raise ConfigError(f"{path} does not exist")
    try:
        connection = sqlite3.connect(path, timeout=30)
        connection.execute("SELECT count(*) FROM sqlite_schema").fetchone()
    except sqlite3.DatabaseError as error:
        raise ConfigError(f"{path} cannot be read as a SQLite database ({error})") from None
    return connection


def _describe(connection: sqlite3.Connection, path: Path) -> Copied:
    try:
        problems = [row[0] for row in connection.execute("PRAGMA integrity_check(10)")]
        if problems != ["ok"]:
            raise ConfigError(f"{path} fails SQLite's integrity check: {'; '.join(problems)}")
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")}
        if "alembic_version" not in tables or "contact" not in tables:
            raise ConfigError(f"{path} is not a ContactQL database (no contact table or schema revision)")
        revision = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        contacts = connection.execute("SELECT count(*) FROM contact WHERE deleted_at IS NULL").fetchone()[0]
    except sqlite3.DatabaseError as error:
        raise ConfigError(f"{path} cannot be read as a ContactQL database ({error})") from None
    if revision is None:
        raise ConfigError(f"{path} has no schema revision: not a ContactQL database, or a damaged one")
    return Copied(path, path.stat().st_size, int(contacts), str(revision[0]))


def _place(partial: Path, target: Path, like: Path | None) -> None:
    """`partial`, complete, made durable and named `target` (never replacing a file there),
    with the permissions (and, for root, the owner) of `like`."""
    if like is not None and like.exists():
        shown = like.stat()
        os.chmod(partial, shown.st_mode & 0o777)
        if os.geteuid() == 0:
            os.chown(partial, shown.st_uid, shown.st_gid)
    with open(partial, "rb") as written:
        os.fsync(written.fileno())
    try:
        os.link(partial, target)
    except FileExistsError:
        raise ConfigError(f"{target} exists: give a new file name (a backup never overwrites one)") from None
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _copy(source: sqlite3.Connection, target: Path, *, journal: str, like: Path | None) -> None:
    """`source` into a new file at `target`, whole and durable, or nothing at `target`."""
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.partial")
    try:
        copy = sqlite3.connect(partial)
        try:
            source.backup(copy)  # one step: one snapshot (see the module's note)
            copy.execute(f"PRAGMA journal_mode={journal}")
        finally:
            copy.close()
        _place(partial, target, like)
    except (sqlite3.Error, OSError) as error:
        raise ConfigError(f"cannot write {target} ({getattr(error, 'strerror', None) or error})") from None
    finally:
        for leftover in (partial, partial.with_name(partial.name + "-journal"), partial.with_name(partial.name + "-wal")):
            leftover.unlink(missing_ok=True)


def _is_sidecar(target: Path, database: Path) -> bool:
    return target == database or any(target == database.with_name(database.name + suffix) for suffix in SIDECARS)


def backup(database: Path, target: Path) -> Copied:
    """A consistent, checked copy of the live `database` at `target` (a new file)."""
    if _is_sidecar(target, database) or target.name.endswith(SIDECARS):
        raise ConfigError(f"{target} is the database or a name SQLite uses beside one (-wal, -shm, -journal): give another file name")
    if target.exists() or target.is_symlink():
        raise ConfigError(f"{target} exists: give a new file name (a backup never overwrites one)")
    if not target.parent.is_dir():
        raise ConfigError(f"the folder {target.parent} does not exist")
    if not os.access(target.parent, os.W_OK):
        raise ConfigError(f"the folder {target.parent} is not writable")
    source = _connect(database)
    held = hold_shared(database)  # a restore waits for the copy
    try:
        _describe(source, database)  # a ContactQL database, whole, before it is copied
        _copy(source, target, journal="DELETE", like=database)  # one self-contained file
    finally:
        held.close()
        source.close()
    checked = sqlite3.connect(target)
    try:
        return _describe(checked, target)
    finally:
        checked.close()


def _keep(database: Path, now: dt.datetime) -> Path:
    """A copy of the database being replaced, beside it: by SQLite when it can read it, else
    byte for byte with its journal files (a damaged database is why people restore)."""
    stamp = now.strftime("%Y%m%dT%H%M%S%fZ")
    kept = database.with_name(f"{database.name}.before-restore-{stamp}")
    try:
        current = sqlite3.connect(database, timeout=30)
        try:
            current.execute("SELECT count(*) FROM sqlite_schema").fetchone()
            _copy(current, kept, journal="DELETE", like=database)
        finally:
            current.close()
    except (sqlite3.DatabaseError, ConfigError):
        kept.unlink(missing_ok=True)
        for suffix in ("", "-wal", "-journal"):
            if (original := database.with_name(database.name + suffix)).exists():
                shutil.copy2(original, kept.with_name(kept.name + suffix))
    for leftover in (database.with_name(database.name + "-wal"), database.with_name(database.name + "-shm"), database.with_name(database.name + "-journal")):
        leftover.unlink(missing_ok=True)  # the old database's, kept above; nobody has it open
    return kept


def restore(backup_file: Path, database: Path, *, now: dt.datetime | None = None) -> Copied:
    """`backup_file` becomes `database`, which nothing may be using; the database it replaces is
    kept beside it."""
    if database.name in ("", ":memory:"):
        raise ConfigError("an in-memory database has nothing to restore into: give a database file")
    if database.is_dir():
        raise ConfigError(f"{database} is a folder, not a database file")
    if backup_file.exists() and database.exists() and backup_file.resolve() == database.resolve():
        raise ConfigError(f"{backup_file} is the database itself")
    if _is_sidecar(backup_file.resolve(), database.resolve()):
        raise ConfigError(f"{backup_file} is one of the database's own files, not a backup")
    source = _connect(backup_file)
    try:
        found = _describe(source, backup_file)
        if found.revision is not None and found.revision not in migrate.revisions():
            raise ConfigError(f"{backup_file} has schema revision {found.revision}, which this ContactQL does not know (it knows up to {migrate.head()}): restore it with the version that made it")
        with _exclusive(database):
            kept = _keep(database, now or dt.datetime.now(dt.UTC)) if database.exists() else None
            staged = database.with_name(f".{database.name}.restoring")
            staged.unlink(missing_ok=True)
            _copy(source, staged, journal="WAL", like=database if database.exists() else None)
            os.replace(staged, database)
    finally:
        source.close()
    restored = sqlite3.connect(database)
    try:
        return dataclasses.replace(_describe(restored, database), kept=kept)
    finally:
        restored.close()
