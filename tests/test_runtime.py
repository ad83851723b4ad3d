"""runtime.py: big batches are validated in a helper process with the same results as in a
thread; a problem raised there comes back whole; a helper that dies is replaced."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contactql.config import Settings
from contactql.runtime import BIG_BATCH, Helper
from contactql.store.batches import csv as imports
from contactql.store.batches.queue import validate_entries
from contactql.store.errors import ErrorCode, Invalid
from tests.conftest import running
from tests.helpers import serve, submit_batch
from tests.test_batches import STATUS, submit

pytestmark = pytest.mark.system  # a helper process per test: several processes


@pytest.fixture
def helper() -> Iterator[Helper]:
    """A helper of its own, closed after the test."""
    started = Helper(1)
    yield started
    started.close()


def contacts(count: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"email": f"p{i}@example.com", "mobile": f"+4790{i:06d}"} for i in range(count)]
    out[7] = {"email": "not an email"}
    out[count - 1] = {"mobile": "12"}
    return out


async def test_a_big_batch_is_validated_in_the_helper_process_with_the_same_results(settings: Settings, helper: Helper) -> None:
    items = contacts(BIG_BATCH + 50)
    async with running(settings, workers=False, max_batch_size=1000, batch_chunk_size=100) as (app, api):
        batch = (await submit(api, items))["batch"]
        helper_pid = await app.state.services.helper.run(os.getpid, big=True)
        await app.state.batch_worker.drain()
        done = (await api.gql(STATUS, {"id": batch["id"], "failedOnly": True}))["batch"]
    assert helper_pid != os.getpid(), "a big batch is validated in a process of its own"
    assert (done["status"], done["created"], done["failed"]) == ("COMPLETED", len(items) - 2, 2)
    failed = {edge["node"]["index"]: edge["node"]["errors"] for edge in done["results"]["edges"]}
    assert [(e["field"], e["code"]) for e in failed[7]] == [(["contacts", "7", "email"], "INVALID_EMAIL")]
    assert [(e["field"], e["code"]) for e in failed[len(items) - 1]] == [(["contacts", str(len(items) - 1), "mobile"], "INVALID_PHONE")]
    # the same entries as validation in this process gives
    assert await helper.run(validate_entries, items, big=True) == validate_entries(items)


@pytest.mark.parametrize(
    ("data", "says"), [(b"email\n" + b"a@example.com\n" * 6000 + b"\x00", "NUL byte"), (b"email\n" + "bj\xf8rn@example.com\n".encode("latin-1") * 6000, "not UTF-8")]
)
async def test_a_problem_raised_in_the_helper_comes_back_with_its_path_and_code(helper: Helper, data: bytes, says: str) -> None:
    with pytest.raises(Invalid) as raised:
        await helper.run(imports.read_header, data, set(), big=True)
    [problem] = raised.value.problems
    assert (problem.path, problem.code) == (("file",), ErrorCode.INVALID_INPUT)
    assert says in problem.message
    first = await helper.run(os.getpid, big=True)
    assert first != os.getpid() and await helper.run(os.getpid, big=True) == first, "the same helper process goes on"


class Unpicklable(Exception):
    def __init__(self, code: int, detail: str) -> None:
        super().__init__(f"{code}: {detail}")  # args no longer rebuild it: unpickling fails


def raise_unpicklable() -> None:
    raise Unpicklable(7, "boom")


async def test_an_error_that_cannot_cross_back_arrives_as_a_runtime_error_and_the_helper_goes_on(helper: Helper) -> None:
    with pytest.raises(RuntimeError, match="Unpicklable: 7: boom"):
        await helper.run(raise_unpicklable, big=True)
    first = await helper.run(os.getpid, big=True)
    assert await helper.run(os.getpid, big=True) == first != os.getpid()


async def test_a_helper_that_dies_is_replaced_and_no_work_is_lost(helper: Helper) -> None:
    first = await helper.run(os.getpid, big=True)
    os.kill(first, signal.SIGKILL)
    items = contacts(BIG_BATCH)
    assert await helper.run(validate_entries, items, big=True) == validate_entries(items)  # in a thread meanwhile
    second = await helper.run(os.getpid, big=True)
    assert second not in (first, os.getpid())


def test_the_helper_exits_when_the_server_is_killed(database_url: str) -> None:
    with serve(database_url) as (base, key, server):
        assert key is not None
        submit_batch(base, key, size=BIG_BATCH)  # answered once validated: the helper has started
        children = [int(pid) for pid in Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()]
        commands = [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in children]
        assert sum(b"spawn_main" in c for c in commands) == 1, "the big batch started one helper process"
        server.kill()
        server.wait()
        deadline = time.monotonic() + 10
        while alive := [pid for pid in children if _running(pid)]:  # the helper, and multiprocessing's resource tracker
            assert time.monotonic() < deadline, f"{alive} outlived the server by 10 s"
            time.sleep(0.05)


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


async def test_small_work_and_processes_0_stay_in_this_process() -> None:
    assert await Helper(1).run(os.getpid, big=False) == os.getpid()
    assert await Helper(0).run(os.getpid, big=True) == os.getpid()
