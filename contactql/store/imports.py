"""CSV files to batch items (seed 004's "import from an external file").

The file must be UTF-8 (a byte-order mark is allowed). The first line names the columns:
`email`, `mobile` (or `phone`), `firstName`, `lastName`, `externalId`, `emailStatus`,
`smsStatus`, `emailOptIn`, `mobileOptIn`, `privacyConsent` — in any case, with or without
spaces, `_` or `-` — write those fields; every other column is a custom property of that name.
Statuses take the enum names or seed 002's codes. An empty cell leaves the field as it is.
Every row is validated like any other item; a bad row becomes a failed result (its
`clientRef` is `line N`), never a failed import.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from typing import Any

from contactql.store.batches import entry
from contactql.store.errors import ErrorCode, Invalid, Problem
from contactql.store.validate import validate_contact

MAX_COLUMNS = 250
_FIELDS = {
    "email": "email", "emailaddress": "email", "mobile": "mobile", "phone": "mobile", "sms": "mobile",
    "firstname": "firstName", "lastname": "lastName", "externalid": "externalId", "externalcustomerid": "externalId",
    "emailstatus": "emailStatus", "smsstatus": "smsStatus", "emailoptin": "emailOptIn", "mobileoptin": "mobileOptIn",
    "privacyconsent": "privacyConsent",
}  # fmt: skip
# seed 002's status codes
_EMAIL_CODES = {"1": "SUBSCRIBED", "2": "UNSUBSCRIBED", "3": "BOUNCED", "5": "NO_MARKETING"}
_SMS_CODES = {"1": "SUBSCRIBED", "2": "UNSUBSCRIBED", "3": "FAILED", "4": "NO_MARKETING"}
_STATUSES = {
    "emailStatus": {"SUBSCRIBED", "UNSUBSCRIBED", "BOUNCED", "NO_MARKETING", "PENDING_CONFIRMATION"},
    "smsStatus": {"SUBSCRIBED", "UNSUBSCRIBED", "FAILED", "NO_MARKETING"},
}
_BOOLEANS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def decode(data: bytes) -> str:
    if (nul := data.find(b"\x00")) >= 0:
        # UTF-16 and binary files have them; PostgreSQL text cannot store one.
        raise Invalid.at(("file",), f"the file has a NUL byte at byte {nul}: it is not UTF-8 text; save it as CSV UTF-8 and try again")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise Invalid.at(("file",), f"the file is not UTF-8: byte {error.start} cannot be read; save it as UTF-8 and try again") from None


def _column(header: str) -> str:
    key = "".join(ch for ch in header.strip().lower() if ch not in " _-")
    return _FIELDS.get(key, header.strip())


def rows(text: str) -> Iterator[tuple[int, dict[str, Any], list[Problem]]]:
    """(line number, ContactInput-shaped mapping, problems of the row's cells) per data row."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise Invalid.at(("file",), "the file is empty") from None
    columns = [_column(h) for h in header]
    if not any(columns) or len(columns) > MAX_COLUMNS:
        raise Invalid.at(("file",), f"the first line must name 1 to {MAX_COLUMNS} columns")
    duplicates = {c.lower() for c in columns if c and [x.lower() for x in columns].count(c.lower()) > 1}
    if duplicates:
        raise Invalid.at(("file",), f"columns named more than once: {', '.join(sorted(duplicates))}")
    try:
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            yield reader.line_num, *_contact(columns, cells)
    except csv.Error as error:
        raise Invalid.at(("file",), f"line {reader.line_num}: {error}") from None


def _contact(columns: list[str], cells: list[str]) -> tuple[dict[str, Any], list[Problem]]:
    contact: dict[str, Any] = {}
    properties: list[dict[str, str]] = []
    problems: list[Problem] = []
    if len(cells) > len(columns):
        problems.append(Problem((), ErrorCode.INVALID_INPUT, f"{len(cells)} cells but {len(columns)} columns"))
    for column, cell in zip(columns, cells, strict=False):
        value = cell.strip()
        if not value or not column:
            continue
        if column in _STATUSES:
            codes = _EMAIL_CODES if column == "emailStatus" else _SMS_CODES
            status = codes.get(value, value.upper().replace(" ", "_"))
            if status not in _STATUSES[column]:
                problems.append(Problem((column,), ErrorCode.INVALID_INPUT, f"{value!r} is not a {column}"))
            contact[column] = status
        elif column in ("emailOptIn", "mobileOptIn", "privacyConsent"):
            if value.lower() not in _BOOLEANS:
                problems.append(Problem((column,), ErrorCode.INVALID_INPUT, f"{value!r} is not true or false"))
            contact[column] = _BOOLEANS.get(value.lower())
        elif column in _FIELDS.values():
            contact[column] = value
        else:
            properties.append({"name": column, "value": cell})
    if properties:
        contact["properties"] = properties
    return contact, problems


def entries(data: bytes, on_row: Callable[[], None] | None = None) -> list[dict[str, Any]]:
    """The batch items of a CSV file, each validated once (see store/batches.py: entry)."""
    out = []
    for index, (line, contact, cell_problems) in enumerate(rows(decode(data))):
        contact["clientRef"] = f"line {line}"
        item, problems = validate_contact(contact, index)
        out.append(entry(item, cell_problems + problems))
        if on_row is not None:
            on_row()
    if not out:
        raise Invalid.at(("file",), "the file has no rows after its header")
    return out
