"""A contact's history: one entry per write, with each changed field's old and new value."""

from __future__ import annotations

import datetime as dt

import strawberry
from strawberry.scalars import JSON

from contactql.context import Info
from contactql.schema.enums import ConsentAction, ContactSource
from contactql.schema.pagination import Connection, Edge, connection
from contactql.store.workspace.consents import ConsentRow
from contactql.store.workspace.history import HistoryRow


@strawberry.type(description="One field a write changed, with its value before and after.")
class FieldChange:
    field: str = strawberry.field(description='The field, e.g. "emailStatus", "properties.city", "lists".')
    old: JSON | None = strawberry.field(description="The value before (null: none).")
    new: JSON | None = strawberry.field(description="The value after (null: cleared).")


@strawberry.type(description="Consent evidence of a subscribe, confirm or unsubscribe: who, from where, shown what, when — what a GDPR audit asks for. Its time is that of the history entry of the same change.")
class ConsentRecord:
    at: dt.datetime = strawberry.field(description="When it happened.")
    action: ConsentAction = strawberry.field(description="What happened.")
    ip: str | None = strawberry.field(description="The visitor's IP address (behind a proxy: as CONTACTQL_TRUSTED_PROXIES allows).")
    user_agent: str | None = strawberry.field(description="The visitor's browser (its User-Agent).")
    page_url: str | None = strawberry.field(description="The page the form was on (pageUrl, or the Referer).")
    form: str | None = strawberry.field(description="The form: the publishable key's form, or formType.")
    consent_text: str | None = strawberry.field(description="The consent text or legal basis the form showed.")
    key_name: str | None = strawberry.field(description="The API key the request came with (none for a link).")

    @classmethod
    def from_row(cls, row: ConsentRow) -> ConsentRecord:
        return cls(
            at=row.created_at, action=ConsentAction(row.action), ip=row.ip, user_agent=row.user_agent, page_url=row.page_url,
            form=row.form, consent_text=row.consent_text, key_name=row.actor,
        )  # fmt: skip


@strawberry.type(description="One write of a contact: when, how, by which key, and what changed — a consent ledger.")
class HistoryEntry:
    at: dt.datetime = strawberry.field(description="When the write was committed.")
    source: ContactSource = strawberry.field(description="Which kind of operation wrote it.")
    key_name: str | None = strawberry.field(description="The name of the API key that wrote it.")
    batch_id: strawberry.ID | None = strawberry.field(description="The batch it came from, if any.")
    changes: list[FieldChange] = strawberry.field(description="Every field it changed, statuses included.")
    contact_id: strawberry.Private[int]

    @strawberry.field(description="The consent evidence of this write when it was a subscribe, confirm or unsubscribe (as in Contact.consents); else null.")
    async def consent(self, info: Info) -> ConsentRecord | None:
        evidence = (ConsentRecord.from_row(row) for row in await info.context.loaders.consents.load(self.contact_id) if row.created_at == self.at)
        return next(evidence, None)

    @classmethod
    def from_row(cls, row: HistoryRow, contact_id: int) -> HistoryEntry:
        return cls(
            contact_id=contact_id,
            at=row.created_at,
            source=ContactSource(row.source),
            key_name=row.actor,
            batch_id=None if row.batch_id is None else strawberry.ID(row.batch_id),
            changes=[FieldChange(field=c["field"], old=c["old"], new=c["new"]) for c in row.changes],
        )


@connection("HistoryEdge", "A history entry and its cursor.", cursor="Pass as `after` to get the entries after this one.", node="The entry.")
class HistoryEdge(Edge[HistoryEntry]):
    pass


@connection(
    "ContactHistoryConnection",
    "A page of a contact's history, oldest first (Relay cursor connection).",
    edges="The entries of this page.",
    page_info="Where the page sits in the whole history.",
    total_count="How many writes the contact has had.",
)
class ContactHistoryConnection(Connection[HistoryEdge]):
    pass

