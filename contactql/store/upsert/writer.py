"""Group commit for single-contact upserts.

Each `upsertContact` hands its request to one writer task and waits. The writer takes every
request that is waiting (up to `max_items` items), applies them in arrival order inside ONE
write transaction (`apply_requests`: consecutive requests of a workspace share a chunk),
commits — one fsync for all of them with `synchronous=FULL` — and only then answers each
caller: acknowledged means durable.

Items are applied in order against one in-memory state, so 20 concurrent upserts of the same
new email create one contact and 19 updates. A fault in a group never leaks into a
neighbour's answer: the group is rolled back and each request is retried in a transaction of
its own; a request that fails alone gets the exception (masked as INTERNAL by the schema).
A unique-index violation raised by a concurrent writer in another process (PostgreSQL) is
retried: the retry reads the other writer's contact and updates it instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging

from sqlalchemy.exc import IntegrityError

from contactql.store.db.busy import is_busy
from contactql.store.db.database import Database
from contactql.store.model import ItemResult
from contactql.store.upsert.pipeline import Request, apply_requests

log = logging.getLogger(__name__)

INTEGRITY_RETRIES = 3


@dataclasses.dataclass(slots=True)
class _Job:
    request: Request
    future: asyncio.Future[list[ItemResult]]


class UpsertWriter:
    def __init__(self, db: Database, *, max_items: int = 500) -> None:
        self.db = db
        self._max_items = max_items
        self._queue: asyncio.Queue[_Job] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def submit(self, request: Request) -> list[ItemResult]:
        """Apply `request` durably; returns one result per item, in order."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="contactql-upsert-writer")
        future: asyncio.Future[list[ItemResult]] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Job(request, future))
        return await future

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            jobs = [await self._queue.get()]
            count = len(jobs[0].request.work)
            while count < self._max_items and not self._queue.empty():
                job = self._queue.get_nowait()
                jobs.append(job)
                count += len(job.request.work)
            jobs = [j for j in jobs if not j.future.done()]  # callers that went away
            if jobs:
                await self._apply_group(jobs)

    async def _apply_group(self, jobs: list[_Job]) -> None:
        try:
            answers = await self.db.write_here(apply_requests, [j.request for j in jobs], self.db.catalog)
        except Exception as error:
            if is_busy(error):  # the lock held elsewhere past the busy timeout: alone, each would wait it again
                for job in jobs:
                    _fail(job, error)
                return
            for job in jobs:
                await self._apply_alone(job)
            return
        for job, results in zip(jobs, answers, strict=True):
            _resolve(job, results)

    async def _apply_alone(self, job: _Job) -> None:
        for attempt in range(INTEGRITY_RETRIES + 1):
            try:
                [results] = await self.db.write_here(apply_requests, [job.request], self.db.catalog)
            except IntegrityError as error:
                if attempt == INTEGRITY_RETRIES:
                    _fail(job, error)
                    return
                await asyncio.sleep(0.01 * (attempt + 1))
            except Exception as error:  # noqa: BLE001 - handed to the one caller it belongs to
                log.exception("upsert failed")
                _fail(job, error)
                return
            else:
                _resolve(job, results)
                return


def _resolve(job: _Job, results: list[ItemResult]) -> None:
    if not job.future.done():
        job.future.set_result(results)


def _fail(job: _Job, error: BaseException) -> None:
    if not job.future.done():
        job.future.set_exception(error)
