"""The batch worker inside `contactql serve`: takes queued batches in order and applies them.

One batch at a time per process: claim it under a lease (≤ 30 s), keep the lease alive with a
heartbeat while working, apply it chunk by chunk (each chunk one transaction, see
store/batches/queue.py), and tell subscribers after every chunk. Stopping mid-batch gives the lease
back; after a crash the lease runs out. Either way this or another process resumes the batch
at its first unapplied item.

One bad item never fails its neighbours. A chunk that fails with a database error that can
pass (busy, a concurrent writer, a lost connection) is retried with growing pauses. A chunk
that still fails, or fails with any other error, is split in halves, each applied on its own,
down to the single items that fail alone: each of those gets a failed result with code
INTERNAL, its traceback is logged under an incident id the result names, and the batch goes
on. An item is only blamed while the database takes other writes; when it does not, the
batch stays leased and is resumed at that item once the lease runs out. A batch is FAILED
only when its stored items cannot be read back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Generic, Protocol, TypeVar

from contactql.config import Settings
from contactql.metrics import BATCH_ITEMS
from contactql.store.batches import parts
from contactql.store.batches import queue as batches
from contactql.store.db.database import Database, is_passing
from contactql.supervise import Loop, supervised

log = logging.getLogger("contactql.batches")

CHUNK_RETRIES = 4
IDLE_POLL_SECONDS = 1.0
# How often an idle worker looks for a batch another process queued (`BatchWorker.watch`).
QUEUE_WATCH_SECONDS = 0.1


class _Job(Protocol):
    @property
    def id(self) -> str: ...


J = TypeVar("J", bound=_Job)


class ProgressHub(Generic[J]):
    """A job (a batch, an export) after each step, for this process's progress subscribers
    (`batchProgress`, `exportProgress`).

    Every subscriber has its own queue, so no step's snapshot is missed while it is busy;
    subscribers also poll the database, for jobs another process runs."""

    def __init__(self) -> None:
        self._queues: dict[str, set[asyncio.Queue[J]]] = {}

    def publish(self, job: J) -> None:
        for queue in self._queues.get(job.id, ()):
            queue.put_nowait(job)

    @contextlib.contextmanager
    def subscribe(self, batch_id: str) -> Iterator[asyncio.Queue[J]]:
        queue: asyncio.Queue[J] = asyncio.Queue()
        self._queues.setdefault(batch_id, set()).add(queue)
        try:
            yield queue
        finally:
            self._queues[batch_id].discard(queue)
            if not self._queues[batch_id]:
                del self._queues[batch_id]


def chunk_size(total: int, largest: int) -> int:
    """CONTACTQL_BATCH_CHUNK_SIZE items (or the whole batch, when smaller): progress is reported
    after each. Not a tenth of a 1 000-item batch, as before issue 23: a transaction writes
    every page it dirtied to the WAL, and the random-keyed indexes (email, property values,
    the trigram search index) dirty nearly as many pages for 100 contacts as for 500 —
    `benchmarks/batch_upsert.py`'s engine applied 2 700–2 900 contacts/s in chunks of 100 and
    4 000–4 300 in chunks of 500, the same rows."""
    return max(1, min(largest, total))


class BatchWorker(Loop):
    def __init__(self, db: Database, settings: Settings, progress: ProgressHub[batches.BatchRow], on_finished: Callable[[], None]) -> None:
        super().__init__()
        self._db = db
        self._settings = settings
        self._progress = progress
        self._on_finished = on_finished
        self._owner = f"worker-{uuid.uuid4().hex[:12]}"
        self.pause: Callable[[float], Awaitable[None]] = asyncio.sleep
        """How the worker waits before retrying a chunk (tests replace it, not the schedule)."""
        self.idle_poll_seconds = IDLE_POLL_SECONDS

    async def run(self) -> None:
        async with asyncio.TaskGroup() as loops:
            loops.create_task(supervised("batch worker", self.step))
            loops.create_task(supervised("batch queue watch", self.watch))

    async def watch(self) -> None:
        """While the worker is idle, one look for a batch another process queued — an API-only
        `contactql serve` (CONTACTQL_WORKERS=false) accepts batches it cannot wake this worker
        for. Without it such a batch waited for the worker's next poll, up to a second: with the
        API and the worker in two processes, most of a second before the first of 20 batches
        started (benchmarks/README.md, "The write lock between two processes"). A read of the
        queue's index, ten times a second while idle."""
        await asyncio.sleep(QUEUE_WATCH_SECONDS)
        if self._idle.waiting and await self._db.read(batches.any_queued):
            self.wake()

    async def step(self) -> None:
        """Apply what is waiting, then wait for a wake-up or the next poll."""
        self._idle.begin()
        await self.drain()
        await self._idle.wait(self.idle_poll_seconds)

    async def drain(self) -> None:
        """Apply batches until none is waiting (none queued, none with an expired lease)."""
        while (claimed := await self._db.write(batches.claim_next_batch, owner=self._owner, lease_seconds=self._settings.lease_seconds)) is not None:
            await self._work_on(claimed)

    async def _work_on(self, batch: batches.BatchRow) -> None:
        heartbeat = asyncio.create_task(self._heartbeat(batch.id))
        try:
            await self._process(batch)
        except batches.LeaseLost:
            log.warning("batch %s: lease lost, another process continues it", batch.id)
        except asyncio.CancelledError:
            # The server is stopping. The chunk under way still commits on the writer (or rolls
            # back), then this gives the lease back, so a restart resumes the batch at once.
            with contextlib.suppress(Exception):
                await asyncio.shield(self._db.write(batches.release_lease, batch_id=batch.id, owner=self._owner))
            raise
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat

    async def _process(self, batch: batches.BatchRow) -> None:
        size = chunk_size(batch.total, self._settings.batch_chunk_size)
        self._progress.publish(batch)
        items = _Items(self._db, batch.id)
        start = batch.processed
        while start < batch.total and not batch.finished:
            try:
                chunk = await items.read(start, min(start + size, batch.total))
            except Exception as error:
                if is_passing(error):
                    raise  # the batch stays leased and is taken again when the lease runs out
                log.exception("batch %s: its stored items cannot be read", batch.id)
                error_text = f"its stored items cannot be read: {type(error).__name__}"
                await self._db.write(batches.fail_batch, batch_id=batch.id, owner=self._owner, error=error_text)
                self._on_finished()
                return
            batch = await self._apply(batch, start, chunk)
            start = batch.processed
            self._progress.publish(batch)
        if batch.finished:
            self._on_finished()

    async def _apply(self, batch: batches.BatchRow, start: int, chunk: list[dict[str, Any]]) -> batches.BatchRow:
        """Apply `chunk`, or, when it fails, its halves one after the other (see the module doc)."""
        try:
            applied = await self._write_chunk(batch, start, chunk)
            BATCH_ITEMS.inc(len(chunk))
            return applied
        except batches.LeaseLost:
            raise
        except Exception as error:
            if len(chunk) > 1:
                half = len(chunk) // 2
                batch = await self._apply(batch, start, chunk[:half])
                return await self._apply(batch, batch.processed, chunk[half:])
            if is_passing(error) and not await self._database_writes(batch):
                raise  # the database is the problem, not the item: resumed here later
            incident = uuid.uuid4().hex[:12]
            log.error("batch %s: item %d failed unexpectedly (incident %s)", batch.id, start, incident, exc_info=error)
            failed = await self._db.write(
                batches.fail_items,
                batch_id=batch.id,
                owner=self._owner,
                start=start,
                entries=chunk,
                incident=incident,
                lease_seconds=self._settings.lease_seconds,
            )
            BATCH_ITEMS.inc(len(chunk))
            return failed

    async def _write_chunk(self, batch: batches.BatchRow, start: int, chunk: list[dict[str, Any]]) -> batches.BatchRow:
        # Only the last chunk waits for the disk (Database.write_redoable): the items were stored
        # durably when the batch was accepted and each chunk moves `processed` with its writes,
        # so chunks a power loss takes back are applied again when the batch resumes, as after a
        # crash. Webhooks are claimed by a write that waits: nothing of a chunk leaves first.
        write = self._db.write if start + len(chunk) >= batch.total else self._db.write_redoable
        for attempt in range(CHUNK_RETRIES + 1):
            try:
                return await write(
                    batches.apply_batch_chunk,
                    batch_id=batch.id,
                    owner=self._owner,
                    start=start,
                    entries=chunk,
                    catalog=self._db.catalog,
                    lease_seconds=self._settings.lease_seconds,
                )
            except batches.LeaseLost:
                raise
            except Exception as error:
                if attempt == CHUNK_RETRIES or not is_passing(error):
                    raise
                log.warning("batch %s: items from %d: %s; trying again", batch.id, start, type(error).__name__)
                await self.pause(0.2 * 2**attempt)
        raise AssertionError("unreachable")

    async def _database_writes(self, batch: batches.BatchRow) -> bool:
        """Whether the database takes a write now (renewing the lease is one)."""
        try:
            return await self._db.write(batches.renew_lease, batch_id=batch.id, owner=self._owner, lease_seconds=self._settings.lease_seconds)
        except Exception:
            return False

    async def _heartbeat(self, batch_id: str) -> None:
        interval = self._settings.lease_seconds / 3
        while True:
            await asyncio.sleep(interval)
            try:
                if not await self._db.write(batches.renew_lease, batch_id=batch_id, owner=self._owner, lease_seconds=self._settings.lease_seconds):
                    return
            except Exception:
                log.exception("batch %s: renewing the lease failed", batch_id)


class _Items:
    """A batch's stored items, read part by part as the chunks need them (store/batches/parts.py):
    the parts last read are kept for the next chunk, so each is read and decoded once."""

    def __init__(self, db: Database, batch_id: str) -> None:
        self._db = db
        self._batch_id = batch_id
        self._first = 0
        self._held: list[dict[str, Any]] = []

    async def read(self, start: int, stop: int) -> list[dict[str, Any]]:
        if not self._first <= start < stop <= self._first + len(self._held):
            self._first, self._held = await self._db.read(parts.load, batch_id=self._batch_id, start=start, stop=stop)
        chunk = self._held[start - self._first : stop - self._first]
        if len(chunk) != stop - start:
            raise LookupError(f"items {start} to {stop} are not all stored")  # a batch's parts cover 0…total
        return chunk
