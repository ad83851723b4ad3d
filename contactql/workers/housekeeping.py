"""Housekeeping inside `contactql serve`: what expires is deleted, so tables do not grow forever.

Today that is idempotency records older than 24 hours (store/upsert/idempotency.py), exports
finished more than 24 hours ago, with their files (store/workspace/exports.py), persisted
queries past each workspace's newest 10 000 (store/workspace/persisted.py), webhook deliveries
delivered a week ago, the items of batches finished a day ago and, with CONTACTQL_RETENTION_DAYS, contacts deleted longer ago than that
(store/workspace/retention.py), every `INTERVAL_SECONDS` and once at start. Supervised like
every background loop (supervise.py).

Retention erases in slices of `retention.SLICE` rows, one short write transaction each, pausing
between them as long as the slice took: the writer is never held long, and single upserts —
of this process or another on the same database — go between slices.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable

from contactql.store.db.database import Database
from contactql.store.upsert import idempotency
from contactql.store.workspace import exports, persisted, retention
from contactql.supervise import Clock, supervised, utc_now

log = logging.getLogger("contactql.workers.housekeeping")

INTERVAL_SECONDS = 600.0


MAX_SLICES = 500  # a sweep's most per kind: 100 000 rows; the rest waits for the next sweep
SLICE_PAUSE = 0.02  # seconds between slices, at least


class Housekeeper:
    def __init__(self, db: Database, clock: Clock = utc_now, *, retention_days: int | None = None) -> None:
        self._db = db
        self._clock = clock
        self._retention_days = retention_days

    async def run(self) -> None:
        await supervised("housekeeping", self.step)

    async def step(self) -> None:
        await self.sweep()
        await asyncio.sleep(INTERVAL_SECONDS)

    async def sweep(self) -> int:
        """Delete what has expired now; returns how many rows went."""
        purged = await self._db.write(idempotency.purge_expired, now=self._clock())
        if purged:
            log.info("deleted %d expired idempotency records", purged)
        files = await self._db.write(exports.delete_expired, now=self._clock())
        if files:
            log.info("deleted %d expired exports", files)
        documents = await self._db.write(persisted.prune)
        if documents:
            log.info("deleted %d persisted queries past their workspace's bounds", documents)
        delivered = await self._sliced(functools.partial(retention.purge_delivered, now=self._clock()))
        if delivered:
            log.info("deleted %d webhook deliveries delivered over a week ago", delivered)
        payloads = await self._sliced(functools.partial(retention.purge_payloads, now=self._clock()))
        if payloads:
            log.info("deleted the items of %d batches finished over a day ago", payloads)
        erased = 0
        if self._retention_days is not None:
            erased = await self._sliced(functools.partial(retention.purge_deleted, now=self._clock(), days=self._retention_days))
            if erased:
                log.info("erased %d contacts deleted over %d days ago (CONTACTQL_RETENTION_DAYS)", erased, self._retention_days)
        return purged + files + documents + delivered + payloads + erased

    async def _sliced(self, purge: Callable[..., int]) -> int:
        """`purge` (one slice) again while it fills slices, each its own transaction."""
        total = 0
        for _ in range(MAX_SLICES):
            started = time.monotonic()
            went = await self._db.write(purge)
            total += went
            if went < retention.SLICE:
                break
            # As long a pause as the slice took: this process's writer queue goes first anyway,
            # but another process (a server beside a worker) waits on SQLite's busy handler,
            # which polls — with no gap between slices it would wait out the whole sweep.
            await asyncio.sleep(max(SLICE_PAUSE, time.monotonic() - started))
        return total
