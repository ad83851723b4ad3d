"""OpenTelemetry tracing (`CONTACTQL_TRACING=otlp`), against a real `contactql serve` that
exports over OTLP/HTTP to a stand-in collector on 127.0.0.1, decoded with OpenTelemetry's own
protobuf types: the client's trace continues, the operation and its resolvers are spans of it,
and no value from a request (variables, literals, the query string) reaches the collector."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from contactql.config import ConfigError
from contactql.tracing import Tracing, blank_literals
from tests.helpers import free_port, held_batch, serve
from tests.test_streams import PROGRESS, SSE, client, progress_events

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
SECRETS = ("ann.secret@example.com", "literal.secret", "by.get.secret", "+4791234567")


class _Collector(http.server.BaseHTTPRequestHandler):
    received: list[bytes]

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == "/v1/traces":
            self.server.received.append(body)  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


@contextlib.contextmanager
def collector() -> Iterator[tuple[str, list[bytes]]]:
    """An OTLP/HTTP endpoint on 127.0.0.1 keeping each export's raw bytes."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), _Collector)
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.received  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


def spans(received: list[bytes]) -> list[tuple[dict[str, Any], Span]]:
    """Every exported span with its resource's attributes."""
    found = []
    for body in received:
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            found += [(resource, span) for scope in resource_spans.scope_spans for span in scope.spans]
    return found


def attributes(span: Span) -> dict[str, Any]:
    def value(v: Any) -> Any:
        kind = v.WhichOneof("value")
        return [value(x) for x in v.array_value.values] if kind == "array_value" else getattr(v, kind)

    return {a.key: value(a.value) for a in span.attributes}


