"""The batch worker inside `contactql serve`: takes queued batches in order and applies them.

One batch at a time per process: claim it under a lease (≤ 30 s), keep the lease alive with a
heartbeat while working, apply it chunk by chunk (each chunk one transaction, see
store/batches.py), and tell subscribers after every chunk. Stopping mid-batch gives the lease
back; after a crash the lease runs out. Either way this or another process resumes the batch
at its first unapplied item.

A chunk that fails unexpectedly is retried with growing pauses (a busy database, a
concurrent writer); if it still fails the batch itself cannot be processed and is FAILED.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from contactql.config import Settings
from contactql.store import batches
from contactql.store.database import Database

log = logging.getLogger("contactql.batches")

CHUNK_RETRIES = 4
IDLE_POLL_SECONDS = 1.0


class ProgressHub:
    """The batch after each chunk, for this process's `batchProgress` subscribers.

    Every subscriber has its own queue, so no chunk's snapshot is missed while it is busy;
    subscribers also poll the database, for batches another process applies."""

    def __init__(self) -> None:
        self._queues: dict[str, set[asyncio.Queue[batches.BatchRow]]] = {}

    def publish(self, batch: batches.BatchRow) -> None:
        for queue in self._queues.get(batch.id, ()):
            queue.put_nowait(batch)

    @contextlib.contextmanager
    def subscribe(self, batch_id: str) -> Iterator[asyncio.Queue[batches.BatchRow]]:
        queue: asyncio.Queue[batches.BatchRow] = asyncio.Queue()
        self._queues.setdefault(batch_id, set()).add(queue)
        try:
            yield queue
        finally:
            self._queues[batch_id].discard(queue)
            if not self._queues[batch_id]:
                del self._queues[batch_id]


def chunk_size(total: int, largest: int) -> int:
    """At most a tenth of the batch, so progress is reported at least every 10 %."""
    return max(1, min(largest, -(-total // 10)))


class BatchWorker:
    def __init__(self, db: Database, settings: Settings, progress: ProgressHub, on_finished: Callable[[], None]) -> None:
        self._db = db
        self._settings = settings
        self._progress = progress
        self._on_finished = on_finished
        self._owner = f"worker-{uuid.uuid4().hex[:12]}"
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """A batch was accepted: look for work now rather than at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.drain()
            except Exception:
                log.exception("claiming a batch failed")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(IDLE_POLL_SECONDS):  # not wait_for: see webhook_sender.run
                    await self._wake.wait()

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
        entries = await self._db.read(batches.load_payload, batch_id=batch.id)
        size = chunk_size(batch.total, self._settings.batch_chunk_size)
        self._progress.publish(batch)
        start = batch.processed
        while start < batch.total and not batch.finished:  # finished early: FAILED
            chunk = entries[start : start + size]
            batch = await self._apply(batch, start, chunk)
            start = batch.processed
            self._progress.publish(batch)
        if batch.finished:
            self._on_finished()

    async def _apply(self, batch: batches.BatchRow, start: int, chunk: list[dict[str, Any]]) -> batches.BatchRow:
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
            except Exception as error:  # noqa: BLE001 - retried, then the batch is FAILED with the reason
                if attempt == CHUNK_RETRIES:
                    log.exception("batch %s: items from %d could not be applied", batch.id, start)
                    failed = await self._db.write(
                        batches.fail_batch, batch_id=batch.id, owner=self._owner, error=f"items from {start} could not be applied: {type(error).__name__}"
                    )
                    if failed is None:
                        raise batches.LeaseLost(batch.id) from error
                    return failed
                await asyncio.sleep(0.2 * 2**attempt)
        raise AssertionError("unreachable")

    async def _heartbeat(self, batch_id: str) -> None:
        interval = self._settings.lease_seconds / 3
        while True:
            await asyncio.sleep(interval)
            try:
                if not await self._db.write(batches.renew_lease, batch_id=batch_id, owner=self._owner, lease_seconds=self._settings.lease_seconds):
                    return
            except Exception:
                log.exception("batch %s: renewing the lease failed", batch_id)
