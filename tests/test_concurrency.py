"""Concurrent upserts against a real `contactql serve` on 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections import Counter
from pathlib import Path

import httpx
import pytest

from contactql.config import Settings
from contactql.outbound import tls
from tests.conftest import running
from tests.helpers import UPSERT, serve
from tests.test_batches import SUBMIT, submit, wait_finished


@pytest.mark.system
async def test_twenty_concurrent_upserts_of_one_new_email_make_one_contact(database_url: str) -> None:
    with serve(database_url) as (base, key, _):
        assert key is not None
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(verify=tls(), base_url=base, headers=headers, timeout=30) as client:

            async def one(i: int) -> dict[str, object]:
                body = {"query": UPSERT, "variables": {"input": {"contact": {"email": "same@example.com", "firstName": f"N{i % 3}"}}}}
                response = await client.post("/graphql", json=body)
                assert response.status_code == 200, response.text
                payload = response.json()
                assert "errors" not in payload, payload
                return payload["data"]["upsertContact"]

            results = await asyncio.gather(*(one(i) for i in range(20)))
            outcomes = Counter(r["outcome"] for r in results)
            assert outcomes["CREATED"] == 1
            assert outcomes["UPDATED"] + outcomes["UNCHANGED"] == 19
            assert all(r["userErrors"] == [] for r in results)
            assert len({r["contact"]["id"] for r in results}) == 1

            listing = await client.post("/graphql", json={"query": "{ contacts { totalCount } }"})
            assert listing.json()["data"]["contacts"]["totalCount"] == 1


@pytest.mark.system
async def test_concurrent_upserts_of_many_identities_make_one_contact_each(database_url: str) -> None:
    with serve(database_url) as (base, key, _):
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(verify=tls(), base_url=base, headers=headers, timeout=30) as client:

            async def one(i: int) -> str:
                contact = {"email": f"p{i % 10}@example.com", "mobile": f"+47900000{i % 10:02d}", "lists": {"add": [{"name": "All"}]}}
                response = await client.post("/graphql", json={"query": UPSERT, "variables": {"input": {"contact": contact}}})
                data = response.json()["data"]["upsertContact"]
                assert data["userErrors"] == []
                return str(data["outcome"])

            outcomes = Counter(await asyncio.gather(*(one(i) for i in range(60))))
            assert outcomes["CREATED"] == 10
            listing = await client.post("/graphql", json={"query": "{ contacts { totalCount } lists { totalCount edges { node { size } } } }"})
            data = listing.json()["data"]
            assert data["contacts"]["totalCount"] == 10
            assert data["lists"]["totalCount"] == 1
            assert data["lists"]["edges"][0]["node"]["size"] == 10


@pytest.mark.system
async def test_a_write_lock_held_by_another_process_never_stalls_the_server(tmp_path: Path) -> None:
    """Single upserts run their statements on the event loop (Database.write_here). While
    another connection holds SQLite's write lock, an upsert waits for it on the writer thread:
    the server goes on answering, and the upsert lands once the lock is free."""
    path = tmp_path / "locked.db"
    busy_timeout_s = 5
    async with running(Settings(database_url=f"sqlite+aiosqlite:///{path}", sqlite_busy_timeout_ms=busy_timeout_s * 1000)) as (_, api):
        loop = asyncio.get_running_loop()
        ticks: list[float] = []

        async def tick() -> None:  # a stalled loop shows as a gap between ticks
            for _ in range(1000):  # bounded: ~10 s
                ticks.append(loop.time())
                await asyncio.sleep(0.01)

        other = sqlite3.connect(path, isolation_level=None)
        ticker = asyncio.create_task(tick())
        try:
            other.execute("BEGIN IMMEDIATE")  # as another process's writer would
            waiting = asyncio.create_task(api.upsert({"email": "held@example.com"}))
            await asyncio.sleep(1)
            assert not waiting.done()
            assert (await api.http.get("/healthz")).status_code == 200
            assert (await api.gql("{ contacts(first: 1) { edges { node { id } } } }"))["contacts"]["edges"] == []
            assert not waiting.done(), "answered while the lock was held elsewhere"
            other.execute("COMMIT")
            made = await asyncio.wait_for(waiting, 2 * busy_timeout_s)
        finally:
            ticker.cancel()
            other.close()
    assert made["outcome"] == "CREATED" and made["userErrors"] == []
    longest = max(b - a for a, b in zip(ticks, ticks[1:], strict=False))
    assert longest < busy_timeout_s / 2, f"the event loop stalled {longest:.1f} s waiting for the lock"


@pytest.mark.system
async def test_a_batch_is_never_starved_by_a_stream_of_single_upserts(tmp_path: Path) -> None:
    """A batch's chunks wait for the write lock on the writer thread, up to the busy timeout,
    while single upserts take it on the event loop without waiting (Database.write_here). The
    two go on side by side: with a busy timeout this short, a chunk kept from the lock by
    back-to-back upserts would fail the batch."""
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'stream.db'}", sqlite_busy_timeout_ms=300)
    async with running(settings, max_batch_size=500, batch_chunk_size=4) as (_, api):
        batch = (await submit(api, [{"email": f"b{i}@example.com"} for i in range(400)]))["batch"]
        finished = asyncio.Event()

        async def client(n: int) -> list[str]:
            outcomes = []
            for i in range(200):  # bounded: stops with the batch or after 200 upserts
                if finished.is_set():
                    break
                made = await api.upsert({"email": f"s{n}-{i % 20}@example.com", "firstName": f"F{i}"})
                assert made["userErrors"] == [], made
                outcomes.append(made["outcome"])
            return outcomes

        async def watch() -> dict[str, object]:
            try:
                return await wait_finished(api, batch["id"], within=60)
            finally:
                finished.set()

        done, *streams = await asyncio.gather(watch(), *(client(n) for n in range(16)))
    assert (done["status"], done["created"], done["failed"]) == ("COMPLETED", 400, 0), done
    assert sum(map(len, streams)) >= 16, "the stream of upserts ran alongside the batch"


async def test_a_write_lock_held_past_the_busy_timeout_is_unavailable_not_a_fault(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Another process keeps SQLite's write lock longer than CONTACTQL_SQLITE_BUSY_TIMEOUT_MS:
    the write is refused as UNAVAILABLE with retryAfter (nothing was written), logged as a
    warning without a traceback, and the same request succeeds once the lock is free."""
    path = tmp_path / "held.db"
    # A short busy timeout: the setting under test, so the write gives up while the lock is held.
    async with running(Settings(database_url=f"sqlite+aiosqlite:///{path}", sqlite_busy_timeout_ms=200)) as (_, api):
        other = sqlite3.connect(path, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # as another process's writer would
            variables = {"input": {"contact": {"email": "held@example.com"}}}
            body = (await api.post(UPSERT, variables)).json()
            [error] = body["errors"]
            assert error["extensions"]["code"] == "UNAVAILABLE" and error["extensions"]["retryAfter"] == 1, body
            assert "try again" in error["message"] and "sqlite" not in error["message"].lower() and "SELECT" not in error["message"]
            batch = (await api.post(SUBMIT, {"input": {"contacts": [{"email": "b@example.com"}]}})).json()
            assert batch["errors"][0]["extensions"]["code"] == "UNAVAILABLE", batch
            assert not [r for r in caplog.records if r.levelno >= logging.ERROR and "unexpected error at" in r.getMessage()], caplog.text
        finally:
            other.execute("ROLLBACK")
            other.close()
        made = await api.upsert({"email": "held@example.com"})
        assert made["outcome"] == "CREATED"
