"""The worker inside `contactql serve` that runs bulk jobs (store/workspace/bulk_jobs.py) one at
a time: a slice of contacts a write transaction, pausing between slices as long as the slice
took, so single upserts — of this process or another on the same database — go between them.

After each slice the job's progress goes to `bulkJobProgress` subscribers. Stopping gives the
lease back and a restart goes on from the job's cursor; a database that is away for a moment
leaves the job leased, to go on when the lease runs out; a filter that no longer holds (a
property or list it names was deleted) or the job's list deleted fails the job saying so; any
other error fails it with an incident id the server log names.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable

from contactql.config import Settings
from contactql.store.db.database import Database, is_passing
from contactql.store.errors import StoreError
from contactql.store.workspace import bulk_jobs
from contactql.store.workspace.bulk_jobs import BulkJobRow
from contactql.supervise import Clock, Loop, supervised
from contactql.workers.batches import ProgressHub

log = logging.getLogger("contactql.bulk")

IDLE_POLL_SECONDS = 1.0
SLICE_PAUSE = 0.005  # seconds between slices, at least


class BulkWorker(Loop):
    def __init__(self, db: Database, settings: Settings, progress: ProgressHub[BulkJobRow], clock: Clock, *, on_finished: Callable[[], None] = lambda: None) -> None:
        super().__init__()
        self._db = db
        self._settings = settings
        self._progress = progress
        self._clock = clock
        self._on_finished = on_finished
        self._owner = f"bulk-{uuid.uuid4().hex[:12]}"

    async def run(self) -> None:
        await supervised("bulk job worker", self.step)

    async def step(self) -> None:
        self._idle.begin()
        await self.drain()
        await self._idle.wait(IDLE_POLL_SECONDS)

    async def drain(self) -> None:
        while (job := await self._db.write(bulk_jobs.claim_next, owner=self._owner, lease_seconds=self._settings.lease_seconds, now=self._clock())) is not None:
            await self._work_on(job)

    async def _work_on(self, job: BulkJobRow) -> None:
        try:
            while not job.finished:
                started = time.monotonic()
                job = await self._db.write(bulk_jobs.run_slice, job_id=job.id, owner=self._owner, lease_seconds=self._settings.lease_seconds, now=self._clock())
                self._progress.publish(job)
                if not job.finished:
                    await asyncio.sleep(max(SLICE_PAUSE, time.monotonic() - started))
        except bulk_jobs.Cancelled:
            log.info("bulk job %s cancelled after %d of %d contacts changed", job.id, job.changed, job.total)
            return
        except bulk_jobs.LeaseLost:
            log.warning("bulk job %s: lease lost, another process runs it", job.id)
            return
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._db.write(bulk_jobs.release_lease, job_id=job.id, owner=self._owner))
            raise
        except StoreError as error:
            reason = "; ".join(problem.message for problem in error.problems)
            job = await self._db.write(bulk_jobs.fail, job_id=job.id, owner=self._owner, error=f"the job's request no longer holds: {reason}", now=self._clock())
            self._progress.publish(job)
        except Exception as error:
            if is_passing(error):
                raise  # the job stays leased and goes on when the lease runs out
            incident = uuid.uuid4().hex[:12]
            log.error("bulk job %s failed unexpectedly (incident %s)", job.id, incident, exc_info=error)
            job = await self._db.write(bulk_jobs.fail, job_id=job.id, owner=self._owner, error=f"an unexpected error stopped the job (incident {incident})", now=self._clock())
            self._progress.publish(job)
        log.info("bulk job %s %s: %d of %d contacts changed", job.id, job.status.value, job.changed, job.total)
        if job.webhook_url:
            self._on_finished()
