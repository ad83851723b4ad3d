"""Trusted documents (`CONTACTQL_TRUSTED_DOCUMENTS`, contactql/persisted.py): with a manifest as
GraphQL Code Generator's client preset writes it, keys that are not admin run only its
documents — by documentId, by Apollo's hash, or sent in full — over HTTP and WebSocket."""

from __future__ import annotations

import asyncio
import hashlib
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import websockets

from contactql.app import create_app
from contactql.config import ConfigError, Settings
from contactql.store.model import Scope
from tests.conftest import make_key, running
from tests.helpers import Api, serve

COUNT = "query Count { contacts { totalCount } }"
ADD = "mutation Add($email: String!) { upsertContact(input: {contact: {email: $email}}) { outcome } }"


def manifest(tmp_path: Path) -> Path:
    """Keyed by sha1, as the client preset does by default: ids are the manifest's, whatever they are."""
    path = tmp_path / "persisted-documents.json"
    path.write_text(json.dumps({hashlib.sha1(text.encode()).hexdigest(): text for text in (COUNT, ADD)}))
    return path


def document_id(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


@pytest.fixture
async def trusted(settings: Settings, tmp_path: Path) -> AsyncIterator[tuple[Any, Api]]:
    async with running(settings, trusted_documents=str(manifest(tmp_path))) as (app, api):
        yield app, api


async def post(api: Api, body: dict[str, Any], key: str | None = None) -> dict[str, Any]:
    answer = await api.http.post("/graphql", json=body, headers={"Authorization": f"Bearer {key or api.key}"})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def test_a_trusted_document_runs_by_its_id_by_get_and_post(trusted: tuple[Any, Api]) -> None:
    _, api = trusted
    added = await post(api, {"documentId": document_id(ADD), "variables": {"email": "t@example.com"}})
    assert added["data"] == {"upsertContact": {"outcome": "CREATED"}}
    by_get = await api.http.get("/graphql", params={"documentId": document_id(COUNT)}, headers={"Authorization": f"Bearer {api.key}"})
    assert by_get.json()["data"] == {"contacts": {"totalCount": 1}}
    # Sent in full, text for text, it is the same document; Apollo's sha256 names it too.
    assert (await post(api, {"query": COUNT}))["data"] == {"contacts": {"totalCount": 1}}
    apollo = {"persistedQuery": {"version": 1, "sha256Hash": hashlib.sha256(COUNT.encode()).hexdigest()}}
    assert (await post(api, {"extensions": apollo}))["data"] == {"contacts": {"totalCount": 1}}


async def test_any_other_document_is_refused_for_keys_that_are_not_admin(trusted: tuple[Any, Api]) -> None:
    app, api = trusted
    for body in ({"query": "{ contacts { totalCount } }"}, {"query": COUNT + " "}, {"query": "query Count { workspace { name } }"}):
        refused = await post(api, body)
        assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN" and "trusted documents" in refused["errors"][0]["message"], body
        assert not refused.get("data")
    unknown = await post(api, {"documentId": "0" * 40})
    assert unknown["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    # APQ cannot let a document in: sending it with its hash is refused as any other.
    other = "{ workspace { name } }"
    registered = await post(api, {"query": other, "extensions": {"persistedQuery": {"version": 1, "sha256Hash": hashlib.sha256(other.encode()).hexdigest()}}})
    assert registered["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # An admin key runs anything: GraphiQL and scripts.
    admin_key = await make_key(app, scope=Scope.ADMIN, name="admin")
    assert (await post(api, {"query": other}, key=admin_key))["data"] == {"workspace": {"name": "default"}}


@pytest.mark.system
async def test_the_rule_holds_over_a_websocket_too(database_url: str, tmp_path: Path) -> None:
    with serve(database_url, env={"CONTACTQL_TRUSTED_DOCUMENTS": str(manifest(tmp_path))}) as (base, _, _):
        command = [sys.executable, "-m", "contactql.cli", "keys", "create", "--scope", "write", "--database", database_url]
        made = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, check=True)
        writer = made.stdout.strip().splitlines()[-1]
        async with websockets.connect(base.replace("http", "ws") + "/graphql", subprotocols=["graphql-transport-ws"]) as socket:  # type: ignore[list-item]
            await socket.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {writer}"}}))
            assert json.loads(await socket.recv())["type"] == "connection_ack"
            await socket.send(json.dumps({"id": "2", "type": "subscribe", "payload": {"query": "{ workspace { name } }"}}))
            refused = json.loads(await socket.recv())
            await socket.send(json.dumps({"id": "3", "type": "subscribe", "payload": {"query": COUNT}}))
            allowed = json.loads(await socket.recv())
    assert refused["type"] in ("next", "error") and "FORBIDDEN" in json.dumps(refused)
    assert allowed["type"] == "next" and allowed["payload"]["data"] == {"contacts": {"totalCount": 0}}


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (None, "cannot read"),
        ("not json", "is not JSON"),
        ("[]", "must be a JSON object of hash"),
        ("{}", "must be a JSON object of hash"),
        ('{"abc": 5}', "the entry 'abc' is not a document"),
    ],
)
def test_a_manifest_that_cannot_be_used_stops_the_start_in_one_line(settings: Settings, tmp_path: Path, content: str | None, says: str) -> None:
    path = tmp_path / "manifest.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError, match="CONTACTQL_TRUSTED_DOCUMENTS") as raised:
        create_app(settings.replace(trusted_documents=str(path)))
    assert says in str(raised.value) and "\n" not in str(raised.value)
