"""Supervision for the background loops and an injectable clock for what they schedule.

`supervised(name, step)` runs one step of a loop after another for as long as the server
lives. A step that raises is logged with its traceback and the loop goes on after a pause that
doubles with each failure in a row (up to `MAX_BACKOFF_SECONDS`), so a fault that lasts (a
database gone away) neither kills the loop nor spins it; the first good step resets the pause.
A loop that dies silently is the worst failure a server has: nothing it owns happens again.
A busy SQLite file (another process held the write lock past the busy timeout) is no fault of
the loop's: it is one warning line, not a traceback per loop per retry.

`Idle` is a loop's wake-up and its way of saying it has caught up: `settled()` returns once a
step begun after the call found nothing more to do — how a test knows a loop has acted (or
has rightly done nothing) without sleeping and hoping.

`Clock` is the time the loops schedule by (webhook retries, idempotency expiry): real UTC time
in the server, a clock a test moves forward in tests, so the default retry schedule is tested
as it is, not shortened.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Awaitable, Callable

from contactql.store.db.busy import is_busy

log = logging.getLogger("contactql.supervise")

FIRST_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 30.0

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def backoff(failures: int) -> float:
    """The pause after `failures` failed steps in a row (≥ 1)."""
    return float(min(MAX_BACKOFF_SECONDS, FIRST_BACKOFF_SECONDS * 2 ** (failures - 1)))


async def supervised(name: str, step: Callable[[], Awaitable[object]], *, pause: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
    """Run `step()` again and again until cancelled; an error is logged and the loop goes on."""
    failures = 0
    while True:
        try:
            await step()
        except Exception as error:
            failures += 1
            delay = backoff(failures)
            if is_busy(error):
                log.warning("%s: the database is busy — another process holds its write lock (%d in a row); going on in %g s", name, failures, delay)
            else:
                log.exception("%s: unexpected error (%d in a row); going on in %g s", name, failures, delay)
            await pause(delay)
        else:
            failures = 0


class Idle:
    """A loop's wake-up call and idle state. A step calls `begin()` first and `wait(seconds)`
    when nothing more is due; `wake()` cuts that wait short."""

    def __init__(self) -> None:
        self._wake = asyncio.Event()
        self._went_idle = asyncio.Event()
        self._begun = 0  # steps begun
        self._idle = 0  # the number of the last step that went idle

    def wake(self) -> None:
        self._wake.set()

    def begin(self) -> None:
        self._wake.clear()
        self._begun += 1

    @property
    def waiting(self) -> bool:
        """The loop has done what was due and waits for a wake-up or its next poll."""
        return self._idle == self._begun

    async def wait(self, seconds: float) -> None:
        self._idle = self._begun
        self._went_idle.set()
        # asyncio.timeout, never wait_for: on Python 3.11 wait_for returns the result of a wait
        # that ended in the tick it was cancelled (a wake-up at shutdown), swallowing the
        # cancellation, and the server never stops (CPython gh-86296).
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wake.wait()

    async def settled(self) -> None:
        """Wake the loop; return once a step begun after this call has gone idle."""
        wanted = self._begun + 1
        self.wake()
        while self._idle < wanted:
            self._went_idle.clear()
            await self._went_idle.wait()


class Loop:
    """A background loop with a wake-up call (`wake`) and a way to know it has caught up (`settled`)."""

    def __init__(self) -> None:
        self._idle = Idle()

    def wake(self) -> None:
        """Look for work now rather than at the next poll."""
        self._idle.wake()

    async def settled(self) -> None:
        """Return once the loop has done what is due now and is idle (`Idle.settled`)."""
        await self._idle.settled()
