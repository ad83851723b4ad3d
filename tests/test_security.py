"""Attacks a real client or attacker would try: document limits, body size, batching,
introspection in production, rate limits, revoked keys, and every SSRF target."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from contactql.config import Settings
from tests.conftest import make_key, running
from tests.helpers import Api, query, serve


def deep_query(depth: int) -> str:
    inner = "id"
    for _ in range(depth):
        inner = f"lists {{ contacts(first: 5) {{ edges {{ node {{ {inner} }} }} }} }}"
    return f"{{ contacts(first: 5) {{ edges {{ node {{ {inner} }} }} }} }}"


ALIASED_FRAGMENT = "query { ...W } fragment W on Query { " + " ".join(f"w{i}: workspace {{ name }}" for i in range(31)) + " }"


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        (deep_query(3), "exceeds maximum operation depth of 10"),
        ("{ " + " ".join(f"a{i}: workspace {{ name }}" for i in range(1000)) + " }", "1000 aliases found. Allowed: 30"),
        (ALIASED_FRAGMENT, "31 aliases found"),
        ("{ workspace { " + " ".join(["name"] * 10_001) + " } }", "more than 10000 tokens"),
    ],
)
async def test_document_limits(api: Api, document: str, fragment: str) -> None:
    response = await api.post(document)
    body = response.json()
    assert "data" not in body or body["data"] is None
    assert fragment in body["errors"][0]["message"]
    assert body["errors"][0]["extensions"]["code"] == "INVALID_INPUT"


async def test_a_query_within_the_limits_runs(api: Api) -> None:
    assert "errors" not in (await api.post(deep_query(1))).json()
    assert "errors" not in (await api.post("{ " + " ".join(f"a{i}: workspace {{ name }}" for i in range(30)) + " }")).json()


@pytest.mark.parametrize(
    ("document", "variables", "where"),
    [
        ("mutation U($input: UpsertContactInput!) { upsertContact(input: $input) { contact { id } } }",
         {"input": {"contact": {"email": "a@example.com", "address": {"city": "Os\u0000lo"}}}}, '"$input.contact.address.city"'),
        ('mutation { upsertContact(input: {contact: {email: "a@example.com"}, idempotencyKey: "k\\u0000"}) { contact { id } } }', {}, "line 1"),
        ('mutation { createList(name: "x\\u{0}") { list { id } } }', {}, "line 1"),
    ],
)  # fmt: skip
async def test_nul_characters_are_refused_before_anything_runs(api: Api, document: str, variables: dict[str, Any], where: str) -> None:
    # PostgreSQL text cannot hold U+0000: both engines refuse it the same way, as the client's error.
    [error] = await api.errors(document, variables)
    assert error["extensions"]["code"] == "INVALID_INPUT" and where in error["message"] and "NUL" in error["message"]
    assert (await api.gql("{ contacts { totalCount } lists { totalCount } }")) == {"contacts": {"totalCount": 0}, "lists": {"totalCount": 0}}


async def test_a_backslash_before_u0000_is_text_not_a_nul(api: Api) -> None:
    # The fast NUL check searches the JSON form for the escape \u0000; this text only looks like it.
    town = "C:\\u0000dir"
    created = await api.upsert({"email": "a@example.com", "address": {"town": town}})
    assert created["userErrors"] == []
    stored = await api.gql("query C($id: ID!) { contact(id: $id) { address { town } } }", {"id": created["contact"]["id"]})
    assert stored["contact"]["address"]["town"] == town


async def test_a_body_over_16_mib_is_refused_413_before_it_is_read(api: Api) -> None:
    big = b'{"query": "{ workspace { name } }", "variables": {"x": "' + b"x" * (17 * 1024 * 1024) + b'"}}'
    response = await api.http.post("/graphql", content=big, headers={"Authorization": f"Bearer {api.key}", "Content-Type": "application/json"})
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "INVALID_INPUT"


async def test_a_chunked_body_over_the_limit_is_refused_413(api: Api) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"query": "{ workspace { name } }", "variables": {"x": "'
        for _ in range(17):
            yield b"x" * (1024 * 1024)
        yield b'"}}'

    response = await api.http.post("/graphql", content=chunks(), headers={"Authorization": f"Bearer {api.key}", "Content-Type": "application/json"})
    assert response.status_code == 413


async def test_batched_operations_are_refused(api: Api) -> None:
    batch = [{"query": "{ workspace { name } }"}, {"query": "{ workspace { name } }"}]
    response = await api.http.post("/graphql", json=batch, headers={"Authorization": f"Bearer {api.key}"})
    assert response.status_code == 400


@pytest.fixture
async def production(settings: Settings) -> AsyncIterator[Api]:
    async with running(settings, graphiql=False) as (_, api):
        yield api


async def test_graphiql_off_turns_off_the_page_and_introspection(production: Api) -> None:
    page = await production.http.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 404
    assert (await production.http.get("/graphiql/contactql.js")).status_code == 404
    errors = await production.errors("{ __schema { types { name } } }")
    assert errors[0]["extensions"]["code"] == "INVALID_INPUT"
    assert "introspection" in errors[0]["message"].lower()
    assert (await production.gql("{ workspace { name } }"))["workspace"]["name"] == "default"


async def test_introspection_has_its_own_switch(settings: Settings) -> None:
    # codegen and gql fetch the schema from a server that shows no GraphiQL
    async with running(settings, graphiql=False, introspection=True) as (_, api):
        assert (await api.http.get("/graphql", headers={"Accept": "text/html"})).status_code == 404
        assert "Contact" in {t["name"] for t in (await api.gql("{ __schema { types { name } } }"))["__schema"]["types"]}
    async with running(settings, introspection=False) as (_, api):
        assert (await api.http.get("/graphql", headers={"Accept": "text/html"})).status_code == 200
        assert "introspection" in (await api.errors('{ __type(name: "Contact") { name } }'))[0]["message"].lower()


@pytest.fixture
async def limited(settings: Settings) -> AsyncIterator[tuple[Any, Api]]:
    async with running(settings, rate_limit_per_minute=100) as (app, api):
        yield app, api


def aliased_upserts(first: int, count: int) -> str:
    return "mutation { " + " ".join(f'u{i}: upsertContact(input: {{contact: {{email: "r{i}@example.com"}}}}) {{ outcome }}' for i in range(first, first + count)) + " }"


async def test_the_rate_limit_takes_each_request_s_cost(limited: tuple[Any, Api], database_url: str) -> None:
    _, api = limited
    # Each aliased upsertContact { outcome }: 10 for the mutation and 1 for its payload.
    for start, left in ((0, 67), (3, 34), (6, 1)):
        answer = await api.post(aliased_upserts(start, 3))
        assert answer.status_code == 200 and "errors" not in answer.json()
        cost = answer.json()["extensions"]["cost"]
        assert (cost["requestedQueryCost"], cost["throttleStatus"]["maximumAvailable"]) == (33, 100)
        assert left <= cost["throttleStatus"]["currentlyAvailable"] <= left + 2, "what is left, and what refilled meanwhile"
    refused = await api.post(aliased_upserts(9, 3))
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    [error] = refused.json()["errors"]
    assert error["extensions"] == {"code": "RATE_LIMITED", "cost": 33, "retryAfter": int(refused.headers["Retry-After"])}
    assert refused.json()["data"] is None
    assert query(database_url, "SELECT count(*) FROM contact") == [(9,)], "the refused request wrote nothing"


async def test_rate_limit_per_key_not_shared(limited: tuple[Any, Api]) -> None:
    app, api = limited
    drain = "{ contacts(first: 47) { edges { node { id } } } }"  # 1 + 47 × 2 = 95 of the 100
    assert (await api.post(drain)).json()["extensions"]["cost"]["requestedQueryCost"] == 95
    page = "{ contacts(first: 5) { edges { node { id } } } }"  # 11: more than the 5 left and what refills in 3 s
    assert (await api.post(page)).status_code == 429
    other = Api(api.http, await make_key(app, name="another key"))
    assert (await other.post(page)).status_code == 200, "another key has a bucket of its own"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "contactql.cli", *args], capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.system
def test_revoked_keys_get_401_and_keys_list_never_shows_secrets(database_url: str) -> None:
    database = database_url
    key = run_cli("keys", "create", "--name", "ci-bot", "--database", database).stdout.strip().splitlines()[-1]
    with serve(database, env={"CONTACTQL_KEY_CACHE_SECONDS": "0"}) as (base, _, _):
        headers = {"Authorization": f"Bearer {key}"}
        assert httpx.post(f"{base}/graphql", json={"query": "{ workspace { name } }"}, headers=headers).status_code == 200
        revoked = run_cli("keys", "revoke", "ci-bot", "--database", database)
        assert revoked.returncode == 0, revoked.stderr
        assert httpx.post(f"{base}/graphql", json={"query": "{ workspace { name } }"}, headers=headers).status_code == 401
    listing = run_cli("keys", "list", "--database", database)
    assert listing.returncode == 0
    lines = listing.stdout.splitlines()
    assert lines[0].split() == ["workspace", "name", "scope", "origins", "created", "last", "used", "revoked"]
    row = next(line for line in lines if "ci-bot" in line)
    assert "write" in row and row.count(":") >= 4, "created, last used and revoked times are shown"
    assert key not in listing.stdout and "cql_" not in listing.stdout
    assert run_cli("keys", "revoke", "ci-bot", "--database", database).returncode == 1, "already revoked"


SSRF_TARGETS = [
    "https://127.0.0.1/hook",
    "https://localhost/hook",
    "https://10.0.0.1/hook",
    "https://172.16.5.4/hook",
    "https://192.168.1.1/hook",
    "https://169.254.169.254/latest/meta-data",  # cloud metadata
    "https://100.64.0.1/hook",  # CGNAT
    "https://0.0.0.0/hook",
    "https://[::1]/hook",
    "https://[::ffff:127.0.0.1]/hook",
    "https://[fd00::1]/hook",
    "https://[fe80::1]/hook",
    # IPv6 forms that carry a reserved IPv4 address, each judged by that address
    "https://[::7f00:1]/hook",  # IPv4-compatible 127.0.0.1
    "https://[::a9fe:a9fe]/hook",  # IPv4-compatible 169.254.169.254
    "https://[::ffff:0:7f00:1]/hook",  # IPv4-translated 127.0.0.1
    "https://[64:ff9b::7f00:1]/hook",  # NAT64 127.0.0.1
    "https://[64:ff9b:1::a9fe:a9fe]/hook",  # local-use NAT64
    "https://[2002:7f00:1::1]/hook",  # 6to4 of 127.0.0.1
    "https://[fec0::1]/hook",  # site-local
    "https://[2001:db8::1]/hook",  # documentation
    "https://[2001::1]/hook",  # Teredo
    "https://[ff02::1]/hook",  # multicast
    "https://192.0.0.8/hook",  # IETF protocol assignments
    "https://198.18.0.1/hook",  # benchmarking
    "https://240.0.0.1/hook",  # reserved
    "https://224.0.0.1/hook",  # multicast
    "http://93.184.216.34/hook",  # public, but not https
    "ftp://93.184.216.34/hook",
    "https://no-such-host.invalid/hook",
]


@pytest.mark.parametrize("url", SSRF_TARGETS)
async def test_every_url_the_server_would_call_is_guarded(admin: Api, url: str) -> None:
    batch = (await admin.gql(
        "mutation B($u: String!) { upsertContacts(input: {contacts: [{email: \"a@example.com\"}], webhookUrl: $u}) { batch { id } userErrors { field code } } }",
        {"u": url},
    ))["upsertContacts"]  # fmt: skip
    assert batch == {"batch": None, "userErrors": [{"field": ["webhookUrl"], "code": "INVALID_INPUT"}]}
    endpoint = (await admin.gql(
        "mutation E($u: String!) { createWebhookEndpoint(url: $u, eventTypes: [\"*\"]) { endpoint { id } userErrors { field code } } }", {"u": url}
    ))["createWebhookEndpoint"]  # fmt: skip
    assert endpoint == {"endpoint": None, "userErrors": [{"field": ["url"], "code": "INVALID_INPUT"}]}
    imported = (await admin.gql(
        "mutation I($u: String!) { importContacts(input: {url: $u}) { batch { id } userErrors { field code message } } }", {"u": url}
    ))["importContacts"]  # fmt: skip
    [error] = imported["userErrors"]
    assert imported["batch"] is None and (error["field"], error["code"]) == (["url"], "INVALID_INPUT")
    if "invalid" not in url and not url.startswith("ftp"):
        assert "CONTACTQL_ALLOW_PRIVATE_WEBHOOKS=true" in error["message"], "the refusal says how to allow it in development"


@pytest.mark.parametrize("address", ["8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"])
def test_global_unicast_addresses_pass_the_guard(address: str) -> None:
    from contactql.outbound import _refused

    assert not _refused(address)


@pytest.mark.system
async def test_redirects_are_not_followed(settings: Settings) -> None:
    import asyncio

    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import RedirectResponse
    from starlette.routing import Route

    from tests.helpers import free_port

    port = free_port()
    target = Starlette(routes=[Route("/file.csv", lambda _: RedirectResponse("http://169.254.169.254/latest/meta-data"))])
    server = uvicorn.Server(uvicorn.Config(target, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    for _ in range(3000):  # bounded: until the server listens
        if server.started:
            break
        await asyncio.sleep(0.01)
    try:
        async with running(settings, allow_private_webhooks=True) as (_, api):
            result = (await api.gql(
                "mutation I($u: String!) { importContacts(input: {url: $u}) { batch { id } userErrors { field code message } } }",
                {"u": f"http://127.0.0.1:{port}/file.csv"},
            ))["importContacts"]  # fmt: skip
            assert result["batch"] is None
            assert result["userErrors"][0]["message"] == "the file could not be downloaded: HTTP 307"
    finally:
        server.should_exit = True
        await task


@pytest.mark.system
def test_unexpected_errors_leak_nothing_over_a_real_server(database_url: str) -> None:
    with serve(database_url) as (base, key, _):
        headers = {"Authorization": f"Bearer {key}"}
        response = httpx.post(f"{base}/graphql", content=b'{"query": 1}', headers={**headers, "Content-Type": "application/json"})
        assert response.status_code == 400 and "Traceback" not in response.text
        response = httpx.post(f"{base}/graphql", content=b"{not json", headers={**headers, "Content-Type": "application/json"})
        assert response.status_code == 400 and "Traceback" not in response.text
        assert json.dumps(httpx.get(f"{base}/healthz").json()) == '{"status": "ok"}'


INLINE_HISTORY = "{ contacts(first: 100) { edges { node { history(first: 100) { edges { node { at } } } } } } }"
COST_SHAPES = [
    "query Q { contacts(first: 100) { ...C } } fragment C on ContactConnection { edges { node { history(first: 100) { edges { node { at } } } } } }",
    "{ contacts(first: 100) { ... on ContactConnection { edges { node { history(first: 100) { edges { node { at } } } } } } } }",
    "query Q { contacts(first: 100) { ...C } } fragment C on ContactConnection { edges { node { history(first: 100) { ...H } } } } fragment H on ContactHistoryConnection { edges { node { at } } }",
]


@pytest.mark.parametrize("document", COST_SHAPES)
async def test_a_connection_costs_the_same_written_in_fragments(api: Api, document: str) -> None:
    """A connection's edges count `first` times whether selected inline or in a fragment on the
    connection type (a fragment there was costed as a list of 10: the limit could be cut 10× per level)."""
    inline, shaped = (await api.post(INLINE_HISTORY)).json(), (await api.post(document)).json()
    assert inline["errors"][0]["extensions"]["code"] == shaped["errors"][0]["extensions"]["code"] == "COST_LIMIT"
    assert shaped["errors"][0]["extensions"]["cost"] == inline["errors"][0]["extensions"]["cost"] == 20301


async def test_one_fragment_spread_under_connections_of_different_sizes_costs_each_its_own(api: Api) -> None:
    document = "query { a: contacts(first: 1) { ...C } b: contacts(first: 30) { ...C } } fragment C on ContactConnection { edges { node { id } } }"
    inline = "query { a: contacts(first: 1) { edges { node { id } } } b: contacts(first: 30) { edges { node { id } } } }"
    costs = [(await api.post(d)).json()["extensions"]["cost"]["requestedQueryCost"] for d in (document, inline)]
    assert costs[0] == costs[1] == (1 + 1 * 2) + (1 + 30 * 2), costs


async def test_a_list_sliced_by_last_costs_what_it_may_return(api: Api) -> None:
    """`Contact.consents(last:)` returns up to `last` records: 100 contacts with 1 000 each is
    100 000 rows, refused before it runs, not costed as a list of 10."""
    documents = ['{ contact(id: "1") { consents(last: 1) { ip } } }', '{ contact(id: "1") { consents(last: 1000) { ip } } }', '{ contact(id: "1") { consents { ip } } }']
    costs = [(await api.post(d)).json()["extensions"]["cost"]["requestedQueryCost"] for d in documents]
    assert costs == [2, 1001, 101]
    refused = (await api.post("{ contacts(first: 100) { edges { node { consents(last: 1000) { ip } } } } }")).json()["errors"][0]["extensions"]
    assert (refused["code"], refused["cost"]) == ("COST_LIMIT", 100201)
