"""The do-nothing floor: a bare Strawberry + uvicorn app with ContactQL's own input and payload
types whose resolvers return constants. Same documents, same parser and validation caches, no
auth, no store — what GraphQL over HTTP costs on this machine before any work is done.

"Bare" means stock Strawberry: inputs are converted by Strawberry's generic argument
conversion, as any Strawberry app does. ContactQL itself builds its inputs straight from
graphql-core's coerced values (`schema/inputs.py: raw_input`); this process undoes that.

    uvicorn benchmarks.floor_app:app --port 8001
    FLOOR_INPUTS=raw uvicorn benchmarks.floor_app:app --port 8001   # keep ContactQL's input path
    FLOOR_INPUTS=durable FLOOR_DATABASE=path.db uvicorn benchmarks.floor_app:app --port 8001

"durable" keeps ContactQL's input path and writes, per `upsertContact`, the rows ContactQL
writes for a new contact — the contact, its property values, its list membership and its
history entry — with bare `sqlite3` in one `BEGIN IMMEDIATE` transaction on one writer thread,
WAL and `synchronous=FULL`, into a database ContactQL created (so the same indexes). It is what
an acknowledged-durable upsert costs on this machine with no matching, validation or ORM: the
floor under issue 3's latency target.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any

import strawberry
from strawberry.asgi import GraphQL
from strawberry.extensions import ParserCache, ValidationCache

from contactql.schema import batches as batch_types
from contactql.schema import inputs
from contactql.schema.batches import UpsertContactsInput, UpsertContactsPayload
from contactql.schema.contacts import Contact
from contactql.schema.inputs import UpsertContactInput
from contactql.schema.payloads import UpsertContactPayload
from contactql.store.db.columns import value_hash

_MODE = os.environ.get("FLOOR_INPUTS", "stock")

if _MODE == "stock":
    for _type in (*[getattr(inputs, n) for n in dir(inputs)], batch_types.UpsertContactsInput):
        definition = getattr(_type, "__strawberry_definition__", None)
        if getattr(definition, "is_input", False):
            definition.from_input = None  # back to Strawberry's generic conversion

_NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
_ROW: dict[str, Any] = {
    "id": 1, "external_id": None, "email": "floor@example.com", "mobile": "+4790812501", "mobile_country_code": 47,
    "first_name": "Floor", "last_name": "Constant", "email_status": "SUBSCRIBED", "sms_status": "NO_MARKETING",
    "privacy_consent": None, "confirmed": True, "source": "API", "address_town": None, "address_region": None,
    "address_address": None, "address_postcode": None, "created_by": "floor", "created_at": _NOW, "updated_at": _NOW,
    "deleted_at": None,
}  # fmt: skip


class _DurableWriter:
    """One thread, one connection, one durable transaction per upsert (see the module doc)."""

    def __init__(self, path: str) -> None:
        self._executor = ThreadPoolExecutor(1)  # its one thread makes and keeps the connection
        self._path = path
        self._db: sqlite3.Connection | None = None
        self._fields: dict[str, str] = {}

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = sqlite3.connect(self._path, isolation_level=None)
            for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON", "busy_timeout=5000"):
                self._db.execute(f"PRAGMA {pragma}")
            self._fields = dict(self._db.execute("SELECT name, id FROM property_field WHERE workspace_id = 1"))
        return self._db

    def _write(self, contact: dict[str, Any], list_id: str) -> int:
        db = self._conn()
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        db.execute("BEGIN IMMEDIATE")
        try:
            # Two index look-ups: SQLite plans `(ws AND email) OR (ws AND mobile)` as a read of
            # the whole workspace (no statistics), which made this floor grow with the table.
            found = db.execute(
                "SELECT id FROM contact WHERE workspace_id = 1 AND email = ? UNION ALL SELECT id FROM contact WHERE workspace_id = 1 AND mobile = ?",
                (contact["email"], contact["mobile"]),
            ).fetchone()
            if found:
                raise RuntimeError("the durable floor only creates")
            cid = db.execute(
                "INSERT INTO contact (workspace_id, email, mobile, mobile_country_code, first_name, last_name, email_status,"
                " sms_status, confirmed, source, created_by, created_at, updated_at) VALUES (1, ?, ?, 47, ?, ?, 'SUBSCRIBED',"
                " 'NO_MARKETING', 1, 'API', 'floor', ?, ?)",
                (contact["email"], contact["mobile"], contact["firstName"], contact["lastName"], now, now),
            ).lastrowid
            db.executemany(
                "INSERT INTO property_value (contact_id, field_id, workspace_id, value, value_hash) VALUES (?, ?, 1, ?, ?)",
                [(cid, self._fields[p["name"]], p["value"], value_hash(p["value"])) for p in contact["properties"]],
            )
            db.execute("INSERT INTO list_membership (list_id, contact_id, created_at) VALUES (?, ?, ?)", (list_id, cid, now))
            changes = json.dumps([[k, None, v] for k, v in contact.items() if k != "properties"])
            db.execute(
                "INSERT INTO contact_history (contact_id, workspace_id, source, actor, changes, created_at) VALUES (?, 1, 'API', 'floor', ?, ?)",
                (cid, changes, now),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return int(cid or 0)

    async def write(self, contact: dict[str, Any], list_id: str) -> int:
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._write, contact, list_id)


_WRITER = _DurableWriter(os.environ["FLOOR_DATABASE"]) if _MODE == "durable" else None


@strawberry.type
class Query:
    ok: bool = True


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def upsert_contact(self, input: Annotated[UpsertContactInput, strawberry.argument()]) -> UpsertContactPayload:
        row = _ROW
        if _WRITER is not None:
            raw: Any = input  # ContactQL's input path: the coerced dict
            row = {**_ROW, "id": await _WRITER.write(raw["contact"], raw["listId"])}
        contact = Contact.from_row(row)
        return UpsertContactPayload(
            outcome=None, matched_by=None, changed_fields=["email"], contact=contact, contacts=[contact],
            invalid_properties=[], invalid_contact_ids=[], user_errors=[],
        )  # fmt: skip

    @strawberry.mutation
    async def upsert_contacts(self, input: Annotated[UpsertContactsInput, strawberry.argument()]) -> UpsertContactsPayload:
        return UpsertContactsPayload(batch=None, user_errors=[])


schema = strawberry.Schema(query=Query, mutation=Mutation, extensions=[ParserCache, ValidationCache])
app = GraphQL(schema, graphql_ide=None)
