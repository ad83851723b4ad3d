"""SQLite WAL checkpoints on a thread of their own, off the writer's path.

A checkpoint copies committed pages from the WAL into the database file and fsyncs both. With
SQLite's automatic checkpoint (every 1000 WAL pages) that work runs inside whichever COMMIT
crosses the mark, so every third or fourth batch chunk waited for it: measured on the batch
benchmark, about 13 % of the engine's time. Here every connection of the process turns the
automatic checkpoint off, and this thread runs `PRAGMA wal_checkpoint(PASSIVE)` on its own
connection after writes. PASSIVE never blocks readers or the writer, and the sqlite3 module
releases the GIL while it copies, so the writer goes on with the next chunk meanwhile.

Nothing changes for durability: a checkpoint only moves pages that are already committed (and,
with synchronous=FULL, already fsynced in the WAL); a crash during one is recovered by SQLite.
SQLite starts the WAL over only when a checkpoint has copied all of it, and a checkpoint that
runs beside a busy writer never catches up with the frames appended meanwhile: left alone, the
WAL grew to 430 MB on the batch benchmark. So once the WAL holds `RESTART_FRAMES`, the last
copy runs between two write transactions (`between_writes`: on the writer's thread, holding the
write lock): only the frames since the concurrent copy are left, and the next write starts the
WAL over.

SQLite's own rules still apply across processes: the last connection to close a database
checkpoints it, and another process's checkpointer copies this one's frames too.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable

from contactql.supervise import backoff

log = logging.getLogger("contactql.checkpoint")

MIN_INTERVAL_SECONDS = 0.2  # at most ~5 checkpoints a second: each one fsyncs the database file
RESTART_FRAMES = 4_000  # ~16 MB of 4 KiB pages: then finish the copy between writes (see above)


class Checkpointer:
    def __init__(self, path: str, busy_timeout_ms: int, between_writes: Callable[[Callable[[], object]], object]) -> None:
        """`between_writes(fn)` runs `fn` on the writer's thread, between two write transactions."""
        self._path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._between_writes = between_writes
        self._wake = threading.Event()
        self._truncate = threading.Event()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="contactql-checkpoint", daemon=True)
        self._thread.start()

    def written(self) -> None:
        """A write transaction committed: there is something to checkpoint."""
        self._wake.set()

    def truncate_soon(self) -> None:
        """Empty the WAL file as soon as no reader needs it (an erasure's old pages are in it):
        tried after every checkpoint until it succeeds."""
        self._truncate.set()
        self._wake.set()

    @property
    def alive(self) -> bool:
        """The thread runs (readiness, /readyz); it ends only when closed."""
        return self._thread.is_alive()

    def close(self) -> None:
        self._stopped.set()
        self._wake.set()
        self._thread.join()

    def _run(self) -> None:
        """Supervised (see supervise.py): an unexpected error is logged with its traceback, the
        connection is opened afresh and the loop goes on after a growing pause."""
        connection: sqlite3.Connection | None = None
        failures = 0
        try:
            while True:
                self._wake.wait()
                if self._stopped.is_set():
                    return
                self._wake.clear()
                try:
                    if connection is None:
                        connection = self._connect()
                    self._checkpoint(connection)
                    failures = 0
                    pause = MIN_INTERVAL_SECONDS  # fewer, larger checkpoints
                except Exception:
                    failures += 1
                    pause = backoff(failures)
                    log.exception("WAL checkpointer of %s: unexpected error (%d in a row); going on in %g s", self._path, failures, pause)
                    if connection is not None:
                        with contextlib.suppress(Exception):
                            connection.close()
                        connection = None
                    self._wake.set()  # what was to be checkpointed still is
                if self._stopped.wait(pause):
                    return
        finally:
            if connection is not None:
                connection.close()

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        connection.execute(f"PRAGMA busy_timeout={int(self._busy_timeout_ms)}")
        return connection

    def _checkpoint(self, connection: sqlite3.Connection) -> None:
        try:
            _busy, frames, _copied = _checkpoint_now(connection)
            if frames >= RESTART_FRAMES:
                self._between_writes(lambda: _checkpoint_now(connection))
            # Not between writes: TRUNCATE takes the write lock itself (a write under way makes
            # it busy, and it is tried again); the copy above left it little to do.
            if self._truncate.is_set():
                if truncate_wal(self._path, within=0):
                    self._truncate.clear()
                else:
                    self._wake.set()  # a reader or a write still needs it: again after the pause
        except (sqlite3.Error, RuntimeError):  # RuntimeError: the writer has shut down
            # A checkpoint that cannot run now (the database is busy, or going away) runs after
            # the next write; the WAL keeps every committed page meanwhile.
            log.warning("WAL checkpoint of %s did not run", self._path, exc_info=True)


def _checkpoint_now(connection: sqlite3.Connection) -> tuple[int, int, int]:
    """(busy, frames in the WAL, frames copied). `fetchall`: a statement left open would hold a
    read snapshot, and SQLite does not start a WAL over while a reader may still need it."""
    [(busy, frames, copied)] = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    return busy, frames, copied


def truncate_wal(path: str, *, within: float = 1.0, clock: Callable[[], float] = time.monotonic) -> bool:
    """`PRAGMA wal_checkpoint(TRUNCATE)`: every frame copied and the WAL file cut to zero
    bytes. It waits for readers of older snapshots and for a checkpoint under way (this
    process's checkpointer, another process's), but `within` seconds at most: it runs on the
    writer's thread, and a long reader (an export, a backup) must not stop every write. True
    when it finished; otherwise a later checkpoint empties the WAL."""
    deadline = clock() + within
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        connection.execute(f"PRAGMA busy_timeout={int(within * 100)}")  # a tenth of it an attempt (0: no wait)
        while True:
            try:
                [(busy, _frames, _copied)] = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) and "busy" not in str(error):
                    raise
                busy = 1
            if busy == 0:
                return True
            if clock() >= deadline:
                return False
            time.sleep(0.02)
    finally:
        connection.close()
