"""batchProgress over graphql-transport-ws against a real `contactql serve`."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from tests.helpers import serve

pytestmark = pytest.mark.system  # real servers, browsers, npm clients or processes: left out of the fast loop

SUBMIT = "mutation S($input: UpsertContactsInput!) { upsertContacts(input: $input) { batch { id total } userErrors { code } } }"
PROGRESS = "subscription P($id: ID!) { batchProgress(id: $id) { id status total processed created failed } }"
ENV = {"CONTACTQL_MAX_BATCH_SIZE": "10000", "CONTACTQL_BATCH_CHUNK_SIZE": "500"}


async def connect(base: str, init: dict[str, Any] | None) -> Any:
    socket = await websockets.connect(base.replace("http", "ws") + "/graphql", subprotocols=["graphql-transport-ws"])
    await socket.send(json.dumps({"type": "connection_init", "payload": init or {}}))
    return socket


async def receive(socket: Any) -> dict[str, Any]:
    frame = await socket.recv()
    assert isinstance(frame, str), "graphql-transport-ws messages are text frames: browsers' clients ignore binary ones"
    return dict(json.loads(frame))


async def test_batch_progress_pushes_every_tenth_and_completes(database_url: str) -> None:
    with serve(database_url, env=ENV) as (base, key, _):
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as http:
            submitted = []
            for name in ("ahead", "watched"):  # the first keeps the worker busy: the second waits QUEUED
                contacts = [{"email": f"{name}{i}@example.com"} for i in range(3000)]
                response = await http.post("/graphql", json={"query": SUBMIT, "variables": {"input": {"contacts": contacts}}})
                submitted.append(response.json()["data"]["upsertContacts"]["batch"]["id"])
        socket = await connect(base, {"Authorization": f"Bearer {key}"})
        try:
            assert await receive(socket) == {"type": "connection_ack"}
            await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": PROGRESS, "variables": {"id": submitted[1]}}}))
            pushed = []
            while True:
                message = await receive(socket)
                if message["type"] == "complete":
                    break
                assert message["type"] == "next", message
                pushed.append(message["payload"]["data"]["batchProgress"])
        finally:
            await socket.close()
    processed = [p["processed"] for p in pushed]
    assert processed == sorted(processed)
    assert pushed[-1]["status"] == "COMPLETED" and pushed[-1]["processed"] == pushed[-1]["created"] == 3000
    steps = [b - a for a, b in zip(processed, processed[1:], strict=False)]
    assert steps and max(steps) <= 300, f"a push at least every 10 %: {processed}"
    assert len(pushed) >= 10


@pytest.mark.parametrize("init", [None, {"Authorization": "Bearer cql_wrong"}, {"Authorization": "Basic abc"}, {"authorization": 5}])
async def test_a_connection_without_a_valid_key_is_closed_4401(database_url: str, init: dict[str, Any] | None) -> None:
    with serve(database_url) as (base, _, _):
        socket = await connect(base, init)
        with pytest.raises(ConnectionClosed) as closed:
            await socket.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
