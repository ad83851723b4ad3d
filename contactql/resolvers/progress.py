"""The progress subscriptions of jobs (`batchProgress`, `exportProgress`, `bulkJobProgress`): one
way to follow a job, whoever runs it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any, Protocol, TypeVar

from contactql.context import ApiError
from contactql.workers.batches import ProgressHub

POLL_SECONDS = 1.0


class _Finishing(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def finished(self) -> bool: ...


R = TypeVar("R", bound=_Finishing)


async def follow(hub: ProgressHub[R], job_id: str, read: Callable[[], Awaitable[R | None]], *, what: str, key: Callable[[R], Any]) -> AsyncGenerator[R, None]:
    """The job now, again whenever `key(job)` has moved forward — as this process's worker
    publishes it to `hub`, or as the database says every POLL_SECONDS (another process may run
    it) — and once finished; then the stream ends. A snapshot older than one already pushed
    (a queued publication read after a poll) is never pushed: progress only goes forward."""
    with hub.subscribe(job_id) as updates:
        row = await read()
        if row is None:
            raise ApiError(f"no {what} with id {job_id}", "INVALID_INPUT")
        yield row
        pushed = key(row)
        while not row.finished:
            try:
                async with asyncio.timeout(POLL_SECONDS):  # not wait_for: see supervise.Idle.wait
                    row = await updates.get()
            except TimeoutError:
                row = await read() or row
            if row.finished or key(row) > pushed:
                pushed = key(row)
                yield row
