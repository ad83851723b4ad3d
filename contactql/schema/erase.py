"""Erasing a contact on request (`eraseContact`) and the suppression list it leaves
(`suppressions`), for admin keys: a part of `Query` and `Mutation` (schema/root.py)."""

from __future__ import annotations

import builtins
import datetime as dt
from typing import Annotated

import strawberry

from contactql.context import Info
from contactql.resolvers import erase
from contactql.schema.errors import UserError, answer
from contactql.schema.pagination import Connection, Edge, connection
from contactql.schema.permissions import IsAdmin
from contactql.store.workspace.erase import MAX_REASON, ErasureRow, SuppressionRow


@strawberry.type(description="The record an erasure keeps: who erased which contact id, when and why — nothing personal.")
class Erasure:
    id: strawberry.ID = strawberry.field(description="The erasure's id.")
    contact_id: strawberry.ID = strawberry.field(description="The erased contact's id; no contact has it any more.")
    reason: str = strawberry.field(description="Why, as the admin gave it.")
    erased_by: str | None = strawberry.field(description="The name of the API key that erased it.")
    erased_at: dt.datetime = strawberry.field(description="When.")
    suppressed: builtins.list[str] = strawberry.field(description="The identities now suppressed: EMAIL, MOBILE, EXTERNAL_ID (those the contact had).")

    @classmethod
    def of(cls, row: ErasureRow) -> Erasure:
        return cls(id=strawberry.ID(row.id), contact_id=strawberry.ID(str(row.contact_id)), reason=row.reason, erased_by=row.actor, erased_at=row.created_at, suppressed=list(row.suppressed))


@strawberry.type(description="An identity an erasure keeps from coming back: upserts, batches and imports naming it are SKIPPED (SUPPRESSED).")
class Suppression:
    digest: str = strawberry.field(description="SHA-256, hex, of the value as ContactQL stores it: the email in lower case, the mobile in E.164, the externalId as given.")
    kind: str = strawberry.field(description="EMAIL, MOBILE or EXTERNAL_ID.")
    suppressed_at: dt.datetime = strawberry.field(description="When the erasure made it.")
    erasure: Erasure = strawberry.field(description="The erasure that made it.")

    @classmethod
    def of(cls, row: SuppressionRow) -> Suppression:
        return cls(digest=row.digest, kind=row.kind, suppressed_at=row.created_at, erasure=Erasure.of(row.erasure))


@connection("SuppressionEdge", "A suppression and its cursor.", cursor="Pass as `after` to get the suppressions after this one.", node="The suppression.")
class SuppressionEdge(Edge[Suppression]):
    pass


@connection(
    "SuppressionConnection",
    "A page of suppressions, oldest first (Relay cursor connection).",
    edges="The suppressions of this page.",
    total_count="How many identities the workspace suppresses (counted only when asked for).",
)
class SuppressionConnection(Connection[SuppressionEdge]):
    pass


@strawberry.type(description="The result of eraseContact.")
class EraseContactPayload:
    erasure: Erasure | None = strawberry.field(default=None, description="The erasure's record; null when nothing was erased.")
    user_errors: builtins.list[UserError] = strawberry.field(default_factory=builtins.list, description="Why nothing was erased.")


@strawberry.type
class EraseQuery:
    @strawberry.field(
        description="Identities erased contacts had (admin keys): digests only, with the erasure that made each, oldest first.",
        permission_classes=[IsAdmin],
    )
    async def suppressions(
        self,
        info: Info,
        first: Annotated[int | None, strawberry.argument(description="How many items (at most 100; null: the default).")] = 50,
        after: Annotated[str | None, strawberry.argument(description="The cursor to continue after (a page's endCursor).")] = None,
    ) -> SuppressionConnection:
        return SuppressionConnection.of(await erase.page_suppressions(info, 50 if first is None else first, after), Suppression.of)


@strawberry.type
class EraseMutation:
    @strawberry.mutation(
        description=(
            "Erase a contact on request (GDPR; admin keys): every personal value of it goes — fields, properties, history, events, "
            "webhook payloads, batch items and results — with every export and persisted query of the workspace (caches that may "
            "quote it); its email, mobile and externalId are suppressed (not one another contact also holds, which stays theirs) "
            "(digests only), so upserts, batches and imports naming them are SKIPPED (SUPPRESSED) until the person "
            "confirms a subscription or an admin sends overrideSuppression. Cannot be undone."
        ),
        permission_classes=[IsAdmin],
    )
    async def erase_contact(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The contact's id (deleted or not).")],
        reason: Annotated[str, strawberry.argument(description=f"Why (kept with the record, at most {MAX_REASON} characters): a ticket number, not personal data.")],
    ) -> EraseContactPayload:
        return await answer(erase.erase_contact(info, id, reason), lambda row: EraseContactPayload(erasure=Erasure.of(row)), EraseContactPayload)
