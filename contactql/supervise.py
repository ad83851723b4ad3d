"""Supervision for the background loops and an injectable clock for what they schedule.

`supervised(name, step)` runs one step of a loop after another for as long as the server
lives. A step that raises is logged with its traceback and the loop goes on after a pause that
doubles with each failure in a row (up to `MAX_BACKOFF_SECONDS`), so a fault that lasts (a
database gone away) neither kills the loop nor spins it; the first good step resets the pause.
A loop that dies silently is the worst failure a server has: nothing it owns happens again.

`Clock` is the time the loops schedule by (webhook retries, idempotency expiry): real UTC time
in the server, a clock a test moves forward in tests, so the default retry schedule is tested
as it is, not shortened.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable

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
        except Exception:
            failures += 1
            delay = backoff(failures)
            log.exception("%s: unexpected error (%d in a row); going on in %g s", name, failures, delay)
            await pause(delay)
        else:
            failures = 0
