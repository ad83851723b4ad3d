"""Test helpers: a GraphQL client bound to one API key, the upsert document, a real server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import httpx

from contactql.config import normalise_url
from contactql.outbound import tls

# The engine the tests run on: None for SQLite, else a PostgreSQL server's URL.
POSTGRES = os.environ.get("CONTACTQL_TEST_DATABASE") or None
if POSTGRES is not None and not POSTGRES.startswith("postgres"):
    POSTGRES = None


T = TypeVar("T")


def run_async(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """`asyncio.run(make())` on a thread of its own: sync fixtures and tests may run inside a
    loop already (Playwright's sync API keeps one running)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result()


def pg_url(database: str) -> str:
    """The URL of `database` on the test PostgreSQL server (async driver form)."""
    assert POSTGRES is not None
    base = normalise_url(POSTGRES)
    return base.rsplit("/", 1)[0] + "/" + database


async def pg_admin(*statements: str) -> None:
    """Run statements that cannot run in a transaction (CREATE/DROP DATABASE)."""
    import asyncpg

    assert POSTGRES is not None
    conn = await asyncpg.connect(POSTGRES.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def query(database_url: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Rows of one SQL statement on a test database, whichever the engine (none for DDL)."""
    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import create_async_engine

    async def run() -> list[tuple[Any, ...]]:
        engine = create_async_engine(normalise_url(database_url))
        try:
            async with engine.begin() as conn:  # committed: a statement may change the database too
                result = await conn.exec_driver_sql(sql, params) if params else await conn.execute(sa.text(sql))
                return [tuple(row) for row in result] if result.returns_rows else []
        finally:
            await engine.dispose()

    return run_async(run)

CONTACT_FIELDS = """
  id externalId email mobile mobileCountryCode firstName lastName emailStatus smsStatus
  emailOptIn mobileOptIn privacyConsent confirmed source createdBy deletedAt
  address { town region address postcode }
  properties { field { id name type } value }
  lists { id name }
  companies { id name }
  externalUrls { ref url label }
"""

UPSERT = f"""
mutation Upsert($input: UpsertContactInput!) {{
  upsertContact(input: $input) {{
    outcome matchedBy changedFields
    contact {{ {CONTACT_FIELDS} }}
    contacts {{ id }}
    invalidProperties {{ fieldId name value reason }}
    invalidContactIds
    userErrors {{ field code message }}
  }}
}}
"""


class Api:
    def __init__(self, http: httpx.AsyncClient, key: str) -> None:
        self.http = http
        self.key = key

    async def post(self, query: str, variables: dict[str, Any] | None = None, *, key: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key or self.key}"}
        return await self.http.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)

    async def gql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run an operation that must succeed; returns `data`."""
        response = await self.post(query, variables)
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body["errors"]
        return body["data"]

    async def errors(self, query: str, variables: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run an operation that must fail with GraphQL errors; returns them."""
        response = await self.post(query, variables)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body.get("errors"), body
        return body["errors"]

    async def upsert(self, contact: dict[str, Any], **options: Any) -> dict[str, Any]:
        data = await self.gql(UPSERT, {"input": {"contact": contact, **options}})
        return data["upsertContact"]

    async def property_field(self, name: str, type: str = "TEXT", options: list[str] | None = None) -> str:
        data = await self.gql(
            "mutation F($input: PropertyFieldInput!) { createPropertyField(input: $input) { field { id } userErrors { code } } }",
            {"input": {"name": name, "type": type, "options": options}},
        )
        assert data["createPropertyField"]["userErrors"] == []
        return data["createPropertyField"]["field"]["id"]

    async def create_list(self, name: str) -> str:
        data = await self.gql("mutation L($n: String!) { createList(name: $n) { list { id } userErrors { code } } }", {"n": name})
        return data["createList"]["list"]["id"]

    async def contact(self, contact_id: str) -> dict[str, Any] | None:
        data = await self.gql(f"query C($id: ID!) {{ contact(id: $id) {{ {CONTACT_FIELDS} }} }}", {"id": contact_id})
        return data["contact"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def serve(
    database_url: str, *, env: dict[str, str] | None = None, port: int | None = None, log: Path | None = None
) -> Iterator[tuple[str, str | None, subprocess.Popen[str]]]:
    """`contactql serve` on 127.0.0.1 in a subprocess; yields (base URL, first-start key, process).

    The server's stderr goes to `log` (a file, so a chatty server can never block on a full pipe)."""
    port = port or free_port()
    command = [sys.executable, "-m", "contactql.cli", "serve", "--port", str(port), "--database", database_url]  # as README starts it
    log_file = open(log or os.devnull, "a")  # noqa: SIM115 - closed below
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log_file, text=True, env={**os.environ, **(env or {})})
    base = f"http://127.0.0.1:{port}"
    try:
        key = _wait_until_up(process, base)
        yield base, key, process
    finally:
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        assert process.stdout is not None
        process.stdout.close()
        log_file.close()


def _wait_until_up(process: subprocess.Popen[str], base: str) -> str | None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"contactql serve exited with {process.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1, trust_env=False).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    else:
        raise RuntimeError("contactql serve did not start within 30 s")
    # The first-start key is printed alone on stdout before the server starts.
    assert process.stdout is not None
    import select

    ready, _, _ = select.select([process.stdout], [], [], 0.5)
    line = process.stdout.readline().strip() if ready else ""
    return line or None


def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


def submit_batch(base: str, key: str, size: int = 3000, name: str = "watched") -> str:
    """Submit a batch of `size` new contacts to a running server; returns its id."""
    submit = "mutation S($input: UpsertContactsInput!) { upsertContacts(input: $input) { batch { id } } }"
    contacts = [{"email": f"{name}{i}@example.com"} for i in range(size)]
    with httpx.Client(verify=tls(), base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60) as http:
        response = http.post("/graphql", json={"query": submit, "variables": {"input": {"contacts": contacts}}})
    return str(response.json()["data"]["upsertContacts"]["batch"]["id"])


PAUSED_WORKER = "a-paused-worker-in-a-test"


@contextlib.contextmanager
def held_batch(database_url: str, size: int = 3000, *, env: dict[str, str] | None = None) -> Iterator[tuple[str, str, str, Callable[[], None]]]:
    """A batch no worker applies until the test calls `release()`: a paused worker, not a race.

    An API-only server (CONTACTQL_WORKERS=false) accepts the batch; the test then leases it as a
    worker would (the store's own claim_next_batch), and a second `contactql serve`, with its
    worker, is started for the clients: its worker skips the leased batch until `release()`
    gives the lease back, then takes it at its next look (at most IDLE_POLL_SECONDS).
    Yields (base URL, key, batch id, release)."""
    from contactql.config import Settings
    from contactql.store.batches.queue import claim_next_batch, release_lease
    from contactql.store.db.database import Database

    async def as_worker(fn: Callable[..., Any], **kwargs: Any) -> Any:
        db = Database(Settings(database_url=database_url))
        try:
            return await db.write(fn, **kwargs)
        finally:
            await db.dispose()

    with serve(database_url, env={**(env or {}), "CONTACTQL_WORKERS": "false"}) as (base, key, _):
        assert key is not None
        batch_id = submit_batch(base, key, size)
    claimed = run_async(lambda: as_worker(claim_next_batch, owner=PAUSED_WORKER, lease_seconds=600))
    assert claimed is not None and claimed.id == batch_id, claimed

    def release() -> None:
        assert run_async(lambda: as_worker(release_lease, batch_id=batch_id, owner=PAUSED_WORKER))

    with serve(database_url, env=env) as (base, _, _):
        yield base, key, batch_id, release


async def pushed_over_websocket(base: str, headers: dict[str, str], document: str, variables: dict[str, Any], field: str) -> list[dict[str, Any]]:
    """What a graphql-transport-ws subscription to a real server pushes, each `next`'s
    `data[field]`, until the server completes it."""
    import websockets

    async with websockets.connect(base.replace("http", "ws") + "/graphql", subprotocols=["graphql-transport-ws"]) as socket:  # type: ignore[attr-defined]
        await socket.send(json.dumps({"type": "connection_init", "payload": headers}))
        assert json.loads(await socket.recv())["type"] == "connection_ack"
        await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": document, "variables": variables}}))
        pushed = []
        while (message := json.loads(await socket.recv()))["type"] != "complete":
            assert message["type"] == "next", message
            pushed.append(message["payload"]["data"][field])
        return pushed

