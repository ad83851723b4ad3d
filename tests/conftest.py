"""Shared fixtures: a fresh SQLite file per test, the real ASGI app, keys of every scope.

GraphQL goes through the real app over httpx's ASGI transport; tests that need a real server
start `contactql serve` on 127.0.0.1 (see `serve` in helpers.py).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from contactql.app import create_app
from contactql.config import Settings
from contactql.store.keys import new_key
from contactql.store.model import Scope
from tests.helpers import Api


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'contactql.db'}")


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Any]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def http(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


async def make_key(app: Any, *, workspace: str = "default", scope: Scope = Scope.WRITE, name: str | None = None) -> str:
    return str(await app.state.services.db.write(new_key, workspace=workspace, scope=scope, name=name or f"{workspace}-{scope.value}"))


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
def count_statements(app: Any) -> Any:
    """Count the SQL statements the app sends while the block runs."""
    from sqlalchemy import event

    engine = app.state.services.db.engine
    seen: list[str] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", before)
