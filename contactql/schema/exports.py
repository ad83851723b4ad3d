"""Export jobs: exportContacts queues one, export(id) and exportProgress watch it, and the file
is downloaded from GET /exports/{id} with the same key."""

from __future__ import annotations

import builtins
import datetime as dt

import strawberry

from contactql.schema.enums import publish
from contactql.schema.errors import UserError
from contactql.schema.filters import ContactFilter, ContactOrder
from contactql.store.workspace import exports

ExportFormat = publish(
    exports.ExportFormat,
    "What an export's file holds.",
    {
        "CSV": "A header of the fields, then a row per contact; importContacts reads it back unchanged.",
        "NDJSON": "One JSON object per line, a contact each (properties as an object; lists as names when fields asks for them).",
    },
)
ExportStatus = publish(
    exports.ExportStatus,
    "Where an export is.",
    {
        "QUEUED": "Accepted; no contact written yet.",
        "RUNNING": "Being written; processed says how far.",
        "COMPLETED": "The file is ready at url for 24 hours.",
        "FAILED": "It stopped; error says why, and there is no file.",
    },
)


@strawberry.input(description="Which contacts to export, in which order, which fields and in which format.")
class ExportContactsInput:
    filter: ContactFilter | None = strawberry.field(default=None, description="Conditions to meet (as contacts' filter; segmentId too).")
    search: str | None = strawberry.field(default=None, description="As contacts' search.")
    order_by: builtins.list[ContactOrder] | None = strawberry.field(default=None, description="Sort keys (at most 5); default: by id, or by RELEVANCE with a search.")
    format: ExportFormat = strawberry.field(default=ExportFormat("CSV"), description="CSV (default) or NDJSON.")  # type: ignore[valid-type]
    fields: builtins.list[str] | None = strawberry.field(
        default=None,
        description="Contact fields (email, mobile, firstName, lastName, externalId, emailStatus, smsStatus, privacyConsent, id, createdAt, updatedAt, lists, consents: the consent evidence, a JSON array) and property names, in column order; default: the eight importable fields, then every property.",
    )


@strawberry.type(description="An export job and, once COMPLETED, where to download its file.")
class Export:
    id: strawberry.ID = strawberry.field(description="The export's id (a UUID).")
    status: ExportStatus = strawberry.field(description="Where it is.")  # type: ignore[valid-type]
    format: ExportFormat = strawberry.field(description="What the file holds.")  # type: ignore[valid-type]
    total: int | None = strawberry.field(description="How many contacts matched when it started; once COMPLETED, how many the file holds.")
    processed: int = strawberry.field(description="Contacts written so far.")
    size: int = strawberry.field(description="Bytes written so far.")
    error: str | None = strawberry.field(description="Why it FAILED.")
    url: str | None = strawberry.field(description="Once COMPLETED: the path to GET the file from, with the same Authorization header.")
    created_at: dt.datetime = strawberry.field(description="When it was asked for.")
    finished_at: dt.datetime | None = strawberry.field(description="When it COMPLETED or FAILED.")
    expires_at: dt.datetime | None = strawberry.field(description="When its file is deleted (24 hours after it finished).")

    @classmethod
    def from_row(cls, row: exports.ExportRow) -> Export:
        return cls(
            id=strawberry.ID(row.id),
            status=ExportStatus(row.status.value),
            format=ExportFormat(row.format),
            total=row.total,
            processed=row.processed,
            size=row.size,
            error=row.error,
            url=f"/exports/{row.id}" if row.status is exports.ExportStatus.COMPLETED else None,
            created_at=row.created_at,
            finished_at=row.finished_at,
            expires_at=row.expires_at,
        )


@strawberry.type(description="The result of exportContacts.")
class ExportPayload:
    export: Export | None = strawberry.field(default=None, description="The queued export; null when it was refused.")
    user_errors: builtins.list[UserError] = strawberry.field(default_factory=builtins.list, description="Why it was refused.")
