"""NDJSON imports (issue 23): one ContactInput-shaped JSON object a line, each a batch item with
the same checks as an `upsertContacts` item — GraphQL's own for the input type (graphql-core's
`validate_input_value` against the schema's ContactInput, so a wrong type reads as it would in
a variable), then the engine's (`validate_contact`).

A line that is blank is skipped; one that is not JSON, not an object, or not a ContactInput is
a failed item naming `line N` (its clientRef, unless it gives one) — the rest of the file is
imported. Lines are numbered from 1, as an editor shows them.

A file is read a line at a time and given as parts of PART items (`Reader.parts`), which
workers/importer.py stores into one batch as they come: memory holds a part, not the file.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

import orjson
from graphql import GraphQLInputType, Undefined
from graphql.utilities import coerce_input_value, validate_input_value

from contactql.coercion import NotPlain, coercer
from contactql.store.batches import csv as imports
from contactql.store.batches.parts import PART
from contactql.store.batches.queue import entry
from contactql.store.errors import ErrorCode, Problem
from contactql.store.model import ContactItem
from contactql.store.upsert.validate import validate_contact
from contactql.store.values import BUILTIN_PROPERTY_NAMES, MAX_TEXT, nul_path

NAMES = (".ndjson", ".jsonl")
SNIFF = 4096  # bytes is_ndjson needs to see of a file (a first `{` after blank lines)
MAX_LINE_PROBLEMS = 20  # a line's GraphQL problems reported: checking stops there (a wrong object can have thousands)
MAX_DEPTH = 16  # nesting of a line's value; a ContactInput needs 4 (lists.add[0].name)
MAX_MESSAGE = 500  # characters of a problem's message (GraphQL's quote the value, keys and all)
MAX_LINE_BYTES = 1024 * 1024  # a line longer fails alone, unread (a ContactInput with every field is a few KiB)
PART_BYTES = 16 * 1024 * 1024  # a part ends at PART lines or this much of them, whichever comes first
MAX_REPORTED = 250  # property names importReport.propertyColumns lists (as many as a CSV file has columns)
_BUILTIN = {name.lower() for name in BUILTIN_PROPERTY_NAMES}


class _Enough(Exception):
    """MAX_LINE_PROBLEMS found: the check stops."""


def is_ndjson(name: str | None, data: bytes) -> bool:
    """An NDJSON file by its name, else by its first character (a CSV header never opens with `{`)."""
    if name and name.lower().endswith(NAMES):
        return True
    return data.removeprefix(b"\xef\xbb\xbf").lstrip()[:1] == b"{"


def lines(stream: BinaryIO) -> Iterator[tuple[int, str | None]]:
    """The file's lines that are not blank, numbered from 1, read a line at a time (at most
    MAX_LINE_BYTES held: a longer line is skipped, given as None). Refuses the file (Invalid)
    at the first NUL byte or byte that is not UTF-8 — as a CSV file is (csv.decode)."""
    at = 0  # bytes read before this line
    for number in itertools.count(1):
        raw = stream.readline(MAX_LINE_BYTES + 2)  # the line and its end, \r\n or \n
        if not raw:
            return
        size = len(raw)
        if len(raw.rstrip(b"\r\n")) > MAX_LINE_BYTES:
            while not raw.endswith(b"\n") and (raw := stream.readline(MAX_LINE_BYTES)):
                size += len(raw)
            yield number, None
        elif (line := imports.decode(raw, "UTF-8", at=at, first=number == 1)).strip():
            yield number, line
        at += size


class Reader:
    """An NDJSON file read as batch items, PART at a time (each line validated once), and the
    header of the report it makes: the contact fields and the property names its lines give."""

    def __init__(self, contact_type: GraphQLInputType, default_country: str | None = None, on_row: Callable[[], None] | None = None) -> None:
        self._type = contact_type
        self._country = default_country
        self._on_row = on_row
        self._fields: set[str] = set()
        self._properties: dict[str, str] = {}
        self.rows = 0

    def parts(self, stream: BinaryIO, size: int = PART, most_bytes: int = PART_BYTES) -> Iterator[list[dict[str, Any]]]:
        """Lists of at most `size` items and about `most_bytes` of lines, in the file's order
        (a part of a thousand lines of a mebibyte each would be a gigabyte: more than SQLite
        stores in one value, and more than memory should hold); an empty file gives none."""
        piece: list[dict[str, Any]] = []
        held = 0
        for number, line in lines(stream):
            piece.append(self._entry(self.rows, number, line))
            held += len(line or "")
            self.rows += 1
            if self._on_row is not None:
                self._on_row()
            if len(piece) == size or held >= most_bytes:
                yield piece
                piece, held = [], 0
        if piece:
            yield piece

    def _entry(self, index: int, number: int, line: str | None) -> dict[str, Any]:
        if line is None:
            problem = Problem((), ErrorCode.INVALID_INPUT, f"the line is longer than {MAX_LINE_BYTES // 1024 // 1024} MiB")
            return entry(ContactItem(index=index, client_ref=f"line {number}"), [problem])
        raw, ref, problems = _contact(line, self._type, f"line {number}")
        if raw is None:
            return entry(ContactItem(index=index, client_ref=ref), problems)
        long_ref = isinstance(raw.get("clientRef"), str) and len(raw["clientRef"].strip()) > MAX_TEXT
        raw["clientRef"] = ref  # its own, or `line N` in place of one missing, blank or too long (never echoed)
        item, problems = validate_contact(raw, index, self._country)
        if not problems:  # the report names what lines that hold gave, at most MAX_REPORTED of them
            self._fields.update(k for k in raw if k not in ("properties", "clientRef"))
            for p in raw.get("properties") or ():
                if isinstance(name := p.get("name"), str) and name.strip():
                    if name.strip().lower() in _BUILTIN:
                        self._fields.add(name.strip())
                    elif len(self._properties) < MAX_REPORTED:
                        self._properties[name.strip().lower()] = name.strip()
        if long_ref:
            problems.append(Problem(("clientRef",), ErrorCode.INVALID_INPUT, f"must be at most {MAX_TEXT} characters"))
        return entry(item, problems)

    def header(self) -> imports.Header:
        fields, properties = sorted(self._fields), sorted(self._properties.values())
        return imports.Header("\n", (*fields, *properties), dict(enumerate(fields)), {len(fields) + i: n for i, n in enumerate(properties)}, ())


NO_LINES = "the file has no lines with a contact"


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
    ref = own.strip() if isinstance(own, str) and own.strip() and len(own.strip()) <= MAX_TEXT and "\x00" not in own else line_ref
    coerced = _plain(value, contact_type)
    if coerced is Undefined:
        if _deeper_than(value, MAX_DEPTH):  # as graphql-core refuses a variable: before any recursion
            return None, ref, [Problem((), ErrorCode.INVALID_INPUT, "values are nested too deeply")]
        # As graphql-core coerces a variable: coercion first (it stops at the first wrong value),
        # and only when it fails the check that says why — the slow walk a good line never pays for.
        try:
            coerced = coerce_input_value(value, contact_type)
        except Exception as error:  # Strawberry's own input rules raise as it builds the value
            return None, ref, [Problem((), ErrorCode.INVALID_INPUT, str(error)[:MAX_MESSAGE] or "not a ContactInput")]
        if coerced is Undefined:
            return None, ref, _why_not(value, contact_type) or [Problem((), ErrorCode.INVALID_INPUT, "not a ContactInput")]
    if "\\u0000" in line and (at := nul_path(value)) is not None:  # as a request's variables are checked (schema/hardening.py)
        return None, ref, [Problem(tuple(str(p) for p in at), ErrorCode.INVALID_INPUT, "text may not contain the NUL character (U+0000)")]
    return dict(coerced), ref, []


def _plain(value: dict[str, Any], contact_type: GraphQLInputType) -> Any:
    """The line coerced by the compiled coercer (contactql/coercion.py: what graphql-core would
    make of it, ~6× sooner); Undefined when graphql-core must decide. A value it takes follows
    ContactInput's shape, 4 deep at most, so the depth check is only for the rest."""
    coerce = coercer(contact_type)
    if coerce is None:
        return Undefined
    try:
        return coerce(value)
    except NotPlain:
        return Undefined


def _why_not(value: Any, contact_type: GraphQLInputType) -> list[Problem]:
    """GraphQL's messages for a value that is not a ContactInput, at most MAX_LINE_PROBLEMS."""
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
    return problems


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

