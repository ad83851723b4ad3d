"""How a long-running ContactQL process uses its cores.

`Helper` checks a big batch's contacts (or a CSV file's rows) in a helper process. Validation
is ~100 µs of Python a contact (email-validator, phonenumbers, our rules); in a thread of the
server it takes that time from the GIL the event loop and the batch worker need — measured,
more than half of the API's share of a batch. A process has its own GIL and, on a 2-core
machine, its own core. Small requests stay in a thread: the hand-over pickles both ways.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import multiprocessing
import signal
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from typing import ParamSpec, TypeVar

log = logging.getLogger("contactql.runtime")

BIG_BATCH = 200  # contacts; fewer are validated in a thread
BIG_FILE = 64 * 1024  # bytes of CSV

P = ParamSpec("P")
T = TypeVar("T")


def _ignore_interrupts() -> None:
    # Ctrl-C reaches the whole process group; the server shuts its helper down itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class Helper:
    """`await helper.run(fn, *args, big=…)`: CPU-heavy, picklable work where it costs the server
    least — big work in the helper process, small work in a thread.

    The process starts with the first big job (`spawn`, never `fork`: the server has threads)
    and is replaced if it dies; `processes=0` keeps everything in threads."""

    def __init__(self, processes: int) -> None:
        self._processes = processes
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None

    async def run(self, fn: Callable[P, T], /, *args: P.args, big: bool) -> T:
        if self._processes < 1 or not big:
            return await asyncio.to_thread(fn, *args)
        if self._pool is None:
            context = multiprocessing.get_context("spawn")
            self._pool = concurrent.futures.ProcessPoolExecutor(self._processes, mp_context=context, initializer=_ignore_interrupts)
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)
        except BrokenProcessPool:
            log.warning("the helper process died; working in a thread, a new process next time")
            self._pool = None
            return await asyncio.to_thread(fn, *args)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
