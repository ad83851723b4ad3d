"""Background loops under the defaults: the webhook schedule as configured (moved through by
a test clock, never shortened), and every loop surviving a failure injected into it."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import sqlite3
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from contactql.app import create_app
from contactql.config import SVIX_RETRY_DELAYS, Settings
from contactql.outbound import tls
from contactql.store.batches import outbox as webhooks
from contactql.store.batches import queue as batches
from contactql.store.db import checkpoint
from contactql.store.model import Scope
from contactql.store.upsert import idempotency
from contactql.supervise import MAX_BACKOFF_SECONDS, supervised
from contactql.workers import housekeeping
from tests.conftest import TestClock, make_key, running
from tests.helpers import Api, query
from tests.test_batches import submit, wait_finished


class FailingOnce:
    """Stands in for a function: the first call raises `error`, later calls run the real one."""

    def __init__(self, real: Any, error: Exception) -> None:
        self.real, self.error, self.calls = real, error, 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if self.calls == 1:
            raise self.error
        return self.real(*args, **kwargs)


@contextlib.asynccontextmanager
async def started(settings: Settings, clock: TestClock) -> AsyncIterator[tuple[Any, Api]]:
    # Private addresses allowed: the receiver listens on 127.0.0.1. Every other setting is the default.
    app = create_app(settings.replace(allow_private_webhooks=True), clock=clock)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(verify=tls(), transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            yield app, Api(http, await make_key(app, scope=Scope.ADMIN))


def delivery(database_url: str, batch_id: str) -> tuple[str, int, Any, str | None]:
    """The batch's webhook delivery: (status, attempts, next attempt, last error); ("NONE", 0, …)
    until the batch has finished."""
    rows = query(database_url, f"SELECT status, attempts, next_attempt_at, last_error FROM webhook_delivery WHERE batch_id = '{batch_id}'")
    if not rows:
        return "NONE", 0, None, None
    [(state, attempts, next_at, error)] = rows
    if isinstance(next_at, str):  # SQLite hands back its text
        next_at = dt.datetime.fromisoformat(next_at)
    return state, attempts, next_at if next_at.tzinfo else next_at.replace(tzinfo=dt.UTC), error


async def attempts_reach(database_url: str, batch_id: str, attempts: int) -> tuple[str, int, Any, str | None]:
    for _ in range(1000):  # bounded: 10 s
        found = delivery(database_url, batch_id)
        if found[1] >= attempts:
            return found
        await asyncio.sleep(0.01)
    raise AssertionError(f"still {found} waiting for attempt {attempts}")


async def test_a_failing_receiver_is_retried_on_svix_s_schedule_until_it_fails(settings: Settings, database_url: str, receiver: Any) -> None:
    hook = await receiver([500])
    clock = TestClock()
    async with started(settings, clock) as (app, api):
        batch = (await submit(api, [{"email": "a@example.com"}], webhookUrl=hook.url))["batch"]
        await wait_finished(api, batch["id"])
        state, attempts, next_at, error = await attempts_reach(database_url, batch["id"], 1)
        assert (state, error) == ("PENDING", "HTTP 500")
        for number, delay in enumerate(SVIX_RETRY_DELAYS, start=2):
            waited = (next_at - clock()).total_seconds()
            assert 0.9 * delay - 1 <= waited <= 1.1 * delay, (number, waited, delay)  # the schedule, with its ±10 % jitter
            clock.advance(waited - 1)
            await app.state.webhook_sender.settled()  # it looked, and found nothing due
            assert delivery(database_url, batch["id"])[1] == number - 1, "nothing is sent before it is due"
            clock.advance(1.5)
            app.state.webhook_sender.wake()
            state, attempts, next_at, error = await attempts_reach(database_url, batch["id"], number)
        assert (state, attempts, error) == ("FAILED", 8, "HTTP 500")
        assert len(hook.calls) == 8 and len({headers["webhook-id"] for headers, _ in hook.calls}) == 1
        webhook = (await api.gql("query W($id: ID!) { batch(id: $id) { webhook { status attempts } } }", {"id": batch["id"]}))["batch"]["webhook"]
        assert (webhook["status"], webhook["attempts"]) == ("FAILED", 8)


async def test_one_failed_delivery_is_delivered_on_the_next_attempt_and_later_webhooks_still_go(settings: Settings, database_url: str, receiver: Any) -> None:
    hook = await receiver([500, 204, 204])
    clock = TestClock()
    async with started(settings, clock) as (app, api):
        first = (await submit(api, [{"email": "a@example.com"}], webhookUrl=hook.url))["batch"]
        await attempts_reach(database_url, first["id"], 1)
        clock.advance(6)
        app.state.webhook_sender.wake()
        assert (await attempts_reach(database_url, first["id"], 2))[0] == "DELIVERED"
        second = (await submit(api, [{"email": "b@example.com"}], webhookUrl=hook.url))["batch"]
        assert (await attempts_reach(database_url, second["id"], 1))[:2] == ("DELIVERED", 1)


async def test_the_webhook_sender_survives_an_unexpected_error_in_an_attempt(
    settings: Settings, database_url: str, receiver: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    hook = await receiver([204])
    clock = TestClock()
    record = FailingOnce(webhooks.record_attempt, RuntimeError("injected: recording the attempt failed"))
    monkeypatch.setattr(webhooks, "record_attempt", record)
    async with started(settings, clock) as (app, api):
        batch = (await submit(api, [{"email": "a@example.com"}], webhookUrl=hook.url))["batch"]
        for _ in range(500):
            if record.calls:
                break
            await asyncio.sleep(0.01)
        await app.state.webhook_sender.settled()  # the loop went on past the error, and idles
        assert delivery(database_url, batch["id"])[:2] == ("PENDING", 0), "kept, under its lease"
        clock.advance(31)  # the lease of the attempt that failed runs out
        app.state.webhook_sender.wake()
        assert (await attempts_reach(database_url, batch["id"], 1))[0] == "DELIVERED"
        assert app.state.webhook_sender is not None and len(hook.calls) == 2
    assert any("failed unexpectedly" in r.getMessage() and r.exc_info for r in caplog.records)


async def test_every_loop_goes_on_after_an_error_in_one_step(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, receiver: Any, database_url: str
) -> None:
    """The batch worker's claim and the webhook sender's claim each fail once; both go on."""
    hook = await receiver([204])
    claims = {
        "batches": FailingOnce(batches.claim_next_batch, sqlite3.DatabaseError("injected into the batch worker")),
        "webhooks": FailingOnce(webhooks.claim_due, sqlite3.DatabaseError("injected into the webhook sender")),
    }
    monkeypatch.setattr(batches, "claim_next_batch", claims["batches"])
    monkeypatch.setattr(webhooks, "claim_due", claims["webhooks"])
    async with started(settings, TestClock()) as (_, api):
        batch = (await submit(api, [{"email": "a@example.com"}], webhookUrl=hook.url))["batch"]
        assert (await wait_finished(api, batch["id"]))["status"] == "COMPLETED"
        assert (await attempts_reach(database_url, batch["id"], 1))[0] == "DELIVERED"
    assert all(claim.calls >= 2 for claim in claims.values())
    logged = [r for r in caplog.records if "unexpected error" in r.getMessage()]
    assert {r.getMessage().split(":")[0] for r in logged} >= {"batch worker", "webhook sender"} and all(r.exc_info for r in logged)


async def test_supervision_backs_off_while_errors_last_and_resets_after_a_good_step() -> None:
    outcomes = [False, False, False, True, False]
    pauses: list[float] = []

    async def step() -> None:
        if not outcomes:
            raise asyncio.CancelledError
        if not outcomes.pop(0):
            raise ValueError("injected")

    async def pause(seconds: float) -> None:
        pauses.append(seconds)

    with pytest.raises(asyncio.CancelledError):
        await supervised("test loop", step, pause=pause)
    assert pauses == [0.5, 1.0, 2.0, 0.5]
    assert MAX_BACKOFF_SECONDS == 30.0


async def test_a_busy_database_is_one_warning_line_and_the_loop_goes_on(tmp_path: Any, caplog: pytest.LogCaptureFixture) -> None:
    """Another process holding the SQLite write lock past the busy timeout is not a fault of the
    loop's: one warning line per failed step (no traceback), the same backoff, and the loop goes
    on. The error is SQLite's own, from a real file whose lock a second connection holds."""
    path = tmp_path / "busy.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    steps: list[str] = []

    async def step() -> None:
        if len(steps) == 2:
            raise asyncio.CancelledError
        writer = sqlite3.connect(path, isolation_level=None, timeout=0)
        try:
            writer.execute("BEGIN IMMEDIATE")  # refused: "database is locked"
        finally:
            steps.append("tried")
            writer.close()

    pauses: list[float] = []

    async def pause(seconds: float) -> None:
        pauses.append(seconds)

    try:
        with caplog.at_level(logging.WARNING, logger="contactql"), pytest.raises(asyncio.CancelledError):
            await supervised("test loop", step, pause=pause)
    finally:
        holder.close()
    logged = [r for r in caplog.records if r.name == "contactql.supervise"]
    assert pauses == [0.5, 1.0] and len(logged) == 2, caplog.text
    assert all(r.levelno == logging.WARNING and r.exc_info is None and "database is busy" in r.getMessage() for r in logged)
    assert logged[0].getMessage() == "test loop: the database is busy — another process holds its write lock (1 in a row); going on in 0.5 s"


