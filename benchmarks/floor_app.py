"""The do-nothing floor: a bare Strawberry + uvicorn app with ContactQL's own input and payload
types whose resolvers return constants. Same documents, same parser and validation caches, no
auth, no store — what GraphQL over HTTP costs on this machine before any work is done.

    uvicorn benchmarks.floor_app:app --port 8001
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import strawberry
from strawberry.asgi import GraphQL
from strawberry.extensions import ParserCache, ValidationCache

from contactql.schema.contact import Contact
from contactql.schema.inputs import UpsertContactInput
from contactql.schema.payloads import UpsertContactPayload

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


schema = strawberry.Schema(query=Query, mutation=Mutation, extensions=[ParserCache, ValidationCache])
app = GraphQL(schema, graphql_ide=None)
