"""CSV files to batch items (seed 004's "import from an external file"), as spreadsheets export them.

    read_header(data, properties)  the delimiter, and what each column is; refuses a file whose
                                   header names no identity column before any row is read
    entries(data, header, …)       one validated batch item per row

The file must be UTF-8 (a byte-order mark is allowed: Excel's "CSV UTF-8" writes one). The
delimiter is `,`, `;` (Excel where the decimal separator is a comma) or a tab, whichever splits
the header into the most columns. Rows are records as a CSV parser reads them: a quoted cell
may hold line breaks, and "row N" is the spreadsheet's row number (the header is row 1).

Columns, in any case, with or without spaces, `_` or `-`: `email`, `mobile` (or `phone`,
`sms`), `firstName`, `lastName`, `externalId`, `emailStatus`, `smsStatus`, `emailOptIn`,
`mobileOptIn`, `privacyConsent` write those fields; `country` (ISO 3166 alpha-2) is the
country the row's national phone number is read in. A column named like one of the
workspace's properties writes it; any other column is reported as unknown and ignored, or
created as a TEXT property when the caller asks for that. Statuses take the enum names or
seed 002's codes. An empty cell leaves the field as it is. A cell an export guarded from
running as a spreadsheet formula ("'=…", "'+…", "'-…", "'@…", and "''=…" for a value that
itself began with "'=") is read without one apostrophe; header cells too. Every row is validated like any
other item; a bad row becomes a failed result, never a failed import.
"""

from __future__ import annotations

import csv
import dataclasses
import enum
import io
import itertools
import re
from collections.abc import Callable, Collection, Iterator
from typing import Any

from contactql.store.batches.queue import entry
from contactql.store.errors import ErrorCode, Invalid, Problem
from contactql.store.upsert.validate import validate_contact
from contactql.store.values import BUILTIN_PROPERTY_NAMES, CSV_FIELDS, FORMULA_STARTS, MAX_NAME, column_key, country_code_problem

MAX_COLUMNS = 250
DELIMITERS = (",", ";", "\t")
class ImportFormat(enum.StrEnum):
    """What importContacts reads: a CSV file (this module) or NDJSON (workers/ndjson.py)."""

    CSV = "CSV"
    NDJSON = "NDJSON"


DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "\n": "newline (NDJSON)"}
COUNTRY = "country"  # the column of a row's country, not a contact field
IDENTITY_FIELDS = ("email", "mobile", "externalId")
_FIELDS = CSV_FIELDS
# seed 002's status codes
_EMAIL_CODES = {"1": "SUBSCRIBED", "2": "UNSUBSCRIBED", "3": "BOUNCED", "5": "NO_MARKETING"}
_SMS_CODES = {"1": "SUBSCRIBED", "2": "UNSUBSCRIBED", "3": "FAILED", "4": "NO_MARKETING"}
_STATUSES = {
    "emailStatus": {"SUBSCRIBED", "UNSUBSCRIBED", "BOUNCED", "NO_MARKETING", "PENDING_CONFIRMATION"},
    "smsStatus": {"SUBSCRIBED", "UNSUBSCRIBED", "FAILED", "NO_MARKETING"},
}
_BOOLEANS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


@dataclasses.dataclass(frozen=True, slots=True)
class Header:
    """What the first row says: the delimiter and, per column, what it writes."""

    delimiter: str
    names: tuple[str, ...]  # as in the file, trimmed
    fields: dict[int, str]  # column → contact field (or COUNTRY)
    properties: dict[int, str]  # column → property name, as in the file
    unknown: tuple[str, ...]  # neither a field nor a known property: ignored unless created

    def with_created(self, created: Collection[str]) -> Header:
        """The header once the unknown columns named in `created` are properties."""
        wanted = {name.lower() for name in created}
        properties = dict(self.properties)
        properties.update((i, n) for i, n in enumerate(self.names) if n in self.unknown and n.lower() in wanted)
        unknown = tuple(n for n in self.unknown if n.lower() not in wanted)
        return dataclasses.replace(self, properties=properties, unknown=unknown)

    @property
    def shown_delimiter(self) -> str:
        return DELIMITER_NAMES[self.delimiter]


