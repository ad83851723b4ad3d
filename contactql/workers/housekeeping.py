"""Housekeeping inside `contactql serve`: what expires is deleted, so tables do not grow forever.

Today that is idempotency records older than 24 hours (store/upsert/idempotency.py), exports
finished more than 24 hours ago, with their files (store/workspace/exports.py), and persisted
queries past each workspace's newest 10 000 (store/workspace/persisted.py), every
`INTERVAL_SECONDS` and once at start. Supervised like every background loop (supervise.py).
"""

from __future__ import annotations

import asyncio
import logging

from contactql.store.db.database import Database
from contactql.store.upsert import idempotency
from contactql.store.workspace import exports, persisted
from contactql.supervise import Clock, supervised, utc_now

log = logging.getLogger("contactql.workers.housekeeping")

INTERVAL_SECONDS = 600.0


class Housekeeper:
    def __init__(self, db: Database, clock: Clock = utc_now) -> None:
        self._db = db
        self._clock = clock

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
        return purged + files + documents
