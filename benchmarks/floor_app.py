"""The do-nothing floor: a bare Strawberry + uvicorn app with ContactQL's own input and payload
types whose resolvers return constants. Same documents, same parser and validation caches, no
auth, no store — what GraphQL over HTTP costs on this machine before any work is done.

"Bare" means stock Strawberry: inputs are converted by Strawberry's generic argument
conversion, as any Strawberry app does. ContactQL itself builds its inputs straight from
graphql-core's coerced values (`schema/inputs.py: raw_input`); this process undoes that.

    uvicorn benchmarks.floor_app:app --port 8001
    FLOOR_INPUTS=raw uvicorn benchmarks.floor_app:app --port 8001   # keep ContactQL's input path
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Annotated, Any

import strawberry
from strawberry.asgi import GraphQL
from strawberry.extensions import ParserCache, ValidationCache

from contactql.schema import batches as batch_types
from contactql.schema import inputs
from contactql.schema.batches import UpsertContactsInput, UpsertContactsPayload
from contactql.schema.contact import Contact
from contactql.schema.inputs import UpsertContactInput
from contactql.schema.payloads import UpsertContactPayload

if os.environ.get("FLOOR_INPUTS") != "raw":
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


@strawberry.type
class Query:
    ok: bool = True


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def upsert_contact(self, input: Annotated[UpsertContactInput, strawberry.argument()]) -> UpsertContactPayload:
        contact = Contact.from_row(_ROW)
        return UpsertContactPayload(
            outcome=None, matched_by=None, changed_fields=["email"], contact=contact, contacts=[contact],
            invalid_properties=[], invalid_contact_ids=[], user_errors=[],
        )  # fmt: skip

    @strawberry.mutation
    async def upsert_contacts(self, input: Annotated[UpsertContactsInput, strawberry.argument()]) -> UpsertContactsPayload:
        return UpsertContactsPayload(batch=None, user_errors=[])


schema = strawberry.Schema(query=Query, mutation=Mutation, extensions=[ParserCache, ValidationCache])
app = GraphQL(schema, graphql_ide=None)
