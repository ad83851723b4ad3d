"""Docs cannot drift: schema.graphql is the exported schema; playground.http is valid against it."""

from __future__ import annotations

import json
import re
import urllib.parse
from dataclasses import dataclass
from typing import Any

import pytest
from graphql import OperationDefinitionNode, parse, validate
from graphql.execution.values import get_variable_values

from contactql.schema.root import build_schema, export_sdl
from tests.helpers import repo_root


def test_committed_schema_matches_the_code() -> None:
    committed = (repo_root() / "schema.graphql").read_text()
    assert committed == export_sdl(), "schema.graphql is stale: run `contactql schema > schema.graphql`"


@dataclass
class HttpRequest:
    title: str
    method: str
    url: str
    headers: dict[str, str]
    document: str
    variables: dict[str, Any]


def playground_requests() -> list[HttpRequest]:
    text = (repo_root() / "playground.http").read_text()
    requests = []
    for block in text.split("\n###")[1:]:
        lines = block.splitlines()
        title = lines[0].strip()
        body_lines = _request_lines(lines[1:])
        while body_lines and not body_lines[0].strip():
            body_lines.pop(0)
        method, url = body_lines[0].split()[:2]
        headers: dict[str, str] = {}
        index = 1
        while index < len(body_lines) and body_lines[index].strip():
            name, _, value = body_lines[index].partition(":")
            headers[name.strip().lower()] = value.strip()
            index += 1
        body = "\n".join(body_lines[index:]).strip()
        document, variables = body, {}
        if method == "GET":  # GraphQL over HTTP: the document and variables in the URL
            params = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
            document, variables = params["query"][0], json.loads(params.get("variables", ["{}"])[0])
        elif headers.get("content-type", "").startswith("multipart/form-data"):
            operations = json.loads(re.search(r'name="operations"\n\n(.*?)\n--', body, re.S).group(1))  # type: ignore[union-attr]
            document, variables = operations["query"], operations["variables"]
            # the multipart spec's null placeholders, which the server replaces with the files
            file_map = json.loads(re.search(r'name="map"\n\n(.*?)\n--', body, re.S).group(1))  # type: ignore[union-attr]
            for paths in file_map.values():
                for path in paths:
                    variables[path.removeprefix("variables.")] = "an uploaded file"
        else:
            parts = re.split(r"\n\s*\n(?=\{)", body)
            if len(parts) > 1:
                document, variables = "\n\n".join(parts[:-1]), json.loads(parts[-1])
        requests.append(HttpRequest(title, method, url, headers, document, variables))
    return requests


def _request_lines(lines: list[str]) -> list[str]:
    """The request itself: no comments, `??` assertions or `{{ … }}` pre-request scripts."""
    kept: list[str] = []
    in_script = False
    for line in lines:
        if not kept and line.strip() == "{{":
            in_script = True
        elif in_script:
            in_script = line.strip() != "}}"
        elif not line.startswith(("#", "??")):
            kept.append(line)
    return kept


REQUESTS = playground_requests()


def test_playground_has_requests_variables_and_assertions() -> None:
    text = (repo_root() / "playground.http").read_text()
    assert "@host = " in text and "@key = " in text
    assert len(REQUESTS) >= 40
    for block in text.split("\n###")[1:]:
        assert "\n?? status == 200" in block and "\n?? body errors isFalse" in block, block.splitlines()[0]


@pytest.mark.parametrize("request_", REQUESTS, ids=[r.title for r in REQUESTS])
def test_every_playground_request_is_valid_graphql(request_: HttpRequest) -> None:
    # the admin key README's serve printed; one request uses the publishable key the one before made
    assert request_.headers["authorization"] in ("Bearer {{key}}", "Bearer {{formKey.data.createPublishableKey.key}}")
    if request_.method == "GET":
        assert request_.url.startswith("{{host}}/graphql?")
    else:
        assert request_.method == "POST" and request_.url == "{{host}}/graphql"
        assert request_.headers["content-type"] == "application/json" or request_.headers["content-type"].startswith("multipart/form-data")
    schema = build_schema()._schema
    document = parse(request_.document)
    assert validate(schema, document) == []
    operation = next(d for d in document.definitions if isinstance(d, OperationDefinitionNode))
    coerced = get_variable_values(schema, operation.variable_definitions or [], request_.variables)
    assert not isinstance(coerced, list), coerced


def test_playground_covers_every_operation_of_the_schema() -> None:
    schema = build_schema()._schema
    used = set()
    for request_ in REQUESTS:
        for definition in parse(request_.document).definitions:
            if isinstance(definition, OperationDefinitionNode):
                used |= {selection.name.value for selection in definition.selection_set.selections}  # type: ignore[union-attr]
    root_fields = set(schema.query_type.fields) | set(schema.mutation_type.fields)  # type: ignore[union-attr]
    assert root_fields - used == set()
