"""Schema-driven fuzzing with hypothesis-graphql over the real ASGI app.

Documents are generated from the committed schema.graphql: valid queries and mutations must
never give HTTP 5xx or an internal error, invalid documents must give GraphQL errors (with a
code), never 5xx. CONTACTQL_FUZZ_EXAMPLES raises the example count (default modest for CI).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import hypothesis_graphql
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import nodes

from contactql.app import create_app
from contactql.config import Settings
from contactql.outbound import tls
from contactql.store.model import Scope
from contactql.store.workspace.keys import new_key
from tests.helpers import repo_root

pytestmark = pytest.mark.system  # real servers, browsers, npm clients or processes: left out of the fast loop

EXAMPLES = int(os.environ.get("CONTACTQL_FUZZ_EXAMPLES", "60"))
SCHEMA = (repo_root() / "schema.graphql").read_text()
SCALARS = {
    "DateTime": st.datetimes(timezones=st.just(dt.UTC)).map(lambda d: nodes.String(d.isoformat())),
    "JSON": st.text(max_size=20).map(nodes.String),
    "Upload": st.just(nodes.Null),  # files only travel as multipart parts
}
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


class AppThread:
    """The real app (lifespan included) on an event loop of its own, called synchronously —
    Hypothesis drives plain functions."""

    def __init__(self, database_url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.app = create_app(Settings(database_url=database_url, rate_limit_per_minute=10_000_000))
        self.lifespan = self.app.router.lifespan_context(self.app)
        self.run(self.lifespan.__aenter__())
        self.http = httpx.AsyncClient(verify=tls(), transport=httpx.ASGITransport(app=self.app), base_url="http://fuzz")
        key = self.run(self.app.state.services.db.write(new_key, workspace="default", scope=Scope.ADMIN, name="fuzz"))
        self.headers = {"Authorization": f"Bearer {key}"}

    def run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=60)

    def post(self, document: str) -> httpx.Response:
        return self.run(self.http.post("/graphql", json={"query": document}, headers=self.headers))

    def close(self) -> None:
        self.run(self.http.aclose())
        self.run(self.lifespan.__aexit__(None, None, None))
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture
def client(database_url: str) -> Iterator[AppThread]:
    app = AppThread(database_url)
    yield app
    app.close()


def check_valid(client: AppThread, document: str) -> None:
    response = client.post(document)
    assert response.status_code < 500, response.text
    body: dict[str, Any] = response.json()
    for error in body.get("errors") or ():
        code = error.get("extensions", {}).get("code")
        assert code in {"INVALID_INPUT", "FORBIDDEN", "RATE_LIMITED", "COST_LIMIT"}, (document, error)
        assert "Traceback" not in error["message"] and "sqlalchemy" not in error["message"].lower()


@FUZZ
@given(document=hypothesis_graphql.queries(SCHEMA, custom_scalars=SCALARS))
def test_valid_queries_never_fail_the_server(client: AppThread, document: str) -> None:
    check_valid(client, document)


@FUZZ
@given(document=hypothesis_graphql.mutations(SCHEMA, custom_scalars=SCALARS))
def test_valid_mutations_never_fail_the_server(client: AppThread, document: str) -> None:
    check_valid(client, document)


@FUZZ
@given(document=hypothesis_graphql.queries(SCHEMA, custom_scalars=SCALARS, mode=hypothesis_graphql.Mode.NEGATIVE) | st.text(max_size=200))
def test_invalid_documents_are_graphql_errors_not_5xx(client: AppThread, document: str) -> None:
    response = client.post(document)
    assert response.status_code < 500, response.text
    if response.status_code == 200:
        body = response.json()
        for error in body.get("errors") or ():
            assert error.get("extensions", {}).get("code"), error
