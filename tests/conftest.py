"""Shared fixtures: a fresh database per test, the real ASGI app, keys of every scope.

The engine: SQLite files by default; with CONTACTQL_TEST_DATABASE set to a PostgreSQL URL
(e.g. from scripts/pg-start), a fresh PostgreSQL database per test, copied from a template
the migrations built once per session. GraphQL goes through the real app over httpx's ASGI
transport; tests that need a real server start `contactql serve` on 127.0.0.1 (helpers.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from contactql.app import create_app
from contactql.config import Settings
from contactql.outbound import tls
from contactql.store.db.database import Database
from contactql.store.model import Scope
from contactql.store.workspace.keys import new_key
from tests.helpers import POSTGRES, Api, free_port, pg_admin, pg_url, run_async


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str | None]:
    """On PostgreSQL: a migrated template database, copied for every test."""
    if POSTGRES is None:
        yield None
        return
    name = f"contactql_template_{os.getpid()}"
    run_async(lambda: pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", f"CREATE DATABASE {name}"))
    run_async(lambda: _migrate(pg_url(name)))
    yield name
    run_async(lambda: pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


async def _migrate(url: str) -> None:
    db = Database(Settings(database_url=url))
    await db.migrate()
    await db.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file the migrations built once per session; each test gets a copy (migrating per
    test cost more than most tests)."""
    path = tmp_path_factory.mktemp("template") / "contactql.db"
    run_async(lambda: _migrate(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture
def database_url(tmp_path: Path, postgres_template: str | None, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh database for this test: a copy of the migrated SQLite template, or a PostgreSQL
    database copied from its template."""
    if postgres_template is None:
        path = tmp_path / "contactql.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    name = f"t_{uuid.uuid4().hex[:16]}"
    run_async(lambda: pg_admin(f"CREATE DATABASE {name} TEMPLATE {postgres_template}"))
    yield pg_url(name)
    run_async(lambda: pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Any]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def http(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(verify=tls(), transport=transport, base_url="http://testserver") as client:
        yield client


async def make_key(app: Any, *, workspace: str = "default", scope: Scope = Scope.WRITE, name: str | None = None) -> str:
    return str(await app.state.services.db.write(new_key, workspace=workspace, scope=scope, name=name))


@contextlib.asynccontextmanager
async def running(settings: Settings, *, scope: Scope = Scope.WRITE, **changes: Any) -> AsyncIterator[tuple[Any, Api]]:
    """The real app with some settings changed, started, and a client holding a key of `scope`."""
    app = create_app(settings.replace(**changes))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(verify=tls(), transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            yield app, Api(http, await make_key(app, scope=scope))


@pytest.fixture
async def api(app: Any, http: httpx.AsyncClient) -> Api:
    """A write-scoped client of workspace `default`."""
    return Api(http, await make_key(app, scope=Scope.WRITE, name="test-writer"))


@pytest.fixture
async def admin(app: Any, http: httpx.AsyncClient) -> Api:
    return Api(http, await make_key(app, scope=Scope.ADMIN, name="test-admin"))


@pytest.fixture
async def reader(app: Any, http: httpx.AsyncClient) -> Api:
    return Api(http, await make_key(app, scope=Scope.READ, name="test-reader"))


@pytest.fixture
async def other_workspace(app: Any, http: httpx.AsyncClient) -> Api:
    return Api(http, await make_key(app, workspace="other", scope=Scope.WRITE, name="other-writer"))


@contextlib.contextmanager
def count_statements(app: Any, *, with_params: bool = False) -> Any:
    """Count the SQL statements the app sends while the block runs; `with_params`: each as
    (statement, parameters), the first row's for an executemany."""
    from sqlalchemy import event

    engine = app.state.services.db.engine
    seen: list[Any] = []

    def before(conn: Any, cursor: Any, statement: str, params: Any, context: Any, executemany: bool) -> None:
        seen.append((statement, params[0] if executemany else params) if with_params else statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)


class TestClock:
    """The time the app's background loops schedule by: real time plus what a test moved it
    forward by — webhook retries are tested on their real schedule, never a shortened one."""

    __test__ = False

    def __init__(self) -> None:
        self.offset = dt.timedelta()

    def __call__(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += dt.timedelta(seconds=seconds)


@pytest.fixture
def clock() -> TestClock:
    return TestClock()


class Receiver:
    """A real HTTP receiver on 127.0.0.1 answering with the statuses it is given, in turn."""

    def __init__(self, statuses: list[int], *, hold_first: bool = False) -> None:
        """`hold_first`: the first call gets no answer until the receiver stops (bounded: 30 s)."""
        self.statuses = statuses
        self.calls: list[tuple[dict[str, str], bytes]] = []
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.hold_first = hold_first
        self.released = asyncio.Event()

    async def hook(self, request: Request) -> PlainTextResponse:
        self.calls.append((dict(request.headers), await request.body()))
        if self.hold_first and len(self.calls) == 1:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(30):
                    await self.released.wait()
        code = self.statuses[min(len(self.calls), len(self.statuses)) - 1]
        return PlainTextResponse("ok" if code < 300 else "nope", status_code=code)


@pytest.fixture
async def receiver() -> AsyncIterator[Any]:
    started: list[tuple[Receiver, uvicorn.Server, asyncio.Task[None]]] = []

    async def start(statuses: list[int], *, hold_first: bool = False) -> Receiver:
        hook = Receiver(statuses, hold_first=hold_first)
        app = Starlette(routes=[Route("/hook", hook.hook, methods=["POST"])])
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=hook.port, log_level="warning", lifespan="off"))
        task = asyncio.create_task(server.serve())
        for _ in range(200):
            if server.started:
                break
            await asyncio.sleep(0.01)
        started.append((hook, server, task))
        return hook

    yield start
    for hook, server, task in started:
        hook.released.set()
        server.should_exit = True
        await task


@pytest.fixture
async def live(settings: Settings, clock: TestClock) -> AsyncIterator[tuple[Any, Api, str]]:
    """The app with its workers running and private webhooks allowed (receivers listen on
    127.0.0.1); its background loops run by `clock`."""
    app = create_app(settings.replace(allow_private_webhooks=True), clock=clock)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(verify=tls(), transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
            admin = Api(http, await make_key(app, scope=Scope.ADMIN, name="admin"))
            secret = (await admin.gql("{ workspace { webhookSecret } }"))["workspace"]["webhookSecret"]
            yield app, admin, secret