async def test_housekeeping_deletes_expired_idempotency_records_and_survives_an_error(
    app: Any, api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, database_url: str
) -> None:
    await api.upsert({"email": "k@example.com"}, idempotencyKey="k-1")
    assert query(database_url, "SELECT count(*) FROM idempotency_key") == [(1,)]
    clock = TestClock()
    keeper = housekeeping.Housekeeper(app.state.services.db, clock)
    assert await keeper.sweep() == 0, "a day has not passed"
    clock.advance(24 * 3600 + 1)
    purge = FailingOnce(idempotency.purge_expired, RuntimeError("injected"))
    monkeypatch.setattr(idempotency, "purge_expired", purge)
    task = asyncio.create_task(keeper.run())
    for _ in range(300):
        if query(database_url, "SELECT count(*) FROM idempotency_key") == [(0,)]:
            break
        await asyncio.sleep(0.01)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert query(database_url, "SELECT count(*) FROM idempotency_key") == [(0,)]
    assert purge.calls == 2 and any("housekeeping: unexpected error" in r.getMessage() for r in caplog.records)


async def test_the_checkpointer_survives_an_unexpected_error(tmp_path: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """On a SQLite file whatever the engine under test: the checkpointer is SQLite's."""
    checkpoints = FailingOnce(checkpoint._checkpoint_now, ValueError("injected into the checkpointer"))
    monkeypatch.setattr(checkpoint, "_checkpoint_now", checkpoints)
    with caplog.at_level(logging.ERROR, logger="contactql.checkpoint"):
        async with running(Settings(database_url=f"sqlite:///{tmp_path / 'wal.db'}")) as (_, api):
            for i in range(100):  # bounded: the checkpointer goes on after its pause of about a second
                await api.upsert({"email": f"c{i}@example.com"})
                if checkpoints.calls >= 2:
                    break
                await asyncio.sleep(0.05)
    assert checkpoints.calls >= 2, "it checkpointed again after the error"
    assert any("injected into the checkpointer" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)