def decode(data: bytes, save_as: str = "CSV UTF-8", *, at: int = 0, first: bool = True) -> str:
    """An imported file's text, without its byte-order mark; refused, saying to save it as
    `save_as`, when it is not UTF-8 text. A piece of a file read in pieces (NDJSON's lines) gives
    where it begins (`at`, in bytes) and whether it is the `first`, which alone may have the mark."""
    if (nul := data.find(b"\x00")) >= 0:
        # UTF-16 and binary files have them; PostgreSQL text cannot store one.
        raise Invalid.at(("file",), f"the file has a NUL byte at byte {at + nul}: it is not UTF-8 text; save it as {save_as} and try again")
    try:
        return data.decode("utf-8-sig" if first else "utf-8")
    except UnicodeDecodeError as error:
        raise Invalid.at(("file",), f"the file is not UTF-8: byte {at + error.start} cannot be read; save it as {save_as} and try again") from None


_key = column_key
_LINE_END = re.compile(r"\r\n|\r|\n")  # as the csv module ends a line
HEADER_CHARS = 1024 * 1024  # the first record is looked for in this much of the file
MAX_HEADER_NAME = 1000  # characters of a column name: more is a quote left open


def read_header(data: bytes, properties: Collection[str]) -> Header:
    """The header of a CSV file; `properties`: the workspace's property names, lower-case. It is
    the file's first record, as the rows after it are read: a quoted name may hold a line break
    (read as a space, as a spreadsheet shows a wrapped heading)."""
    text = decode(data)
    if not text.strip():
        raise Invalid.at(("file",), "the file is empty")
    head = text[:HEADER_CHARS]
    read = {d: _first_record(head, d) for d in DELIMITERS}
    delimiter = max(DELIMITERS, key=lambda d: (len(read[d]), -DELIMITERS.index(d)))
    cells = tuple(" ".join(_unguarded(n.strip()).split()) for n in read[delimiter])
    if not any(cells):
        raise Invalid.at(("file",), "the first row must name the columns")
    if any(len(name) > MAX_HEADER_NAME for name in cells):
        raise Invalid.at(
            ("file",),
            f"line 1: a column name is longer than {MAX_HEADER_NAME} characters: a quote opens in the first row and is never "
            "closed, so the lines after it are read into that name; close the quote and try again",
        )
    if len(cells) > MAX_COLUMNS:
        raise Invalid.at(("file",), f"the first row names {len(cells)} columns; at most {MAX_COLUMNS}")
    fields: dict[int, str] = {}
    props: dict[int, str] = {}
    unknown: list[str] = []
    for index, name in enumerate(cells):
        if not name:
            continue
        if (field := _FIELDS.get(_key(name))) is not None:
            fields[index] = field
        elif name.lower() in properties:
            props[index] = name
        else:
            unknown.append(name)
    seen = [*fields.values(), *(n.lower() for n in props.values()), *(n.lower() for n in unknown)]
    if duplicates := sorted({name for name in seen if seen.count(name) > 1}):
        raise Invalid.at(("file",), f"columns named more than once: {', '.join(duplicates)}")
    if not any(field in IDENTITY_FIELDS for field in fields.values()):
        found = ", ".join(repr(n) for n in cells if n) or "none"
        raise Invalid.at(
            ("file",),
            f"the first row names no email, mobile or externalId column, so no row could be matched or created; "
            f"read with a {DELIMITER_NAMES[delimiter]} delimiter, its columns are: {found}",
        )
    return Header(delimiter, cells, fields, props, tuple(unknown))


def _first_record(head: str, delimiter: str) -> list[str]:
    # csv.Sniffer guesses from character counts over many lines and is misled by quoted line
    # breaks and by commas inside cells; a header is one record of names, so each candidate
    # delimiter is tried on it with the real CSV parser and the one giving most columns wins.
    try:
        return next(csv.reader(io.StringIO(head, newline=""), delimiter=delimiter), [])
    except csv.Error as error:
        raise Invalid.at(("file",), f"line 1: {error}") from None


def missing_property_problems(names: Collection[str]) -> list[Problem]:
    """Why unknown columns cannot become properties of these names."""
    return [
        Problem(("file",), ErrorCode.INVALID_INPUT, f"column {name!r} cannot be a property: names are 1 to {MAX_NAME} characters")
        for name in names
        if len(name) > MAX_NAME or name.lower() in BUILTIN_PROPERTY_NAMES
    ]


