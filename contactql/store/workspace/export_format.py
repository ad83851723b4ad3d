"""Contacts as an export file, page by page: CSV that imports back unchanged, or NDJSON.

    columns(conn, workspace_id, fields)   what each row holds, checked (INVALID_INPUT per field)
    read_page(conn, …, after)             the next page of rows, encoded, and the key after it

Pages are keyset pages in the export's order (store/workspace/order.py), so memory holds one
page whatever the workspace's size, and a contact written while an export runs is written once
or not at all, never twice.

CSV: the header is the columns' names as `importContacts` reads them (email, mobile, firstName,
lastName, externalId, emailStatus, smsStatus, privacyConsent, then each property by its name),
values in canonical form, an empty cell for no value — which the import reads as "leave as it
is" — so importing an export changes nothing. The file starts with a UTF-8 byte-order mark, for
Excel. A cell a spreadsheet would run as a formula (starting with =, +, -, @, a tab or a
carriage return; OWASP's CSV injection), header cells too, is written after an apostrophe, which
the import takes off again (store/batches/csv.py); a mobile's + and a number's sign are left
alone. NDJSON: one JSON object per contact, properties as an object and
lists as their names. `consents` (asked for by name, never a default: it is for an audit, not
for importing back) holds the consent evidence, a JSON array in either format.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import sqlalchemy as sa

from contactql.store.errors import Invalid
from contactql.store.model import PropertyType
from contactql.store.sorting import OrderField, SortDirection
from contactql.store.values import FORMULA_STARTS, reserved_column, shown
from contactql.store.workspace import consents
from contactql.store.workspace.contacts import properties_of_contacts, properties_of_id_range
from contactql.store.workspace.filters import ContactQuery
from contactql.store.workspace.lists import lists_of_contacts
from contactql.store.workspace.order import ContactOrder, page
from contactql.store.workspace.properties import FieldDef, load_fields

PAGE = 1_000
_RISKY = (*FORMULA_STARTS, "'")
_NONE: dict[str, str] = {}  # the first characters that may need an apostrophe
BOM = "\ufeff".encode()  # Excel reads a CSV file as UTF-8 only after one; importContacts skips it
# Field name → contact column; the first eight are the import's (and the default).
FIELDS = {
    "email": "email", "mobile": "mobile", "firstName": "first_name", "lastName": "last_name", "externalId": "external_id",
    "emailStatus": "email_status", "smsStatus": "sms_status", "privacyConsent": "privacy_consent",
    "id": "id", "createdAt": "created_at", "updatedAt": "updated_at", "lists": "", "consents": "",
}  # fmt: skip
DEFAULT_FIELDS = tuple(list(FIELDS)[:8])


@dataclasses.dataclass(frozen=True, slots=True)
class Column:
    name: str
    column: str | None = None  # a contact column
    field_id: str | None = None  # a property
    numeric: bool = False  # a NUMBER property: its sign is not a formula


def columns(conn: sa.Connection, *, workspace_id: int, fields: Sequence[str] | None) -> list[Column]:
    """The export's columns: `fields` (contact fields by their exact names, then property names
    in any case, or `property:NAME`), or every importable field and then every property."""
    properties = load_fields(conn, workspace_id=workspace_id)
    if fields is None:
        every = sorted(properties.by_id.values(), key=lambda f: (f.created_at, f.id))
        return [Column(name, column=FIELDS[name]) for name in DEFAULT_FIELDS] + [_property(f) for f in every]
    if not 0 < len(fields) <= 300:
        raise Invalid.at(("fields",), "give 1 to 300 fields")
    out: list[Column] = []
    for i, name in enumerate(fields):
        if name in FIELDS:
            out.append(Column(name, column=FIELDS[name] or None))
        elif (found := properties.by_name.get(name.strip().lower().removeprefix("property:"))) is not None:
            out.append(_property(found))
        else:
            raise Invalid.at(("fields", str(i)), f"{shown(name)} is neither a contact field ({', '.join(FIELDS)}) nor a property")
    if len({c.name.lower() for c in out}) != len(out):
        raise Invalid.at(("fields",), "a field is named twice")
    return out


def _property(field: FieldDef) -> Column:
    # A property named before such names were refused ("id", "phone") is written under
    # "property:NAME", which an import leaves alone rather than read as the contact's field.
    shown_as = field.name if reserved_column(field.name) is None else f"property:{field.name}"
    return Column(shown_as, field_id=field.id, numeric=field.type is PropertyType.NUMBER)


def check(conn: sa.Connection, *, workspace_id: int, query: ContactQuery, order: Sequence[ContactOrder], fields: Sequence[str] | None) -> None:
    """Refuse an export that could not run — a field, filter, search or order that cannot be
    read — before it is queued: its first page is built and read (one row)."""
    columns(conn, workspace_id=workspace_id, fields=fields)
    page(conn, workspace_id=workspace_id, query=query, order=list(order) or [ContactOrder(OrderField.ID)], limit=1, after=None)


def header(cols: Sequence[Column], format: str) -> bytes:
    if format != "CSV":
        return b""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow([_guarded(c.name) for c in cols])
    return BOM + out.getvalue().encode()


def read_page(
    conn: sa.Connection,
    *,
    workspace_id: int,
    query: ContactQuery,
    order: Sequence[ContactOrder],
    cols: Sequence[Column],
    format: str,
    after: Sequence[Any] | None,
    limit: int = PAGE,
) -> tuple[bytes, int, list[Any] | None]:
    """(the page's rows encoded, how many, the key to read the next page after; None at the end)."""
    order = list(order) or [ContactOrder(OrderField.ID)]
    wanted = ["id", *dict.fromkeys(c.column for c in cols if c.column and c.column != "id")]  # only what the file holds
    found = page(conn, workspace_id=workspace_id, query=query, order=order, limit=limit, after=after, columns=wanted)
    if not found:
        return b"", 0, None
    ids = [row["id"] for row, _ in found]
    props: dict[int, dict[str, str]] = {}
    if any(c.field_id for c in cols):
        whole = dataclasses.replace(query, include_deleted=False) == ContactQuery() and [(o.field, o.direction) for o in order] == [(OrderField.ID, SortDirection.ASC)]
        # Every contact of a stretch of ids, in id order: their values by that range of the
        # primary key rather than a thousand bound ids (the statement alone cost a tenth of a page).
        props = properties_of_id_range(conn, workspace_id=workspace_id, first=ids[0], last=ids[-1]) if whole else properties_of_contacts(conn, workspace_id=workspace_id, contact_ids=ids)
    related: dict[str, dict[int, list[Any]]] = {}
    if any(c.name == "lists" for c in cols):
        related["lists"] = lists_of_contacts(conn, workspace_id=workspace_id, contact_ids=ids)
    if any(c.name == "consents" for c in cols):
        related["consents"] = {cid: [consents.as_json(r) for r in rows] for cid, rows in consents.consents_of(conn, workspace_id=workspace_id, contact_ids=ids).items()}
    if format == "CSV":
        data = _csv([row for row, _ in found], props, related, cols)
    else:
        data = b"".join(orjson.dumps(_record(row, props.get(row["id"], {}), related, cols)) + b"\n" for row, _ in found)
    last = list(found[-1][1])
    key = [v.isoformat() if isinstance(v, dt.datetime) else v for v in last]
    return data, len(found), key if len(found) == limit else None


def _record(row: dict[str, Any], props: dict[str, str], related: dict[str, dict[int, list[Any]]], cols: Sequence[Column]) -> dict[str, Any]:
    record: dict[str, Any] = {}
    properties: dict[str, str | None] = {}
    for col in cols:
        if col.field_id is not None:
            properties[col.name] = props.get(col.field_id)
        elif col.name == "lists":
            record["lists"] = [item.name for item in related["lists"].get(row["id"], ())]
        elif col.name == "consents":
            record["consents"] = related["consents"].get(row["id"], [])
        else:
            value = row[col.column or ""]
            record[col.name] = value.isoformat() if isinstance(value, dt.datetime) else str(value) if col.name == "id" else value
    if properties:
        record["properties"] = properties
    return record


def _csv(rows: Sequence[dict[str, Any]], props: dict[int, dict[str, str]], related: dict[str, dict[int, list[Any]]], cols: Sequence[Column]) -> bytes:
    """The rows as CSV lines: each column's cell made by a function chosen once per page, not
    per cell (the writer's loop is most of an export's time: ≥ 50 000 rows a second)."""
    cells = [_cell_of(col) for col in cols]
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows([cell(row, props, related) for cell in cells] for row in rows)
    return out.getvalue().encode()


def _cell_of(col: Column) -> Callable[[dict[str, Any], dict[int, dict[str, str]], dict[str, dict[int, list[Any]]]], str]:
    """How one column's cell is made from a contact row and its page's properties, lists and
    consent records (a JSON array in the cell)."""
    if col.field_id is not None:
        field_id, plain = col.field_id, col.numeric
        return lambda row, props, _: _text(props.get(row["id"], _NONE).get(field_id), plain)
    if col.name == "lists":
        return lambda row, _, related: _guarded("; ".join(item.name for item in related["lists"].get(row["id"], ())))
    if col.name == "consents":
        return lambda row, _, related: _text(orjson.dumps(related["consents"].get(row["id"], [])).decode())
    column, plain = col.column or "", col.name == "mobile"

    def cell(row: dict[str, Any], _p: Any, _l: Any) -> str:
        value = row[column]
        if type(value) is str and (plain or not value.startswith(_RISKY)):
            return value  # the common case, without another call
        return _text(value, plain)

    return cell


def _text(value: Any, plain: bool = False) -> str:
    """A cell: empty for no value, booleans as true/false, times in ISO 8601, formulas guarded
    (not a mobile's + or a number's sign: `plain`)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value if plain or not value.startswith(_RISKY) else _guarded(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return str(value)


def _guarded(text: str) -> str:
    """An apostrophe before a cell whose apostrophes lead to a formula character (one more for
    a value that began with one itself, so the import's one-off gives it back)."""
    return "'" + text if text.lstrip("'").startswith(FORMULA_STARTS) else text
