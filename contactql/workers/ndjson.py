"""NDJSON imports (issue 23): one ContactInput-shaped JSON object a line, each a batch item with
the same checks as an `upsertContacts` item — GraphQL's own for the input type (graphql-core's
`validate_input_value` against the schema's ContactInput, so a wrong type reads as it would in
a variable), then the engine's (`validate_contact`).

A line that is blank is skipped; one that is not JSON, not an object, or not a ContactInput is
a failed item naming `line N` (its clientRef, unless it gives one) — the rest of the file is
imported. Lines are numbered from 1, as an editor shows them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import orjson
from graphql import GraphQLInputType
from graphql.utilities import coerce_input_value, validate_input_value

from contactql.store.batches import csv as imports
from contactql.store.batches.queue import entry
from contactql.store.errors import ErrorCode, Invalid, Problem
from contactql.store.model import ContactItem
from contactql.store.upsert.validate import validate_contact

NAMES = (".ndjson", ".jsonl")
MAX_LINE_PROBLEMS = 20  # a line's GraphQL problems reported at most (a wrong object can have hundreds)


def is_ndjson(name: str | None, data: bytes) -> bool:
    """An NDJSON file by its name, else by its first character (a CSV header never opens with `{`)."""
    if name and name.lower().endswith(NAMES):
        return True
    return data.removeprefix(b"\xef\xbb\xbf").lstrip()[:1] == b"{"


def _lines(data: bytes) -> Iterator[tuple[int, bytes]]:
    for number, line in enumerate(data.removeprefix(b"\xef\xbb\xbf").split(b"\n"), 1):
        if line.strip():
            yield number, line


def entries(
    data: bytes, contact_type: GraphQLInputType, default_country: str | None = None, on_row: Callable[[], None] | None = None
) -> tuple[list[dict[str, Any]], imports.Header]:
    """The batch items of an NDJSON file, each validated once, and a header for the report: the
    contact fields and the property names its lines give."""
    imports.decode(data)  # refuses a file that is not UTF-8 text (a NUL byte, UTF-16), as for a CSV
    out: list[dict[str, Any]] = []
    fields: set[str] = set()
    properties: dict[str, str] = {}
    for index, (number, line) in enumerate(_lines(data)):
        ref = f"line {number}"
        raw, problems = _contact(line, contact_type)
        if raw is None:
            out.append(entry(ContactItem(index=index, client_ref=ref), problems))
        else:
            raw.setdefault("clientRef", ref)
            fields.update(k for k in raw if k not in ("properties", "clientRef"))
            properties.update((str(p.get("name")).lower(), str(p.get("name"))) for p in raw.get("properties") or () if p.get("name"))
            out.append(entry(*validate_contact(raw, index, default_country)))
        if on_row is not None:
            on_row()
    if not out:
        raise Invalid.at(("file",), "the file has no lines with a contact")
    names = (*sorted(fields), *sorted(properties.values()))
    header = imports.Header("\n", names, dict(enumerate(sorted(fields))), {len(fields) + i: n for i, n in enumerate(sorted(properties.values()))}, ())
    return out, header


def _contact(line: bytes, contact_type: GraphQLInputType) -> tuple[dict[str, Any] | None, list[Problem]]:
    """The line as graphql-core coerces a ContactInput variable, or why it is not one."""
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as error:
        return None, [Problem((), ErrorCode.INVALID_INPUT, f"not JSON: {error}")]
    if not isinstance(value, dict):
        return None, [Problem((), ErrorCode.INVALID_INPUT, "each line must be one JSON object, a ContactInput")]
    problems: list[Problem] = []

    def refused(error: Any, path: Any) -> None:
        if len(problems) < MAX_LINE_PROBLEMS:
            problems.append(Problem(tuple(str(p) for p in path), ErrorCode.INVALID_INPUT, error.message))

    validate_input_value(value, contact_type, refused)  # first: it stops at the first level a ContactInput cannot have
    if problems:
        return None, problems
    if _has_nul(value):  # as in a request's variables (schema/hardening.py): PostgreSQL text cannot hold one
        return None, [Problem((), ErrorCode.INVALID_INPUT, "text may not contain the NUL character (U+0000)")]
    return dict(coerce_input_value(value, contact_type)), []


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False
