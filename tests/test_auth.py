"""Bearer keys, scopes and workspace isolation (SPEC §2)."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from contactql.config import Settings
from contactql.store.db.tables import api_key_t
from contactql.store.workspace.keys import hash_key
from tests.conftest import running
from tests.helpers import Api

QUERY = {"query": "{ workspace { name } }"}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer cql_not-a-real-key"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "bearer  "},
        {"Authorization": "Bearer " + "x" * 500},
        {"Authorization": "Bearer a b"},
    ],
)
async def test_missing_or_wrong_keys_get_401(http: httpx.AsyncClient, headers: dict[str, str]) -> None:
    response = await http.post("/graphql", json=QUERY, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_graphiql_page_and_healthz_need_no_key(http: httpx.AsyncClient) -> None:
    page = await http.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert "graphiql" in page.text.lower()
    health = await http.get("/healthz")
    assert health.status_code == 200 and health.json() == {"status": "ok"}


async def test_a_get_query_needs_a_key(http: httpx.AsyncClient) -> None:
    response = await http.get("/graphql", params={"query": "{ workspace { name } }"})
    assert response.status_code == 401


async def test_keys_are_stored_only_as_digests(app: Any, api: Api) -> None:
    stored = await app.state.services.db.read(lambda conn: conn.execute(api_key_t.select()).all())
    assert api.key not in {value for row in stored for value in row if isinstance(value, str)}
    assert hash_key(api.key) in {row.key_hash for row in stored}


async def test_read_keys_cannot_run_mutations(reader: Api, api: Api) -> None:
    made = await api.upsert({"email": "a@example.com"})
    errors = await reader.errors(
        'mutation { upsertContact(input: {contact: {email: "b@example.com"}}) { outcome } }'
    )
    assert errors[0]["extensions"]["code"] == "FORBIDDEN"
    assert errors[0]["path"] == ["upsertContact"]
    seen = await reader.gql("{ contacts { totalCount edges { node { id } } } }")
    assert seen["contacts"]["totalCount"] == 1
    assert seen["contacts"]["edges"][0]["node"]["id"] == made["contact"]["id"]


async def test_webhook_secret_is_for_admin_keys_only(admin: Api, api: Api) -> None:
    secret = (await admin.gql("{ workspace { name webhookSecret } }"))["workspace"]
    assert secret["name"] == "default"
    assert secret["webhookSecret"].startswith("whsec_")
    errors = await api.errors("{ workspace { webhookSecret } }")
    assert errors[0]["extensions"]["code"] == "FORBIDDEN"


async def test_one_workspace_never_sees_another(api: Api, other_workspace: Api) -> None:
    mine = await api.upsert({"email": "same@example.com", "firstName": "Mine", "lists": {"add": [{"name": "L"}]}})
    theirs = await other_workspace.upsert({"email": "same@example.com", "firstName": "Theirs"})
    assert theirs["outcome"] == "CREATED", "the same email is a different contact in another workspace"
    assert mine["contact"]["id"] != theirs["contact"]["id"]

    assert await other_workspace.contact(mine["contact"]["id"]) is None
    by_id = await other_workspace.upsert({"id": mine["contact"]["id"], "firstName": "Hijack"}, match={"rules": ["ID"], "onNoMatch": "FAIL"})
    assert by_id["userErrors"][0]["code"] == "NOT_FOUND"
    assert (await api.contact(mine["contact"]["id"]))["firstName"] == "Mine"

    list_id = mine["contact"]["lists"][0]["id"]
    assert (await other_workspace.gql("query L($id: ID!) { list(id: $id) { id } }", {"id": list_id}))["list"] is None
    foreign_list = await other_workspace.upsert({"email": "x@example.com"}, listId=list_id)
    assert foreign_list["userErrors"][0]["code"] == "LIST_NOT_FOUND"
    listing = await other_workspace.gql("{ contacts { edges { node { firstName } } } lists { totalCount } }")
    assert [e["node"]["firstName"] for e in listing["contacts"]["edges"]] == ["Theirs"]
    assert listing["lists"]["totalCount"] == 0
    deleted = await other_workspace.gql("mutation D($id: ID!) { deleteContact(id: $id) { deletedId userErrors { code } } }", {"id": mine["contact"]["id"]})
    assert deleted["deleteContact"] == {"deletedId": None, "userErrors": [{"code": "NOT_FOUND"}]}


async def test_a_last_used_time_the_database_refuses_is_one_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A key's last-used time is written beside the request (auth.KeyCache). When it cannot be
    — the write lock held by another process past the busy timeout — the request is answered
    and the log says so in one line, not with asyncio's "exception was never retrieved"."""
    path = tmp_path / "busy.db"
    # The busy timeout running out is the condition under test, so it is shortened: at the default
    # (5 s) every background loop's write also waits 5 s on the one writer thread ahead of the
    # last-used write, and the warning comes only after the loops' waits add up (seen in CI).
    async with running(Settings(database_url=f"sqlite+aiosqlite:///{path}", sqlite_busy_timeout_ms=100)) as (_, api):
        other = sqlite3.connect(path, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")  # as another process's writer would
            with caplog.at_level(logging.WARNING, logger="contactql"):
                assert (await api.gql("{ contacts(first: 1) { totalCount } }"))["contacts"]["totalCount"] == 0
                for _ in range(100):  # bounded: 5 s
                    if any("last-used time was not written" in r.getMessage() for r in caplog.records):
                        break
                    await asyncio.sleep(0.05)
            warned = [r for r in caplog.records if "last-used time was not written" in r.getMessage()]
            assert len(warned) == 1 and warned[0].exc_info is None and "OperationalError" in warned[0].getMessage(), caplog.text
        finally:
            other.close()