@pytest.mark.system
def test_a_request_is_traced_from_the_clients_span_down_to_its_resolvers_and_no_value_leaves(database_url: str) -> None:
    upsert = "mutation Upsert($input: UpsertContactInput!) { upsertContact(input: $input) { outcome userErrors { code } } }"
    literal = '{ contacts(first: 1, search: "literal.secret") { totalCount } }'
    with collector() as (endpoint, received):
        env = {"CONTACTQL_TRACING": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint}
        with serve(database_url, env=env) as (base, key, _):
            headers = {"Authorization": f"Bearer {key}"}
            traced = {**headers, "traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"}
            answer = httpx.post(f"{base}/graphql", headers=traced, json={"query": upsert, "variables": {"input": {"contact": {"email": SECRETS[0], "mobile": SECRETS[3]}}}})
            assert answer.json()["data"]["upsertContact"]["outcome"] == "CREATED"
            assert httpx.post(f"{base}/graphql", headers=headers, json={"query": literal}).json()["data"]["contacts"]["totalCount"] == 0
            by_get = httpx.get(f"{base}/graphql", headers=headers, params={"query": "query Q($s: String) { contacts(search: $s) { totalCount } }", "variables": json.dumps({"s": SECRETS[2]})})
            assert by_get.status_code == 200
            refused = httpx.post(f"{base}/graphql", headers=headers, json={"query": "{ contacts(first: 1000) { totalCount } }"})
            assert refused.json()["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
        # The server has stopped: its last spans were sent as it shut down.
    raw = b"".join(received)
    for secret in SECRETS:
        assert secret.encode() not in raw, secret
    found = spans(received)
    assert found and all(resource["service.name"] == "contactql" for resource, _ in found)
    ours = [span for _, span in found if span.trace_id.hex() == TRACE_ID]
    by_name = {span.name: span for span in ours}
    server = by_name["POST /graphql"]
    assert server.parent_span_id.hex() == PARENT_ID and server.kind == Span.SPAN_KIND_SERVER
    assert attributes(server).get("http.status_code", attributes(server).get("http.response.status_code")) == 200
    operation = by_name["GraphQL Query: Upsert"]
    assert operation.parent_span_id == server.span_id
    assert attributes(operation)["graphql.operation.name"] == "Upsert"
    assert "upsertContact(input: $input)" in attributes(operation)["query"]  # variables: the document has no values
    resolver = by_name["GraphQL Resolving: upsertContact"]
    assert resolver.parent_span_id == operation.span_id and attributes(resolver)["graphql.param.input"] == "…"
    assert {"GraphQL Parsing", "GraphQL Validation"} <= set(by_name)
    # Other requests are traces of their own; a refused one carries its error code.
    others = [attributes(span) for _, span in found if span.name.startswith("GraphQL Query") and span.trace_id.hex() != TRACE_ID]
    assert any('search: ""' in a["query"] for a in others)
    assert any(a.get("graphql.error.codes") == ["INVALID_INPUT"] for a in others), others


@pytest.mark.system
async def test_a_subscription_over_sse_streams_as_ever_with_tracing_on(database_url: str) -> None:
    with collector() as (endpoint, received):
        env = {"CONTACTQL_TRACING": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint}
        with held_batch(database_url, 50, env=env) as (base, key, batch_id, release):
            async with client(base, key, SSE) as http, http.stream("POST", "/graphql", json={"query": PROGRESS, "variables": {"id": batch_id}}) as response:
                events = await progress_events(response, release)
    assert json.loads(events[-2][1])["data"]["batchProgress"]["status"] == "COMPLETED"
    assert any(span.name == "GraphQL Resolving: batchProgress" for _, span in spans(received))


@pytest.mark.system
def test_tracing_is_off_by_default_even_with_an_endpoint_in_the_environment(database_url: str) -> None:
    with collector() as (endpoint, received):
        with serve(database_url, env={"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint}) as (base, key, _):
            answer = httpx.post(f"{base}/graphql", headers={"Authorization": f"Bearer {key}", "traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"}, json={"query": "{ workspace { name } }"})
            assert answer.status_code == 200 and "traceparent" not in answer.headers
    assert received == []


def test_without_the_extra_installed_the_setting_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk.trace", None)  # as if not installed: import raises ImportError
    with pytest.raises(ConfigError, match=r"CONTACTQL_TRACING=otlp needs OpenTelemetry: pip install 'contactql\[tracing\]'"):
        Tracing("otlp")


def test_serve_without_the_extra_stops_with_one_line_before_creating_anything(tmp_path: Path) -> None:
    # `contactql serve` as README starts it, in a Python where OpenTelemetry's SDK cannot be imported.
    hidden = "import sys; sys.modules['opentelemetry.sdk.trace'] = None; from contactql.cli import main; sys.exit(main())"
    database = tmp_path / "contactql.db"
    command = [sys.executable, "-c", hidden, "serve", "--port", str(free_port()), "--database", f"sqlite:///{database}"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, env={**os.environ, "CONTACTQL_TRACING": "otlp"}, check=False)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == "contactql: CONTACTQL_TRACING=otlp needs OpenTelemetry: pip install 'contactql[tracing]'\n"
    assert not database.exists()  # no first-start key printed for a server that does not start


@pytest.mark.parametrize(
    ("document", "recorded"),
    [
        ('{ contacts(search: "ann@example.com", first: 5) { totalCount } }', '{\n  contacts(search: "", first: 0) {\n    totalCount\n  }\n}'),
        ('mutation { upsertContact(input: {contact: {email: """a\nb""", emailOptIn: true, emailStatus: SUBSCRIBED}}) { outcome } }', "emailOptIn: true, emailStatus: SUBSCRIBED"),
        ("{ contacts(first: 1.5e300) { totalCount } }", "first: 0"),
        ("{ nope", "(a document that does not parse)"),
        ("", ""),
    ],
)
def test_literals_are_blanked_enums_and_booleans_kept(document: str, recorded: str) -> None:
    assert recorded in blank_literals(document)
    assert "ann@example.com" not in blank_literals(document) and "a\nb" not in blank_literals(document)
