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
from graphql import GraphQLInputType, Undefined
from graphql.utilities import coerce_input_value, validate_input_value

from contactql.store.batches import csv as imports
from contactql.store.batches.queue import entry
from contactql.store.errors import ErrorCode, Invalid, Problem
from contactql.store.model import ContactItem
from contactql.store.upsert.validate import validate_contact
from contactql.store.values import BUILTIN_PROPERTY_NAMES, MAX_TEXT, nul_path

NAMES = (".ndjson", ".jsonl")
MAX_LINE_PROBLEMS = 20  # a line's GraphQL problems reported: checking stops there (a wrong object can have thousands)
MAX_DEPTH = 16  # nesting of a line's value; a ContactInput needs 4 (lists.add[0].name)
MAX_MESSAGE = 500  # characters of a problem's message (GraphQL's quote the value, keys and all)
_BUILTIN = {name.lower() for name in BUILTIN_PROPERTY_NAMES}


class _Enough(Exception):
    """MAX_LINE_PROBLEMS found: the check stops."""


def is_ndjson(name: str | None, data: bytes) -> bool:
    """An NDJSON file by its name, else by its first character (a CSV header never opens with `{`)."""
    if name and name.lower().endswith(NAMES):
        return True
    return data.removeprefix(b"\xef\xbb\xbf").lstrip()[:1] == b"{"


def _lines(data: bytes) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(imports.decode(data, "UTF-8").split("\n"), 1):
        if line.strip():
            yield number, line


def entries(
    data: bytes, contact_type: GraphQLInputType, default_country: str | None = None, on_row: Callable[[], None] | None = None
) -> tuple[list[dict[str, Any]], imports.Header]:
    """The batch items of an NDJSON file, each validated once, and a header for the report: the
    contact fields and the property names its lines give."""
    out: list[dict[str, Any]] = []
    fields: set[str] = set()
    properties: dict[str, str] = {}
    for index, (number, line) in enumerate(_lines(data)):
        raw, ref, problems = _contact(line, contact_type, f"line {number}")
        if raw is None:
            out.append(entry(ContactItem(index=index, client_ref=ref), problems))
        else:
            long_ref = isinstance(raw.get("clientRef"), str) and len(raw["clientRef"].strip()) > MAX_TEXT
            raw["clientRef"] = ref  # its own, or `line N` in place of one missing, blank or too long (never echoed)
            fields.update(k for k in raw if k not in ("properties", "clientRef"))
            for p in raw.get("properties") or ():
                if isinstance(name := p.get("name"), str) and name.strip():
                    if name.strip().lower() in _BUILTIN:
                        fields.add(name.strip())
                    else:
                        properties[name.strip().lower()] = name.strip()
            item, problems = validate_contact(raw, index, default_country)
            if long_ref:
                problems.append(Problem(("clientRef",), ErrorCode.INVALID_INPUT, f"must be at most {MAX_TEXT} characters"))
            out.append(entry(item, problems))
        if on_row is not None:
            on_row()
    if not out:
        raise Invalid.at(("file",), "the file has no lines with a contact")
    names = (*sorted(fields), *sorted(properties.values()))
    header = imports.Header("\n", names, dict(enumerate(sorted(fields))), {len(fields) + i: n for i, n in enumerate(sorted(properties.values()))}, ())
    return out, header


def _contact(line: str, contact_type: GraphQLInputType, line_ref: str) -> tuple[dict[str, Any] | None, str, list[Problem]]:
    """The line as graphql-core coerces a ContactInput variable (None when it is not one), its
    clientRef (its own when that is usable text, else `line N`), and why it is not one."""
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError as error:
        return None, line_ref, [Problem((), ErrorCode.INVALID_INPUT, f"not JSON: {error.msg} at character {error.pos + 1}")]
    if not isinstance(value, dict):
        return None, line_ref, [Problem((), ErrorCode.INVALID_INPUT, "each line must be one JSON object, a ContactInput")]
    own = value.get("clientRef")
    ref = own.strip() if isinstance(own, str) and own.strip() and len(own.strip()) <= MAX_TEXT else line_ref
    if _deeper_than(value, MAX_DEPTH):  # as graphql-core refuses a variable: before any recursion
        return None, ref, [Problem((), ErrorCode.INVALID_INPUT, "values are nested too deeply")]
    problems: list[Problem] = []

    def refused(error: Any, path: Any) -> None:
        message = error.message if len(error.message) <= MAX_MESSAGE else error.message[: MAX_MESSAGE - 1] + "…"
        problems.append(Problem(tuple(str(p)[:MAX_TEXT] for p in path), ErrorCode.INVALID_INPUT, message))
        if len(problems) >= MAX_LINE_PROBLEMS:
            raise _Enough

    try:
        validate_input_value(value, contact_type, refused)
    except _Enough:
        pass
    if problems:
        return None, ref, problems
    if "\\u0000" in line and (at := nul_path(value)) is not None:  # as a request's variables are checked (schema/hardening.py)
        return None, ref, [Problem(tuple(str(p) for p in at), ErrorCode.INVALID_INPUT, "text may not contain the NUL character (U+0000)")]
    try:
        coerced = coerce_input_value(value, contact_type)
    except Exception as error:  # Strawberry's own input rules (a ListRef's one-of) raise as it builds the value
        return None, ref, [Problem((), ErrorCode.INVALID_INPUT, str(error)[:MAX_MESSAGE] or "not a ContactInput")]
    if coerced is Undefined:
        return None, ref, [Problem((), ErrorCode.INVALID_INPUT, "not a ContactInput")]
    return dict(coerced), ref, []


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether lists and objects nest deeper than `limit` (a loop: a line may nest a thousand deep)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict) else item))
    return False

