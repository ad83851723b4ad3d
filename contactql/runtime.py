"""How a long-running ContactQL process uses its interpreter and its cores.

`tune_gc()` sets CPython's cyclic garbage collector for a server. A 1 000-contact document
becomes ~40 000 dicts and lists that live until its request ends; at the default thresholds
(700, 10, 10) they set off dozens of young collections a request and, every hundred of those,
a full one that walks every object of the process (schema, modules, caches). Objects made at
startup are moved out of the collector's way (`gc.freeze`), and the older generations are
collected less often. Reference counting still frees at once everything not in a cycle.
Measured on the batch benchmark: one-process end to end 1 480–1 760 → 1 780–1 950
contacts/s, the engine alone +4–8 %.

`Helper` checks a big batch's contacts (or a CSV file's rows) in a helper process. Validation
is ~100 µs of Python a contact (email-validator, phonenumbers, our rules); in a thread of the
server it takes that time from the GIL the event loop and the batch worker need — measured,
more than half of the API's share of a batch. A process has its own GIL and, on a 2-core
machine, its own core. Small requests stay in a thread: the hand-over pickles both ways.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import logging
import multiprocessing
import os
import pickle
import signal
import threading
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

log = logging.getLogger("contactql.runtime")

GC_THRESHOLDS = (10_000, 50, 100)  # CPython's default: (700, 10, 10)
BIG_BATCH = 200  # contacts; fewer are validated in a thread
BIG_FILE = 64 * 1024  # bytes of CSV

T = TypeVar("T")


def tune_gc(*, collect: bool = True) -> None:
    """Call once, when the process has imported what it runs (before serving). `collect`: a full
    collection first, so no garbage is frozen; ~35 ms that a one-off command's start (`contactql
    import`) does without — CPython's own collections during the imports leave none (measured:
    0 unreachable of ~108 000 objects)."""
    if collect:
        gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def _start_helper() -> None:
    # Ctrl-C reaches the whole process group: the server shuts its helper down itself. If the
    # server dies without doing so (SIGKILL, out of memory), the helper must not live on.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with_parent, name="contactql-helper-watch", daemon=True).start()
    tune_gc()


def _crossing(fn: Callable[..., T], *args: object) -> T:
    """`fn(*args)` in the helper, whose error must reach the server: an exception that cannot
    make the trip back (one that does not pickle, or does not unpickle: its class takes other
    arguments than its message) would break the pool, the server's and every later job's. Such
    an error is replaced by a RuntimeError that says what it was."""
    try:
        return fn(*args)
    except Exception as error:
        try:
            pickle.loads(pickle.dumps(error))
        except Exception:
            raise RuntimeError(f"{type(error).__name__}: {error}") from None
        raise


def _exit_with_parent() -> None:
    parent = multiprocessing.parent_process()
    if parent is not None:
        parent.join()  # waits on the parent's sentinel: returns however the parent ended
        os._exit(0)


class Helper:
    """`await helper.run(fn, *args, big=…)`: CPU-heavy, picklable work where it costs the server
    least — big work in the helper process, small work in a thread.

    The process starts with the first big job (`spawn`, never `fork`: the server has threads),
    is replaced if it dies and exits if the server dies; `processes=0` keeps everything in
    threads."""

    def __init__(self, processes: int) -> None:
        self._processes = processes
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None

    async def run(self, fn: Callable[..., T], /, *args: Any, big: bool) -> T:
        if self._processes < 1 or not big:
            return await asyncio.to_thread(fn, *args)
        if self._pool is None:
            context = multiprocessing.get_context("spawn")
            self._pool = concurrent.futures.ProcessPoolExecutor(self._processes, mp_context=context, initializer=_start_helper)
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, _crossing, fn, *args)
        except BrokenProcessPool:
            log.warning("the helper process died; working in a thread, a new process next time")
            if self._pool is not None:
                self._pool.shutdown(wait=False)
                self._pool = None
            return await asyncio.to_thread(fn, *args)

    def close(self) -> None:
        """Stop the helper process, waiting for work under way."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
