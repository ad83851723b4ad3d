"""`/healthz` and `/readyz` (contactql/health.py), as an orchestrator's probe sees them: no key,
JSON, 503 naming what failed, and nothing a stranger should read."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import sqlalchemy as sa

from contactql.config import Settings
from contactql.store.db import migrate
from tests.conftest import running
from tests.helpers import Api, pg_admin

LOOPS = ("batch-worker", "webhook-sender", "export-worker", "bulk-worker", "housekeeping")


async def test_a_started_server_is_ready_and_says_what_it_checked(api: Api, database_url: str) -> None:
    answer = await api.http.get("/readyz")  # no key: probes have none
    assert answer.status_code == 200
    checks = {"database": "ok", "migrations": "ok", **dict.fromkeys(LOOPS, "ok")}
    if database_url.startswith("sqlite"):
        checks["sqlite-checkpointer"] = "ok"
    assert answer.json() == {"status": "ready", "checks": checks}


async def test_a_background_loop_that_stopped_makes_the_server_not_ready(app: Any, api: Api) -> None:
    [sender] = [task for task in app.state.readiness.loops if task.get_name() == "webhook-sender"]
    sender.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sender
    answer = await api.http.get("/readyz")
    assert answer.status_code == 503
    body = answer.json()
    assert body["status"] == "not ready" and body["checks"]["webhook-sender"] == "stopped" and body["checks"]["batch-worker"] == "ok"
    assert (await api.http.get("/healthz")).status_code == 200  # alive all the same: a restart is the orchestrator's call


async def test_a_database_behind_the_code_makes_the_server_not_ready(app: Any, api: Api) -> None:
    await app.state.services.db.write(lambda conn: conn.execute(sa.text("UPDATE alembic_version SET version_num = '0001'")))
    answer = await api.http.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["checks"]["migrations"] == f"at 0001, this server needs {migrate.head()}"
    assert answer.json()["checks"]["database"] == "ok"


async def test_a_database_that_does_not_answer_makes_the_server_not_ready_without_saying_why(app: Any, api: Api, database_url: str) -> None:
    if database_url.startswith("sqlite"):
        await app.state.services.db.dispose()  # closed under the server: every read fails
    else:  # the database is gone from the PostgreSQL server, connections and all
        await pg_admin(f"DROP DATABASE {sa.make_url(database_url).database} WITH (FORCE)")
    answer = await api.http.get("/readyz")
    assert answer.status_code == 503
    assert answer.json()["checks"]["database"] == "unavailable" and answer.json()["checks"]["migrations"] == "unknown"
    text = answer.text.lower()
    for leak in ("traceback", "sqlite3", "sqlalchemy", "asyncpg", ".db", "/tmp", "error", "shutdown"):
        assert leak not in text, leak


async def test_an_api_only_server_is_ready_without_loops(settings: Settings) -> None:
    async with running(settings, workers=False) as (_, api):
        answer = await api.http.get("/readyz")
    assert answer.status_code == 200
    assert answer.json()["checks"]["workers"] == "off (CONTACTQL_WORKERS=false)"
    assert not set(LOOPS) & answer.json()["checks"].keys()
