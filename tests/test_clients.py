"""The clients users really run, against a real `contactql serve` on 127.0.0.1: graphql-http's
audit, a graphql-ws subscription, `playground.http` in httpyac, graphql-schema-linter, urql,
Apollo Client, GraphQL Code Generator, relay-compiler and Python `gql`, each in its default
configuration.

They come from npm (package.json, pinned by package-lock.json; `scripts/test` runs `npm ci`).
A missing tool fails the test: nothing here is skipped.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import gql
import httpx
import pytest
from gql.transport.exceptions import TransportQueryError
from gql.transport.httpx import HTTPXAsyncTransport
from graphql import GraphQLError

from tests.helpers import held_batch, repo_root, serve

pytestmark = pytest.mark.system  # real servers, browsers, npm clients or processes: left out of the fast loop

ROOT = repo_root()
BIN = ROOT / "node_modules" / ".bin"
LINT_RULES = (
    "types-have-descriptions", "fields-have-descriptions", "arguments-have-descriptions", "enum-values-have-descriptions",
    "input-object-values-have-descriptions", "enum-values-all-caps", "fields-are-camel-cased", "input-object-values-are-camel-cased",
    "types-are-capitalized", "relay-connection-types-spec", "relay-page-info-spec", "defined-types-are-used",
    "deprecations-have-a-reason", "descriptions-are-capitalized",
)  # fmt: skip


def node(*args: str, timeout: float = 120, cwd: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    assert (ROOT / "node_modules").is_dir(), "the npm clients are missing: run `npm ci` (scripts/test does)"
    # Output to a file, not a pipe: Node writes pipes asynchronously and a tool that calls
    # process.exit() (httpyac does) loses what is past the first 64 KiB.
    with tempfile.TemporaryFile("w+") as out:
        done = subprocess.run(args, cwd=cwd, stdout=out, stderr=subprocess.PIPE, text=True, timeout=timeout, check=False, env={**os.environ, **(env or {})})
        out.seek(0)
        return subprocess.CompletedProcess(args, done.returncode, out.read(), done.stderr)


def test_graphql_http_audit_has_no_errors_or_warnings(database_url: str) -> None:
    with serve(database_url) as (base, key, _):
        assert key is not None
        result = node("node", "tests/clients/audit.mjs", f"{base}/graphql", key)
    audits = [json.loads(line) for line in result.stdout.splitlines()]
    failing = [a for a in audits if a["status"] in {"error", "warn"}]
    assert failing == [] and result.returncode == 0, failing or result.stderr
    assert len(audits) >= 50
    # The MAYs too: since queries are taken by GET, not one audit is left as a notice.
    assert [a for a in audits if a["status"] != "ok"] == []


def test_urql_in_its_default_configuration_queries_by_get_and_caches(database_url: str) -> None:
    with serve(database_url) as (base, key, _):
        assert key is not None
        result = node("node", "tests/clients/urql.mjs", f"{base}/graphql", key)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    # The document cache: queries went by GET (urql's default), mutations by POST; the second
    # read was the cache's; the mutation's Contact made the page stale and it was read again.
    assert report["requests"] == [{"method": "POST", "get": False}, {"method": "GET", "get": True}] * 2
    assert report["created"] == "CREATED" and report["requestsForCachedPage"] == 0
    assert [e["node"]["firstName"] for e in report["firstPage"]["edges"]] == ["Ada"] and report["cachedPage"] == report["firstPage"]
    assert [e["node"]["firstName"] for e in report["pageAfterMutation"]["edges"]] == ["Grace"]
    # graphcache, default configuration: the contact is one record by __typename and id.
    assert report["normalisedBefore"]["firstName"] == "Grace" and report["normalisedAfter"]["firstName"] == "Linus"
    assert report["requestsForNormalised"] == 0
    # persistedExchange as its README sets it up: the hash alone (by GET, within the URL
    # limit), the document once when ContactQL asked for it, then the hash alone is answered.
    assert report["persistedFirst"] == report["persistedAgain"] == {"__typename": "Contact", **report["normalisedAfter"]}
    assert report["persistedRequests"] == [{"method": "GET", "document": d, "hash": True} for d in (False, True, False)]
    assert "warn" not in result.stderr.lower(), result.stderr


def test_apollo_client_in_its_default_configuration_normalises_pages_subscribes_and_persists_queries(database_url: str) -> None:
    with serve(database_url) as (base, key, _):
        assert key is not None
        result = node("node", "tests/clients/apollo.mjs", f"{base}/graphql", key)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    # relayStylePagination: two pages, one list in the cache, nothing more to fetch.
    assert report["firstPage"] == ["Ada", "Grace"] and report["merged"] == ["Ada", "Grace", "Linus"] and report["hasNextPage"] is False
    # contactsChanged pushes over graphql-ws through the split link; the one record of the
    # contact is what every cached page shows.
    pushed = report["pushed"]["contact"]["firstName"]
    assert report["pushed"]["type"] == "UPDATED" and pushed.startswith("Ada Lovelace ")
    assert report["cachedAfterPush"][0].startswith("Ada Lovelace ") and report["cachedAfterPush"][1:] == ["Grace", "Linus"]
    # Every Contact is one record by __typename and id; nothing was stored un-normalised.
    assert report["cacheKeys"] == sorted(["Contact:1", "Contact:2", "Contact:3", "ROOT_MUTATION", "ROOT_QUERY", "ROOT_SUBSCRIPTION"])
    # The persisted-query link: the hash alone, the document once when the server asked for it,
    # then the hash alone again, answered.
    assert report["persistedFirst"] == report["persistedAgain"] == 3
    digest = report["persistedHash"]
    assert report["persistedBodies"] == [{"query": False, "hash": digest}, {"query": True, "hash": digest}, {"query": False, "hash": digest}]


def test_apollo_clients_http_link_alone_subscribes_over_multipart(database_url: str) -> None:
    """No WebSocket link at all, as where a proxy or a serverless host cannot carry one: Apollo
    sends the subscription by POST with its multipart Accept header and reads the parts."""
    with serve(database_url) as (base, key, _):
        assert key is not None
        result = node("node", "tests/clients/apollo-http-subscription.mjs", f"{base}/graphql", key)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["errors"] is None and report["pushed"]["type"] in {"CREATED", "UPDATED"}
    assert report["pushed"]["contact"]["email"] == "multipart@example.com" and report["pushed"]["contact"]["firstName"].startswith("Ada ")
    assert "Contact:1" in report["cacheKeys"]  # the pushed contact normalised into the cache


def test_a_graphql_ws_client_follows_a_batch_to_completion(database_url: str) -> None:
    with held_batch(database_url, 1000) as (base, key, batch_id, release), tempfile.TemporaryFile("w+") as out:
        client = subprocess.Popen(["node", "tests/clients/progress.mjs", base, key, batch_id], cwd=ROOT, stdout=out, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while not (out.seek(0), out.readline())[1]:  # the first push: subscribed, the batch not started
            assert client.poll() is None and time.monotonic() < deadline, client.stderr.read() if client.stderr else ""
            time.sleep(0.05)
        release()
        _, stderr = client.communicate(timeout=120)
        out.seek(0)
        result = subprocess.CompletedProcess(client.args, client.returncode, out.read(), stderr)
    assert result.returncode == 0, result.stderr
    pushed = [json.loads(line)["data"]["batchProgress"] for line in result.stdout.splitlines()]
    processed = [p["processed"] for p in pushed]
    assert len(pushed) >= 3 and processed == sorted(processed), processed
    assert pushed[-1] == {"status": "COMPLETED", "processed": 1000, "total": 1000, "created": 1000}


def test_a_wrong_key_in_connection_init_is_refused(database_url: str) -> None:
    with serve(database_url) as (base, _, _):
        result = node("node", "tests/clients/progress.mjs", base, "cql_wrong", "any-batch")
    assert result.returncode != 0 and "4401" in result.stderr + result.stdout


def test_playground_http_runs_end_to_end_in_httpyac(database_url: str) -> None:
    with serve(database_url) as (base, key, _):
        assert key is not None
        result = node(str(BIN / "httpyac"), "send", "playground.http", "--all", "--bail", "--json", "--var", f"host={base}", "--var", f"key={key}")
    report = json.loads(result.stdout)
    summary = report["summary"]
    failed = [
        (r["name"], [t["message"] for t in r.get("testResults", []) if t["status"] != "SUCCESS"])
        for r in report["requests"]
        if any(t["status"] != "SUCCESS" for t in r.get("testResults", []))
    ]
    assert result.returncode == 0 and failed == [], failed or result.stderr
    blocks = (ROOT / "playground.http").read_text().count("\n### ")
    assert summary["totalRequests"] == summary["successRequests"] == blocks, summary
    assert summary["failedTests"] == summary["erroredTests"] == 0 and summary["successTests"] >= 3 * blocks, summary
    assert all(len(r.get("testResults", [])) >= 3 for r in report["requests"])


def test_schema_graphql_passes_graphql_schema_linter() -> None:
    result = node(str(BIN / "graphql-schema-linter"), "--rules", ",".join(LINT_RULES), "schema.graphql")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "env",
    [{}, {"CONTACTQL_GRAPHIQL": "false", "CONTACTQL_INTROSPECTION": "true"}],
    ids=["defaults", "production without GraphiQL"],
)
async def test_python_gql_fetches_the_schema_and_checks_documents_before_sending(database_url: str, env: dict[str, str]) -> None:
    with serve(database_url, env=env) as (base, key, _):
        transport = HTTPXAsyncTransport(url=f"{base}/graphql", headers={"Authorization": f"Bearer {key}"})
        async with gql.Client(transport=transport, fetch_schema_from_transport=True) as session:
            assert session.client.schema is not None and session.client.schema.get_type("Contact") is not None
            made = await session.execute(
                gql.GraphQLRequest(
                    "mutation U($c: ContactInput!) { upsertContact(input: {contact: $c}) { outcome contact { email } } }",
                    variable_values={"c": {"email": "gql@example.com"}},
                )
            )
            assert made["upsertContact"] == {"outcome": "CREATED", "contact": {"email": "gql@example.com"}}
            page = await session.execute(gql.gql("{ contacts(first: 5) { totalCount edges { node { email } } } }"))
            assert page["contacts"]["totalCount"] == 1
            # Checked against the fetched schema, in the client: never sent.
            with pytest.raises(GraphQLError, match="Cannot query field 'nope'"):
                await session.execute(gql.gql("{ contacts { nope } }"))
            # A refusal of the server's own reaches gql's caller with its code.
            with pytest.raises(TransportQueryError) as refused:
                await session.execute(gql.gql("{ contacts(first: 5000) { totalCount } }"))
            assert refused.value.errors and refused.value.errors[0]["extensions"]["code"] in {"INVALID_INPUT", "COST_LIMIT"}


def test_codegen_types_a_program_that_a_trusted_documents_server_runs(database_url: str, tmp_path: Path) -> None:
    """examples/trusted-documents as its README walks it: GraphQL Code Generator's client preset
    on schema.graphql, `tsc --strict`, then the program against a server that trusts only its
    manifest, with a key that is not admin."""
    example = tmp_path / "example"
    shutil.copytree(ROOT / "examples" / "trusted-documents", example, ignore=shutil.ignore_patterns("node_modules", "dist", "gql"))
    (example / "node_modules").symlink_to(ROOT / "node_modules")
    generated = node(str(BIN / "graphql-codegen"), "--config", "codegen.ts", cwd=example, env={"CONTACTQL_SCHEMA": str(ROOT / "schema.graphql")})
    assert generated.returncode == 0, generated.stdout + generated.stderr
    manifest = json.loads((example / "src" / "gql" / "persisted-documents.json").read_text())
    assert len(manifest) == 2
    compiled = node(str(BIN / "tsc"), "-p", "tsconfig.json", cwd=example)
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr  # strict, and the types fit
    with serve(database_url, env={"CONTACTQL_TRUSTED_DOCUMENTS": str(example / "src" / "gql" / "persisted-documents.json")}) as (base, _, _):
        command = [sys.executable, "-m", "contactql.cli", "keys", "create", "--scope", "write", "--database", database_url]
        writer = subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        ran = node("node", "dist/app.js", f"{base}/graphql", writer, cwd=example)
    assert ran.returncode == 0, ran.stderr
    report = json.loads(ran.stdout)
    assert report["outcome"] == "CREATED" and report["total"] == 1 and report["refused"] == "FORBIDDEN"
    assert report["createdAt"].endswith("+00:00")


def _operation_text(artifact: Path) -> str:
    """The query text relay-compiler wrote into a generated artifact (what Relay sends)."""
    match = re.search(r'"text": ("(?:[^"\\]|\\.)*")', artifact.read_text())
    assert match, artifact
    return str(json.loads(match.group(1)))


def test_the_relay_compiler_pages_contacts_with_connection_and_its_queries_run(database_url: str, tmp_path: Path) -> None:
    """examples/relay: fragments with @connection (on Query, refetchable, with a filter; and
    inside ContactList) compiled by relay-compiler against schema.graphql; then the very queries
    Relay sends (with the fields it adds: __typename, cursor, pageInfo) run on a real server, page
    after page."""
    example = tmp_path / "examples" / "relay"
    shutil.copytree(ROOT / "examples" / "relay", example, ignore=shutil.ignore_patterns("*.graphql.ts"))
    shutil.copy(ROOT / "schema.graphql", tmp_path / "schema.graphql")  # where relay.config.json names it
    compiled = node(str(BIN / "relay-compiler"), cwd=example)
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr
    generated = example / "src" / "__generated__"
    page = (generated / "ContactsPage_query.graphql.ts").read_text()
    # One connection in the store per search (filters), the page size and cursor left out of its key.
    assert re.search(r'"args": \[\s*\{\s*"kind": "Variable",\s*"name": "search",\s*"variableName": "search"\s*\}\s*\],\s*"concreteType": "ContactConnection",\s*"kind": "LinkedField",\s*"name": "__ContactsPage_contacts_connection"', page)
    assert '"operation": ContactsPagePaginationQuery_graphql' in page  # @refetchable: the next page's query
    assert '"__ListMembers_contacts_connection"' in (generated / "ListMembers_list.graphql.ts").read_text()
    app_query, next_page = _operation_text(generated / "AppQuery.graphql.ts"), _operation_text(generated / "ContactsPagePaginationQuery.graphql.ts")
    with serve(database_url) as (base, key, _):
        headers = {"Authorization": f"Bearer {key}"}
        for i in range(3):
            reply = httpx.post(f"{base}/graphql", headers=headers, json={"query": 'mutation($c: ContactInput!) { upsertContact(input: {contact: $c}) { outcome } }', "variables": {"c": {"email": f"relay{i}@example.com", "lists": {"add": [{"name": "Relay"}]}}}})
            assert reply.json()["data"]["upsertContact"]["outcome"] == "CREATED", reply.text
        first = httpx.post(f"{base}/graphql", headers=headers, json={"query": app_query, "variables": {"count": 2, "search": None}}).json()
        assert "errors" not in first, first
        contacts = first["data"]["contacts"]
        assert [e["node"]["__typename"] for e in contacts["edges"]] == ["Contact", "Contact"] and contacts["pageInfo"]["hasNextPage"] is True
        members = first["data"]["lists"]["edges"][0]["node"]
        assert members["name"] == "Relay" and len(members["contacts"]["edges"]) == 3
        rest = httpx.post(f"{base}/graphql", headers=headers, json={"query": next_page, "variables": {"count": 2, "cursor": contacts["pageInfo"]["endCursor"], "search": None}}).json()
        assert "errors" not in rest, rest
    emails = [e["node"]["email"] for e in contacts["edges"] + rest["data"]["contacts"]["edges"]]
    assert sorted(emails) == [f"relay{i}@example.com" for i in range(3)] and rest["data"]["contacts"]["pageInfo"]["hasNextPage"] is False
