"""batchProgress over graphql-transport-ws against a real `contactql serve`."""

from __future__ import annotations

import json
from typing import Any

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from tests.helpers import held_batch, serve

pytestmark = pytest.mark.system  # real servers, browsers, npm clients or processes: left out of the fast loop

PROGRESS = "subscription P($id: ID!) { batchProgress(id: $id) { id status total processed created failed } }"


async def connect(base: str, init: dict[str, Any] | None) -> Any:
    socket = await websockets.connect(base.replace("http", "ws") + "/graphql", subprotocols=["graphql-transport-ws"])
    await socket.send(json.dumps({"type": "connection_init", "payload": init or {}}))
    return socket


async def receive(socket: Any) -> dict[str, Any]:
    frame = await socket.recv()
    assert isinstance(frame, str), "graphql-transport-ws messages are text frames: browsers' clients ignore binary ones"
    return dict(json.loads(frame))


async def test_batch_progress_pushes_after_every_chunk_and_completes(database_url: str) -> None:
    with held_batch(database_url, 1000) as (base, key, batch_id, release):
        socket = await connect(base, {"Authorization": f"Bearer {key}"})
        try:
            assert await receive(socket) == {"type": "connection_ack"}
            await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": PROGRESS, "variables": {"id": batch_id}}}))
            pushed = []
            while True:
                message = await receive(socket)
                if message["type"] == "complete":
                    break
                assert message["type"] == "next", message
                pushed.append(message["payload"]["data"]["batchProgress"])
                if len(pushed) == 1:  # subscribed, the batch not started: let the worker go
                    assert pushed[0]["processed"] == 0, pushed
                    release()
        finally:
            await socket.close()
    processed = [p["processed"] for p in pushed]
    assert processed == sorted(processed)
    assert pushed[-1]["status"] == "COMPLETED" and pushed[-1]["processed"] == pushed[-1]["created"] == 1000
    assert processed == [0, 500, 1000], "a push after each chunk of CONTACTQL_BATCH_CHUNK_SIZE (500) items"


@pytest.mark.parametrize("init", [None, {"Authorization": "Bearer cql_wrong"}, {"Authorization": "Basic abc"}, {"authorization": 5}])
async def test_a_connection_without_a_valid_key_is_closed_4401(database_url: str, init: dict[str, Any] | None) -> None:
    with serve(database_url) as (base, _, _):
        socket = await connect(base, init)
        with pytest.raises(ConnectionClosed) as closed:
            await socket.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
