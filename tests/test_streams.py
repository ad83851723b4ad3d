"""Subscriptions over HTTP, for clients and proxies where a WebSocket cannot go: Apollo's
multipart subscriptions (`Accept: multipart/mixed;subscriptionSpec=1.0`) and graphql-sse's
distinct connections (`Accept: text/event-stream`), against a real `contactql serve`, read as
they arrive, under the same key, scope, cost and revocation rules as the WebSocket."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.helpers import held_batch, serve
from tests.test_transports import cli

pytestmark = pytest.mark.system  # real servers: left out of the fast loop

PROGRESS = "subscription P($id: ID!) { batchProgress(id: $id) { id status processed created } }"
MULTIPART = 'multipart/mixed;boundary="graphql";subscriptionSpec=1.0,application/json'  # as Apollo Client sends it
SSE = "text/event-stream"
PART = re.compile(rb"\r\n--graphql(--)?")


async def multipart_payloads(response: httpx.Response) -> AsyncIterator[dict[str, Any] | None]:
    """Each part of a multipart subscription as it arrives: the JSON of a part, or None at the end.
    Heartbeats (`{}`) are passed on too: the test decides what to make of them."""
    buffered = b""
    async for chunk in response.aiter_raw():
        buffered += chunk
        while (found := PART.search(buffered)) is not None:
            part, buffered = buffered[: found.start()], buffered[found.end() :]
            body = part.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in part else b""
            if body.strip():
                yield json.loads(body)
            if found.group(1):
                yield None
                return


async def sse_events(response: httpx.Response) -> AsyncIterator[tuple[str, str]]:
    """Each server-sent event as it arrives: (event, data); comments (pings) are skipped."""
    buffered = ""
    async for text in response.aiter_text():
        buffered += text
        while "\r\n\r\n" in buffered:
            block, buffered = buffered.split("\r\n\r\n", 1)
            fields = dict(line.split(": ", 1) for line in block.split("\r\n") if line and not line.startswith(":"))
            if fields:
                yield fields["event"], fields.get("data", "")


async def progress_events(response: httpx.Response, release: Any) -> list[tuple[str, str]]:
    """A held batch's progress over SSE to `complete`, releasing the batch once the first
    event is read (so that one came before the batch ran); bounded by 30 s."""
    events: list[tuple[str, str]] = []
    async with asyncio.timeout(30):
        async for event, data in sse_events(response):
            events.append((event, data))
            if len(events) == 1:
                release()
            if event == "complete":
                break
    return events


def client(base: str, key: str | None, accept: str) -> httpx.AsyncClient:
    headers = {"Accept": accept} | ({"Authorization": f"Bearer {key}"} if key else {})
    return httpx.AsyncClient(base_url=base, headers=headers, timeout=30)


async def test_batch_progress_streams_as_multipart_parts_as_apollo_reads_them(database_url: str) -> None:
    with held_batch(database_url, 1000) as (base, key, batch_id, release):  # two chunks of 500
        async with client(base, key, MULTIPART) as http, http.stream("POST", "/graphql", json={"query": PROGRESS, "variables": {"id": batch_id}}) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("multipart/mixed;boundary=graphql;subscriptionSpec=1.0")
            assert "content-encoding" not in response.headers, "a part must reach the client as it is sent, not wait in gzip"
            pushed = []
            async with asyncio.timeout(30):  # bounded: 1 000 contacts are applied in about a second
                async for part in multipart_payloads(response):
                    if part is None:
                        break
                    if not part:  # a heartbeat
                        continue
                    pushed.append(part["payload"]["data"]["batchProgress"])
                    if len(pushed) == 1:  # read before the batch ran: the stream is not buffered
                        assert pushed[0]["processed"] == 0
                        release()
    assert pushed[-1]["status"] == "COMPLETED" and pushed[-1]["created"] == 1000, pushed
    processed = [p["processed"] for p in pushed]
    assert processed == sorted(processed) and len(pushed) >= 3


async def test_batch_progress_streams_as_server_sent_events_by_post_and_get(database_url: str) -> None:
    with held_batch(database_url, 300) as (base, key, batch_id, release):
        async with client(base, key, SSE) as http:
            # GET, as an EventSource-like client sends it (the key still in the header)
            params = {"query": PROGRESS, "variables": json.dumps({"id": batch_id})}
            async with http.stream("GET", "/graphql", params=params) as response:
                assert response.headers["content-type"].startswith(SSE)
                async with asyncio.timeout(10):
                    event, data = await anext(aiter(sse_events(response)))
                assert event == "next" and json.loads(data)["data"]["batchProgress"]["processed"] == 0
            async with http.stream("POST", "/graphql", json={"query": PROGRESS, "variables": {"id": batch_id}}) as response:
                events = await progress_events(response, release)
    assert [e for e, _ in events[:-1]] == ["next"] * (len(events) - 1) and events[-1][0] == "complete"
    last = json.loads(events[-2][1])["data"]["batchProgress"]
    assert last["status"] == "COMPLETED" and last["processed"] == 300


@pytest.mark.parametrize("accept", [MULTIPART, SSE])
async def test_a_stream_needs_a_key_and_keeps_the_documents_rules(database_url: str, accept: str) -> None:
    with serve(database_url) as (base, key, _):
        assert key is not None
        async with client(base, None, accept) as http:
            unauthenticated = await http.post("/graphql", json={"query": PROGRESS, "variables": {"id": "x"}})
        assert unauthenticated.status_code == 401
        async with client(base, key, accept) as http:
            # the document limits hold before anything streams
            aliases = "subscription { " + " ".join(f"c{i}: contactsChanged {{ type }}" for i in range(31)) + " }"
            refused = await http.post("/graphql", json={"query": aliases})
            # a persisted-query hash this process has not seen: the client is asked for the document
            unknown = await http.post("/graphql", json={"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}})
    assert "31 aliases found. Allowed: 30" in refused.text
    assert unknown.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


async def test_a_read_keys_mutation_over_sse_is_forbidden_and_costed(database_url: str) -> None:
    """graphql-sse runs queries and mutations too (one `next`, then `complete`): the key's scope
    and the cost bucket apply as to a POST."""
    reader = cli("keys", "create", "--name", "reader", "--scope", "read", "--database", database_url).stdout.strip().splitlines()[-1]
    writer = cli("keys", "create", "--name", "writer", "--database", database_url).stdout.strip().splitlines()[-1]
    create = 'mutation { createList(name: "Streamed") { list { id } } }'
    with serve(database_url) as (base, _, _):
        async with client(base, reader, SSE) as http:
            refused = [(e, json.loads(d) if d else None) async for e, d in sse_events(await http.send(http.build_request("POST", "/graphql", json={"query": create}), stream=True))]
        async with client(base, writer, SSE) as http:
            done = [(e, json.loads(d) if d else None) async for e, d in sse_events(await http.send(http.build_request("POST", "/graphql", json={"query": create}), stream=True))]
    assert refused[0][1]["errors"][0]["extensions"]["code"] == "FORBIDDEN" and refused[-1][0] == "complete"
    assert done[0][1]["data"]["createList"]["list"]["id"] and done[-1][0] == "complete"
    assert done[0][1]["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] < 120_000


@pytest.mark.parametrize("accept", [MULTIPART, SSE])
async def test_a_revoked_keys_stream_ends_with_forbidden(database_url: str, accept: str) -> None:
    """Revoked from the command line while a stream is open: within the key-cache interval (5 s by
    default) the next chunk is FORBIDDEN and the stream ends, as a WebSocket closes with 4403."""
    key = cli("keys", "create", "--name", "frontend", "--database", database_url).stdout.strip().splitlines()[-1]
    changes = "subscription { contactsChanged { type contact { email } } }"
    upsert = 'mutation { upsertContact(input: {contact: {email: "s@example.com"}}) { outcome } }'
    with serve(database_url) as (base, _, _):
        async with client(base, key, accept) as http, httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {key}"}) as writer:
            async with http.stream("POST", "/graphql", json={"query": changes}) as response:
                assert response.status_code == 200
                assert (await writer.post("/graphql", json={"query": upsert})).json()["data"]["upsertContact"]["outcome"] == "CREATED"
                # Revoked at once: whether the change was pushed or not, the next chunk after the
                # key-cache interval (a heartbeat at the latest) ends the stream.
                assert cli("keys", "revoke", "frontend", "--database", database_url).returncode == 0
                seen: list[Any] = []
                async with asyncio.timeout(30):  # bounded: heartbeats come every 5 s (multipart) or 15 s (SSE)
                    async for chunk in (sse_events(response) if accept == SSE else multipart_payloads(response)):
                        seen.append(chunk)
                        if chunk is None or (isinstance(chunk, tuple) and chunk[0] == "complete"):
                            break
            after = await writer.post("/graphql", json={"query": "{ workspace { name } }"})
    errors = json.loads(seen[-2][1])["errors"] if accept == SSE else seen[-2].get("errors", seen)
    assert errors == [{"message": "the API key was revoked", "extensions": {"code": "FORBIDDEN"}}], seen
    assert after.status_code == 401


URQL_ACCEPT = "application/graphql-response+json, application/graphql+json, application/json, text/event-stream, multipart/mixed"


async def test_a_client_that_takes_json_and_streams_gets_json_for_a_query_and_a_stream_for_a_subscription(database_url: str) -> None:
    """urql (and graphql-http) send this Accept on every request: a query or a mutation is
    answered as JSON, as before streams existed; only a subscription streams."""
    with serve(database_url) as (base, key, _):
        assert key is not None
        async with client(base, key, URQL_ACCEPT) as http:
            query = await http.get("/graphql", params={"query": "{ workspace { name } }"})
            mutation = await http.post("/graphql", json={"query": 'mutation { createList(name: "urql") { list { name } } }'})
            async with http.stream("POST", "/graphql", json={"query": "subscription { contactsChanged { type } }"}) as response:
                streamed = response.headers["content-type"]
    assert query.headers["content-type"].startswith("application/graphql-response+json") and query.json()["data"] == {"workspace": {"name": "default"}}
    assert mutation.json()["data"] == {"createList": {"list": {"name": "urql"}}}
    assert streamed.startswith(SSE)


UNSTREAMABLE = [
    ({"query": "subscription { contactsChanged { "}, "Syntax Error"),
    ({"query": "subscription { contactsChanged { type } }" + " # padding" * 30_000}, "characters; at most 262,144 (send values as variables)"),
    ({"query": "subscription { " + " ".join(f"a{i}: contactsChanged {{ type }}" for i in range(3000)) + " }"}, "more than 10000 tokens"),
    ({"query": "subscription A { contactsChanged { type } } subscription B { contactsChanged { type } }"}, "several operations: name one with operationName"),
    ({"query": "subscription A { contactsChanged { type } }", "operationName": "Nope"}, "no operation named 'Nope'"),
    ({"query": "subscription A { contactsChanged { type } }", "operationName": 5}, "operationName must be a string"),
    ({"query": ""}, "the request has no query"),
]


@pytest.mark.parametrize("accept", [MULTIPART.removesuffix(",application/json"), SSE])
async def test_a_stream_that_cannot_run_is_a_400_before_anything_streams(database_url: str, accept: str) -> None:
    """A client that takes only a stream, sending what cannot stream: Strawberry answered 200 and
    then failed inside the stream (a cut connection, a traceback in the log) or, with two
    operations and no name, streamed heartbeats forever. Now: 400, JSON, saying what to send."""
    with serve(database_url) as (base, key, _):
        async with client(base, key, accept) as http:
            for body, says in UNSTREAMABLE:
                answer = await http.post("/graphql", json=body)
                assert answer.status_code == 400 and answer.headers["content-type"].startswith("application/json"), (body, answer.text[:200])
                assert says in answer.json()["errors"][0]["message"], answer.text[:300]
            by_get = await http.get("/graphql", params={"query": "subscription {"})
            assert by_get.status_code == 400 and "Syntax Error" in by_get.json()["errors"][0]["message"]
            # and the server is well: a good subscription streams, under the operator's Cache-Control
            async with http.stream("POST", "/graphql", json={"query": "subscription { contactsChanged { type } }"}) as response:
                assert response.status_code == 200 and response.headers["cache-control"] == "private, no-store, no-transform"
