"""The same auth, scope, rate and cost rules on every transport (HTTP, WebSocket, multipart),
against a real `contactql serve`; refusals answered as GraphQL over HTTP answers them."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from contactql.config import ConfigError, load_settings
from contactql.outbound import tls
from tests.conftest import running
from tests.helpers import Api, serve
from tests.test_subscriptions import connect, receive

CREATE_LIST = 'mutation { createList(name: "L%d") { list { id } } }'  # 10 + payload 1 + list 1 = 12
EXPENSIVE = "{ " + " ".join(f"a{i}: contacts(first: 100) {{ edges {{ node {{ lists {{ contacts(first: 100) {{ edges {{ node {{ id }} }} }} }} }} }} }}" for i in range(10)) + " }"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "contactql.cli", *args], capture_output=True, text=True, timeout=60, check=False)


async def post(base: str, key: str, query: str) -> httpx.Response:
    async with httpx.AsyncClient(verify=tls(), base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:
        return await http.post("/graphql", json={"query": query})


async def operation(socket: Any, number: int, query: str) -> dict[str, Any]:
    """Run one operation on an open graphql-transport-ws socket: its first answer."""
    await socket.send(json.dumps({"id": str(number), "type": "subscribe", "payload": {"query": query}}))
    while True:
        message = await receive(socket)
        if message.get("id") == str(number) and message["type"] in {"next", "error"}:
            return message


@pytest.mark.system
async def test_a_websocket_runs_mutations_only_while_its_key_is_valid(database_url: str) -> None:
    """Revoked from the command line while a socket is open: the socket is closed with 4403 within
    the key-cache interval (5 s by default), and nothing more runs on it."""
    key = cli("keys", "create", "--name", "frontend", "--database", database_url).stdout.strip().splitlines()[-1]
    with serve(database_url) as (base, _, _):
        socket = await connect(base, {"Authorization": f"Bearer {key}"})
        try:
            assert await receive(socket) == {"type": "connection_ack"}
            first = await operation(socket, 1, CREATE_LIST % 1)
            assert first["type"] == "next" and first["payload"]["data"]["createList"]["list"]["id"]
            assert cli("keys", "revoke", "frontend", "--database", database_url).returncode == 0
            with pytest.raises(ConnectionClosed) as closed:
                async with asyncio.timeout(15):  # bounded: the key is re-checked every 5 s
                    for number in range(2, 1000):
                        await operation(socket, number, CREATE_LIST % number)
                        await asyncio.sleep(0.5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
        finally:
            await socket.close()
        lists = await post(base, key, "{ lists { totalCount } }")
        assert lists.status_code == 401


@pytest.mark.system
async def test_websocket_operations_take_from_the_same_bucket_as_http(database_url: str) -> None:
    with serve(database_url, env={"CONTACTQL_RATE_LIMIT": "60"}) as (base, key, _):
        socket = await connect(base, {"Authorization": f"Bearer {key}"})
        try:
            assert await receive(socket) == {"type": "connection_ack"}
            answers = [await operation(socket, n, CREATE_LIST % n) for n in range(1, 8)]
        finally:
            await socket.close()
        assert [a["type"] for a in answers] == ["next"] * 5 + ["error"] * 2, "12 each: five fit in 60"
        assert answers[5]["payload"][0]["extensions"]["code"] == "RATE_LIMITED"
        over_http = await post(base, key, "{ contacts(first: 5) { edges { node { id } } } }")  # 11: 11 s of refill
        assert over_http.status_code == 429 and over_http.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
        listed = await post(base, key, "{ lists { totalCount } }")
        assert listed.status_code == 429


@pytest.mark.system
async def test_the_cost_limit_holds_on_http_and_websocket(database_url: str) -> None:
    with serve(database_url) as (base, key, _):
        refused = await post(base, key, EXPENSIVE)
        [error] = refused.json()["errors"]
        assert error["extensions"] == {"code": "COST_LIMIT", "cost": 10 * (1 + 100 * (2 + 5 * (1 + 1 + 100 * 2))), "maxCost": 10000}
        assert refused.json()["data"] is None and "ask for fewer items" in error["message"]
        socket = await connect(base, {"Authorization": f"Bearer {key}"})
        try:
            assert await receive(socket) == {"type": "connection_ack"}
            over_ws = await operation(socket, 1, EXPENSIVE)
        finally:
            await socket.close()
        assert over_ws["type"] == "error" and over_ws["payload"][0]["extensions"]["code"] == "COST_LIMIT"
        page = await post(base, key, "{ contacts(first: 100) { totalCount edges { node { id email lists { name } } } } }")
        assert page.status_code == 200 and page.json()["extensions"]["cost"]["requestedQueryCost"] == 1 + 10 + 100 * (2 + 5)


def fragment_chain(depth: int) -> str:
    """~1 KB: each fragment spreads the previous one twice (2^depth spreads written out)."""
    parts = ["fragment f0 on Query { workspace { name } }"]
    parts += [f"fragment f{i} on Query {{ ...f{i - 1} ...f{i - 1} }}" for i in range(1, depth + 1)]
    return "\n".join([f"query Chain {{ ...f{depth} }}", *parts])


async def test_a_chain_of_fragments_is_validated_in_linear_time_and_costs_what_it_runs(api: Api) -> None:
    document = fragment_chain(22)
    assert len(document) < 1300
    # Bounded, not timed: Strawberry's rules walked 2^22 spreads here, seconds on the event loop.
    async with asyncio.timeout(30):
        answer = await api.post(document)
    assert answer.json()["data"] == {"workspace": {"name": "default"}}
    assert answer.json()["extensions"]["cost"]["requestedQueryCost"] == 1, "executed once, costed once"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("query { ...a } fragment a on Query { " + " ".join(f"w{i}: workspace {{ name }}" for i in range(16)) + " ...b } fragment b on Query { "
         + " ".join(f"v{i}: workspace {{ name }}" for i in range(16)) + " }", "32 aliases found. Allowed: 30"),
    ],
)  # fmt: skip
async def test_aliases_are_counted_through_fragments(api: Api, document: str, message: str) -> None:
    [error] = (await api.post(document)).json()["errors"]
    assert error["message"] == message and error["extensions"]["code"] == "INVALID_INPUT"


JSON_HINT = 'send POST /graphql with Content-Type: application/json and a body such as {"query": "{ workspace { name } }", "variables": {}}'


@pytest.mark.parametrize(
    ("method", "body", "content_type", "status", "message"),
    [
        ("POST", "42", "application/json", 400, f"the body must be a JSON object: {JSON_HINT}"),
        ("POST", '"x"', "application/json", 400, f"the body must be a JSON object: {JSON_HINT}"),
        ("POST", "null", "application/json", 400, f"the body must be a JSON object: {JSON_HINT}"),
        ("POST", "true", "application/json", 400, f"the body must be a JSON object: {JSON_HINT}"),
        ("POST", "{", "application/json", 400, f"the body is not valid JSON (UTF-8): {JSON_HINT}"),
        ("POST", '[{"query": "{ workspace { name } }"}]', "application/json", 400,
         "batched operations (a JSON array) are not accepted: send one operation per request, as a JSON object"),
        ("POST", "{ workspace { name } }", "application/graphql", 415,
         f"unsupported Content-Type: {JSON_HINT} (multipart/form-data for importContacts uploads)"),
        ("POST", '{"query": "subscription { batchProgress(id: \\"x\\") { id } }"}', "application/json", 400,
         "subscriptions run over WebSocket (graphql-transport-ws, the key in connection_init) or over HTTP as a stream: send Accept: multipart/mixed;subscriptionSpec=1.0 or Accept: text/event-stream"),
        ("POST", '{"variables": {}}', "application/json", 400, f"the request has no query: {JSON_HINT}"),
        ("PUT", '{"query": "{ workspace { name } }"}', "application/json", 405, f"this method is not accepted: {JSON_HINT}"),
    ],
)  # fmt: skip
async def test_refusals_are_graphql_over_http_json_saying_what_to_send(api: Api, method: str, body: str, content_type: str, status: int, message: str) -> None:
    headers = {"Authorization": f"Bearer {api.key}", "Content-Type": content_type}
    response = await api.http.request(method, "/graphql", content=body.encode(), headers=headers)
    assert (response.status_code, response.headers["content-type"]) == (status, "application/json")
    assert response.json() == {"errors": [{"message": message, "extensions": {"code": "INVALID_INPUT"}}]}


GET_HINT = 'send GET /graphql?query=…&variables=… with variables a URL-encoded JSON object such as {"first": 10}'


async def test_queries_run_by_get_as_graphql_over_http_says(api: Api) -> None:
    await api.upsert({"email": "get@example.com", "firstName": "Getty"})
    headers = {"Authorization": f"Bearer {api.key}"}
    params = {
        "query": "query One($e: String) { a: contacts(filter: {email: $e}) { edges { node { firstName } } } } query Two { workspace { name } }",
        "variables": json.dumps({"e": "get@example.com"}),
        "operationName": "One",
    }
    got = await api.http.get("/graphql", params=params, headers=headers)
    assert got.status_code == 200 and got.json()["data"] == {"a": {"edges": [{"node": {"firstName": "Getty"}}]}}
    assert got.headers["cache-control"] == "private, no-store"  # no shared cache keeps a workspace's contacts
    posted = await api.post("{ workspace { name } }")
    assert posted.headers["cache-control"] == "private, no-store"
    # empty variables and extensions are absent, as urql and Apollo send them
    bare = await api.http.get("/graphql", params={"query": "{ workspace { name } }", "variables": "", "extensions": ""}, headers=headers)
    assert bare.json()["data"] == {"workspace": {"name": "default"}}
    # the same rules as POST: the cost is charged to the key's bucket, the document limits hold
    assert got.json()["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] < 120_000
    aliases = "{ " + " ".join(f"w{i}: workspace {{ name }}" for i in range(31)) + " }"
    refused = await api.http.get("/graphql", params={"query": aliases}, headers=headers)
    assert refused.json()["errors"][0]["message"] == "31 aliases found. Allowed: 30"


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({"query": 'mutation { createList(name: "x") { list { id } } }'}, 405, f"GraphQL mutation operations are not accepted by GET: {JSON_HINT}"),
        ({"query": 'subscription { batchProgress(id: "x") { id } }'}, 405,
         "subscriptions run over WebSocket (graphql-transport-ws, the key in connection_init) or over HTTP as a stream: send Accept: multipart/mixed;subscriptionSpec=1.0 or Accept: text/event-stream"),
        ({"query": "{ workspace { name } }", "variables": "{"}, 400, f"the variables parameter is not valid JSON: {GET_HINT}"),
        ({"query": "{ workspace { name } }", "variables": "[1]"}, 400, f"the variables parameter must be a JSON object: {GET_HINT}"),
        ({"query": "{ workspace { name } }", "extensions": "7"}, 400, f"the extensions parameter must be a JSON object: {GET_HINT}"),
        ({"variables": "{}"}, 400, f"the request has no query: {JSON_HINT}"),
    ],
)  # fmt: skip
async def test_a_get_that_is_not_a_query_is_refused_saying_why(api: Api, params: dict[str, str], status: int, message: str) -> None:
    answer = await api.http.get("/graphql", params=params, headers={"Authorization": f"Bearer {api.key}"})
    assert (answer.status_code, answer.json()) == (status, {"errors": [{"message": message, "extensions": {"code": "INVALID_INPUT"}}]})
    assert (await api.gql("{ lists(first: 5) { totalCount } }"))["lists"]["totalCount"] == 0, "a mutation by GET changed nothing"


async def test_an_operator_sets_the_cache_control_of_answers(settings: Any) -> None:
    async with running(settings, cache_control="private, max-age=30") as (_, api):
        got = await api.http.get("/graphql", params={"query": "{ workspace { name } }"}, headers={"Authorization": f"Bearer {api.key}"})
        assert got.headers["cache-control"] == "private, max-age=30"
    with pytest.raises(ConfigError, match="CONTACTQL_CACHE_CONTROL"):
        load_settings({"CONTACTQL_CACHE_CONTROL": "no-store\r\nSet-Cookie: x=1"})


async def test_other_multipart_and_unreadable_bodies_answer_json(api: Api) -> None:
    headers = {"Authorization": f"Bearer {api.key}"}
    operations = {"query": 'mutation { createList(name: "x") { list { id } } }', "variables": {}}
    multipart = await api.http.post("/graphql", data={"operations": json.dumps(operations), "map": "{}"}, files={"0": ("x", b"x")}, headers=headers)
    assert multipart.status_code == 400 and multipart.json()["errors"][0]["message"].startswith("multipart/form-data is accepted for importContacts uploads only")
    asked = await api.http.post("/graphql", content=b"42", headers={**headers, "Content-Type": "application/json", "Accept": "application/graphql-response+json"})
    assert asked.headers["content-type"] == "application/graphql-response+json"


async def test_the_root_and_unknown_paths_point_to_graphql(api: Api) -> None:
    browser = await api.http.get("/", headers={"Accept": "text/html"})
    assert browser.status_code == 307 and browser.headers["location"] == "/graphql"
    client = await api.http.get("/")
    assert client.status_code == 200 and client.json()["graphql"] == "/graphql"
    missing = await api.http.get("/api/graphql")
    assert missing.status_code == 404 and missing.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert "GraphQL is at /graphql" in missing.json()["errors"][0]["message"]


@pytest.mark.system
async def test_a_websocket_from_a_disallowed_origin_is_refused_and_an_allowed_one_is_not(database_url: str) -> None:
    with serve(database_url, env={"CONTACTQL_CORS_ORIGINS": "https://app.example.com"}) as (base, key, _):
        url = base.replace("http", "ws") + "/graphql"
        async with websockets.connect(url, subprotocols=["graphql-transport-ws"], origin="https://app.example.com") as socket:  # type: ignore[arg-type]
            await socket.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {key}"}}))
            assert await receive(socket) == {"type": "connection_ack"}
        with pytest.raises(websockets.InvalidStatus) as refused:
            await websockets.connect(url, subprotocols=["graphql-transport-ws"], origin="https://evil.example.com")  # type: ignore[arg-type]
        assert refused.value.response.status_code == 403


@pytest.mark.system
@pytest.mark.parametrize("frame", ["42", "null", '"x"', "[]", '{"type": "subscribe", "id": "1", "payload": 5}', '{"type": "subscribe", "id": "1", "payload": {"query": 5}}'])
async def test_a_websocket_message_that_is_not_a_message_closes_the_socket_4400(database_url: str, frame: str) -> None:
    with serve(database_url) as (base, key, _):
        socket = await connect(base, {"Authorization": f"Bearer {key}"})
        assert await receive(socket) == {"type": "connection_ack"}
        await socket.send(frame)
        with pytest.raises(ConnectionClosed) as closed:
            await receive(socket)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400


@pytest.mark.system
async def test_a_request_costing_more_than_the_whole_allowance_is_not_free(database_url: str) -> None:
    """With CONTACTQL_RATE_LIMIT below CONTACTQL_MAX_COST, such a request takes the whole bucket."""
    with serve(database_url, env={"CONTACTQL_RATE_LIMIT": "60"}) as (base, key, _):
        page = "{ contacts(first: 100) { edges { node { id } } } }"  # 201
        first = await post(base, key, page)
        assert first.status_code == 200 and first.json()["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == 0
        again = await post(base, key, page)
        assert again.status_code == 429 and int(again.headers["Retry-After"]) >= 59


async def test_a_cost_refusal_reports_the_bucket_as_it_is(api: Api) -> None:
    refused = await api.post(EXPENSIVE)
    throttle = refused.json()["extensions"]["cost"]["throttleStatus"]
    assert refused.json()["errors"][0]["extensions"]["code"] == "COST_LIMIT"
    assert throttle["currentlyAvailable"] >= throttle["maximumAvailable"] - 1, "nothing was taken"


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [(b"x", "multipart/form-data", 400), (b'{"query": "{ workspace { name } }"}', "application/jsonx", 415), (b'{"query": "{ workspace { name } }"}', "text/plain", 415)],
)
async def test_what_starlette_or_strawberry_refused_in_plain_text_is_json_too(api: Api, content: bytes, content_type: str, status: int) -> None:
    response = await api.http.post("/graphql", content=content, headers={"Authorization": f"Bearer {api.key}", "Content-Type": content_type})
    assert (response.status_code, response.headers["content-type"]) == (status, "application/json")
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "INVALID_INPUT" and "Content-Type: application/json" in error["message"]


@pytest.mark.parametrize("file", ["abc", {"a": 1}])
async def test_an_import_file_that_is_not_an_upload_is_a_user_error(api: Api, file: Any) -> None:
    answer = await api.gql(
        "mutation I($f: Upload) { importContacts(input: {file: $f}) { batch { id } userErrors { field code message } } }", {"f": file}
    )
    assert answer["importContacts"]["batch"] is None
    assert [(e["field"], e["code"]) for e in answer["importContacts"]["userErrors"]] == [(["file"], "INVALID_INPUT")]


@pytest.mark.system
async def test_a_document_over_256_kib_is_refused_on_every_transport_before_it_is_parsed(database_url: str) -> None:
    """Tokens are limited, but a comment or a string is one token of any length: a 15 MB
    comment held the event loop for 2 s. The size is checked before parsing, everywhere."""
    huge = "{ workspace { name } }" + " # padding" * 30_000  # 300 kB, 6 tokens
    says = "characters; at most 262,144 (send values as variables)"
    with serve(database_url) as (base, key, _):
        by_post = await post(base, key, huge)
        assert by_post.status_code == 200 and says in by_post.json()["errors"][0]["message"]
        assert by_post.json()["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
        # (A GET cannot carry one: URLs stop at 64 KiB, in clients and in uvicorn.)
        socket = await connect(base, {"Authorization": f"Bearer {key}"})
        try:
            assert await receive(socket) == {"type": "connection_ack"}
            over_ws = await operation(socket, 1, huge)
        finally:
            await socket.close()
        assert over_ws["type"] == "error" and says in over_ws["payload"][0]["message"]
        fine = await post(base, key, "{ workspace { name } }" + " # padding" * 20_000)  # 200 kB: allowed
        assert fine.json()["data"] == {"workspace": {"name": "default"}}
        # A document that does not parse, over the WebSocket: answered (the socket closes 4400
        # naming the error, as Strawberry's protocol handler does), where it used to hang.
        socket = await connect(base, {"Authorization": f"Bearer {key}"})
        try:
            assert await receive(socket) == {"type": "connection_ack"}
            with pytest.raises(ConnectionClosed) as closed:
                async with asyncio.timeout(10):
                    await operation(socket, 2, "subscription { contactsChanged { ")
        finally:
            await socket.close()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400 and "Syntax Error" in closed.value.rcvd.reason