def rows(text: str, header: Header) -> Iterator[tuple[int, dict[str, Any], str | None, list[Problem]]]:
    """(spreadsheet row, ContactInput-shaped mapping, the row's country, problems of its
    cells) per data row; blank rows are skipped but counted. Lines may end in LF, CRLF or CR
    alone (a classic Mac export); a quoted cell may hold line breaks."""
    stream = io.StringIO(text, newline="")
    reader = csv.reader(stream, delimiter=header.delimiter)
    began, first_line = 0, 1  # where the last record read starts: offset and line
    line = 1  # where the record being read starts
    try:
        next(reader)
        for row_number in itertools.count(2):
            at, line = stream.tell(), reader.line_num + 1
            if (cells := next(reader, None)) is None:
                break
            began, first_line = at, line
            if not any(cell.strip() for cell in cells):
                continue
            yield row_number, *_contact(header, cells)
    except csv.Error as error:
        if "field larger than field limit" in str(error):
            raise Invalid.at(
                ("file",),
                f"line {line}: a cell of this row is longer than {csv.field_size_limit()} characters: a quote opens in this row and "
                "is never closed, so the lines after it are read into that cell; close the quote and try again",
            ) from None
        raise Invalid.at(("file",), f"line {reader.line_num}: {error}") from None
    if _never_closed(text[began:], header.delimiter):
        raise Invalid.at(
            ("file",),
            f"line {first_line}: a quoted cell opens in this row and its closing quote is missing, so every line after it "
            "would be read into that one cell; close the quote and try again",
        )


def _never_closed(tail: str, delimiter: str) -> bool:
    """Whether the file's last record (`tail`) opens a quoted cell that the file never closes.
    The csv module, not strict, reads the rest of the file into that cell — every row after it
    lost, with nothing said; only its strict mode tells, and strict refuses more than this (a
    character after a closing quote), so it checks only the last record, the one such a cell
    ends."""
    try:
        for _ in csv.reader(io.StringIO(tail, newline=""), delimiter=delimiter, strict=True):
            pass
    except csv.Error as error:
        return str(error) == "unexpected end of data"
    return False


def _contact(header: Header, cells: list[str]) -> tuple[dict[str, Any], str | None, list[Problem]]:
    contact: dict[str, Any] = {}
    properties: list[dict[str, str]] = []
    problems: list[Problem] = []
    country: str | None = None
    if len(cells) > len(header.names):
        problems.append(Problem((), ErrorCode.INVALID_INPUT, f"{len(cells)} cells but {len(header.names)} columns"))
    for index, raw in enumerate(cells[: len(header.names)]):
        cell = _unguarded(raw)
        value = cell.strip()
        if not value:
            continue
        if (name := header.properties.get(index)) is not None:
            properties.append({"name": name, "value": cell})
            continue
        column = header.fields.get(index)
        if column is None:
            continue
        if column == COUNTRY:
            if (why := country_code_problem(value)) is not None:
                problems.append(Problem(("country",), ErrorCode.INVALID_INPUT, why))
            else:
                country = value.upper()
        elif column in _STATUSES:
            codes = _EMAIL_CODES if column == "emailStatus" else _SMS_CODES
            status = codes.get(value, value.upper().replace(" ", "_"))
            if status not in _STATUSES[column]:
                problems.append(Problem((column,), ErrorCode.INVALID_INPUT, f"{value!r} is not a {column}"))
            contact[column] = status
        elif column in ("emailOptIn", "mobileOptIn", "privacyConsent"):
            if value.lower() not in _BOOLEANS:
                problems.append(Problem((column,), ErrorCode.INVALID_INPUT, f"{value!r} is not true or false"))
            contact[column] = _BOOLEANS.get(value.lower())
        else:
            contact[column] = value
    if properties:
        contact["properties"] = properties
    return contact, country, problems


def _unguarded(cell: str) -> str:
    """A cell as it was before an export guarded it from running as a spreadsheet formula: one
    apostrophe off a cell whose apostrophes lead to a formula character ("'=1+1" is "=1+1",
    "''=x" is "'=x"; store/workspace/export_format.py)."""
    return cell[1:] if cell.startswith("'") and cell.lstrip("'").startswith(FORMULA_STARTS) else cell


def entries(data: bytes, header: Header, default_country: str | None = None, on_row: Callable[[], None] | None = None) -> list[dict[str, Any]]:
    """The batch items of a CSV file, each validated once (see store/batches/queue.py: entry); a
    row's national phone number is read in its `country` cell, else in `default_country`."""
    out = []
    for index, (row, contact, country, cell_problems) in enumerate(rows(decode(data), header)):
        contact["clientRef"] = f"row {row}"
        item, problems = validate_contact(contact, index, country or default_country)
        out.append(entry(item, cell_problems + problems))
        if on_row is not None:
            on_row()
    if not out:
        raise Invalid.at(("file",), "the file has no rows after its header")
    return out
