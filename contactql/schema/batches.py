"""Batches: the Batch type with its paged results and webhook delivery, and their inputs."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import strawberry
from strawberry import Maybe
from strawberry.file_uploads import Upload

from contactql.context import Info
from contactql.resolvers import batches as resolve
from contactql.schema.enums import ErrorCode, MatchRule, UpsertOutcome, publish
from contactql.schema.errors import InvalidProperty, UserError
from contactql.schema.inputs import ContactInput, EventOptionsInput, MatchStrategyInput, default_country, raw_input
from contactql.schema.pagination import Connection, Edge, connection
from contactql.schema.payloads import item_user_errors
from contactql.store.batches import csv as imports
from contactql.store.batches.outbox import DeliveryRow
from contactql.store.batches.queue import BatchRow
from contactql.store.batches.results import FailureGroup as FailureGroupRow
from contactql.store.errors import ErrorCode as StoreErrorCode
from contactql.store.model import BatchStatus as StoreBatchStatus
from contactql.store.model import DeliveryStatus, ItemResult, Outcome

BatchStatus = publish(
    StoreBatchStatus,
    "Where a batch is.",
    {
        "RECEIVING": "An NDJSON import still storing its file's lines (total grows); QUEUED once the whole file is in. Nothing is applied before.",
        "QUEUED": "Accepted and stored; no contact written yet.",
        "PROCESSING": "Being applied, chunk by chunk.",
        "COMPLETED": "Every item has a result (failed items included).",
        "FAILED": "The batch itself could not be processed; see the results it has.",
    },
)
WebhookDeliveryStatus = publish(
    DeliveryStatus,
    "Where a webhook delivery is.",
    {
        "PENDING": "Not delivered yet: waiting for its first or next attempt.",
        "DELIVERED": "The receiver answered 2xx.",
        "FAILED": "Every attempt of the retry schedule failed.",
    },
)


@strawberry.type(description="The webhook a batch sends when it finishes (Standard Webhooks, retried).")
class WebhookDelivery:
    url: str = strawberry.field(description="Where it is sent.")
    status: WebhookDeliveryStatus = strawberry.field(description="Whether it was delivered.")  # type: ignore[valid-type]
    attempts: int = strawberry.field(description="Attempts made so far.")
    last_error: str | None = strawberry.field(description="Why the last attempt failed.")
    delivered_at: dt.datetime | None = strawberry.field(description="When the receiver accepted it.")

    @classmethod
    def of(cls, url: str, row: DeliveryRow | None) -> WebhookDelivery:
        if row is None:  # the batch has not finished yet
            return cls(url=url, status=WebhookDeliveryStatus("PENDING"), attempts=0, last_error=None, delivered_at=None)
        return cls(
            url=row.url, status=WebhookDeliveryStatus(row.status.value), attempts=row.attempts,
            last_error=row.last_error, delivered_at=row.delivered_at,
        )  # fmt: skip


@strawberry.type(description="What one item of a batch came to — the fields of an upsertContact payload.")
class BatchResult:
    index: int = strawberry.field(description="The item's position in the batch, from 0.")
    client_ref: str | None = strawberry.field(description="The item's clientRef, echoed.")
    outcome: UpsertOutcome | None = strawberry.field(description="What happened; null when the item failed.")
    matched_by: MatchRule | None = strawberry.field(description="The rule that found the contact.")
    contact_ids: list[strawberry.ID] = strawberry.field(description="The contacts written or matched.")
    changed_fields: list[str] = strawberry.field(description="Fields written; empty when UNCHANGED.")
    invalid_properties: list[InvalidProperty] = strawberry.field(description="Property values not written, and why.")
    invalid_contact_ids: list[strawberry.ID] = strawberry.field(description="Ids that name no contact of the workspace.")
    errors: list[UserError] = strawberry.field(description='Problems with the item; fields are paths like ["contacts", "3", "email"].')

    @classmethod
    def from_result(cls, result: ItemResult) -> BatchResult:
        return cls(
            index=result.index,
            client_ref=result.client_ref,
            outcome=None if result.outcome is None else UpsertOutcome(result.outcome.value),
            matched_by=None if result.matched_by is None else MatchRule(result.matched_by.value),
            contact_ids=[strawberry.ID(str(i)) for i in result.contact_ids],
            changed_fields=result.changed_fields,
            invalid_properties=[InvalidProperty.from_row(p) for p in result.invalid_properties],
            invalid_contact_ids=[strawberry.ID(i) for i in result.invalid_contact_ids],
            errors=item_user_errors(result.errors, ("contacts", str(result.index))),
        )


@strawberry.type(description="Failed items of a batch that share a reason.")
class FailureGroup:
    code: ErrorCode = strawberry.field(description="What kind of problem.")
    field: list[str] = strawberry.field(description='The field of the item it is about, e.g. ["mobile"]; empty: the item as a whole.')
    count: int = strawberry.field(description="How many items have it.")
    example_client_ref: str | None = strawberry.field(description='The clientRef of the first such item (a CSV file\'s row, e.g. "row 12").')
    example_message: str = strawberry.field(description="That item's message.")
    hint: str | None = strawberry.field(description="What usually fixes it.")

    @classmethod
    def of(cls, group: FailureGroupRow) -> FailureGroup:
        return cls(
            code=ErrorCode(group.code.value), field=list(group.field), count=group.count, example_client_ref=group.example_ref,
            example_message=group.example_message, hint=FAILURE_HINTS.get(group.code),
        )  # fmt: skip


# What usually fixes the commonest reasons items fail.
FAILURE_HINTS = {
    StoreErrorCode.INVALID_PHONE: "give defaultCountry (or, in a CSV file, a country column) for national numbers",
    StoreErrorCode.IDENTITY_REQUIRED: "give each contact an email, a mobile or an externalId",
}


@connection("BatchResultEdge", "A result and its cursor.", cursor="Pass as `after` to get the results after this one.", node="The result.")
class BatchResultEdge(Edge[BatchResult]):
    pass


@connection(
    "BatchResultConnection",
    "A page of a batch's results, in input order (Relay cursor connection).",
    edges="The results of this page.",
    total_count="How many results match the filter so far.",
)
class BatchResultConnection(Connection[BatchResultEdge]):
    pass


@strawberry.type(description="An upsertContacts call or a file import (CSV or NDJSON): stored whole, applied asynchronously (answered before any contact is written).")
class Batch:
    row: strawberry.Private[BatchRow]
    id: strawberry.ID = strawberry.field(description="The batch's id (a UUID).")
    status: BatchStatus = strawberry.field(description="Where the batch is.")  # type: ignore[valid-type]
    total: int = strawberry.field(description="Items in the batch.")
    processed: int = strawberry.field(description="Items with a result so far.")
    created: int = strawberry.field(description="Items that created a contact.")
    updated: int = strawberry.field(description="Items that updated contacts.")
    unchanged: int = strawberry.field(description="Items whose contact already had every value.")
    skipped: int = strawberry.field(description="Items skipped on purpose (SKIP actions, deleted contacts).")
    failed: int = strawberry.field(description="Items that failed (their outcome is null).")
    created_at: dt.datetime = strawberry.field(description="When the batch was accepted.")
    started_at: dt.datetime | None = strawberry.field(description="When a worker first took it.")
    finished_at: dt.datetime | None = strawberry.field(description="When it completed or failed.")
    error: str | None = strawberry.field(
        description="Why the batch itself FAILED (an import whose reader stopped before the whole file was in, items that cannot be read); null otherwise."
    )

    @classmethod
    def from_row(cls, row: BatchRow) -> Batch:
        return cls(
            row=row, id=strawberry.ID(row.id), status=BatchStatus(row.status.value), total=row.total,
            processed=row.processed, created=row.created, updated=row.updated, unchanged=row.unchanged,
            skipped=row.skipped, failed=row.failed, created_at=row.created_at, started_at=row.started_at,
            finished_at=row.finished_at, error=row.error,
        )  # fmt: skip

    @strawberry.field(description="The items' results in input order.")
    async def results(
        self,
        info: Info,
        first: Annotated[int | None, strawberry.argument(description="How many results (at most 1000; null: 100).")] = 100,
        after: Annotated[str | None, strawberry.argument(description="The cursor to continue after.")] = None,
        outcome: Annotated[UpsertOutcome | None, strawberry.argument(description="Only results with this outcome.")] = None,
        failed_only: Annotated[bool | None, strawberry.argument(description="Only the failed items.")] = False,
    ) -> BatchResultConnection:
        wanted = None if outcome is None else Outcome(outcome.value)
        page = await resolve.page_results(info, self.row, 100 if first is None else first, after, wanted, bool(failed_only))
        return BatchResultConnection.of(page, BatchResult.from_result)

    @strawberry.field(description="The failed items grouped by reason, most frequent first (an item with several problems counts under each).")
    async def failures(self, info: Info) -> list[FailureGroup]:
        return [FailureGroup.of(group) for group in await resolve.failures_of(info, self.row)]

    @strawberry.field(description="The completion webhook, when the batch has a webhookUrl.")
    async def webhook(self, info: Info) -> WebhookDelivery | None:
        if self.row.webhook_url is None:
            return None
        return WebhookDelivery.of(self.row.webhook_url, await resolve.delivery_of(info, self.row))


@connection("BatchEdge", "A batch and its cursor.", cursor="Pass as `after` to get the batches after this one.", node="The batch.")
class BatchEdge(Edge[Batch]):
    pass


@connection(
    "BatchConnection",
    "A page of batches, newest first (Relay cursor connection).",
    edges="The batches of this page.",
    total_count="How many batches match (counted only when asked for).",
)
class BatchConnection(Connection[BatchEdge]):
    pass


@raw_input
@strawberry.input(description="Many contacts to create or update, applied asynchronously as one batch.")
class UpsertContactsInput:
    contacts: list[ContactInput] = strawberry.field(description="The contacts (at most CONTACTQL_MAX_BATCH_SIZE, 1000 by default); each as in upsertContact.")
    list_id: Maybe[strawberry.ID | None] = strawberry.field(description="Also add every contact to this list, which must exist.")
    match: Maybe[MatchStrategyInput | None] = strawberry.field(description="How to find existing contacts, for every item.")
    restore_deleted: bool | None = strawberry.field(default=False, description="Restore deleted contacts that match.")
    override_suppression: bool | None = strawberry.field(default=False, description="Admin keys: write identities an erasure suppressed (eraseContact) and lift their suppression; else they are SKIPPED, SUPPRESSED.")
    webhook_url: Maybe[str | None] = strawberry.field(description="POSTed a signed summary when the batch finishes (https, public address).")
    idempotency_key: Maybe[str | None] = strawberry.field(description="The same key with the same input within 24 h returns the first call's batch.")
    default_country: Maybe[str | None] = default_country()
    events: Maybe[EventOptionsInput | None] = strawberry.field(description="Events to write per created / updated contact.")


@raw_input
@strawberry.input(description="A CSV file to import as a batch: exactly one of file or url.")
class ImportContactsInput:
    file: Maybe[Upload | None] = strawberry.field(description="The CSV or NDJSON file, sent with the GraphQL multipart request spec.")
    url: Maybe[str | None] = strawberry.field(description="An https URL to fetch the CSV or NDJSON file from; user:password in it is sent as Basic auth.")
    list_id: Maybe[strawberry.ID | None] = strawberry.field(description="Add every contact to this list, which must exist.")
    list_name: Maybe[str | None] = strawberry.field(description="Add every contact to the list with this name, created if needed.")
    match: Maybe[MatchStrategyInput | None] = strawberry.field(description="How to find existing contacts (e.g. rules [EXTERNAL_ID, EMAIL]).")
    webhook_url: Maybe[str | None] = strawberry.field(description="POSTed a signed summary when the import finishes.")
    default_country: Maybe[str | None] = strawberry.field(
        description="The country (ISO 3166 alpha-2) of phone numbers written without one; a `country` column overrides it per row; default: the workspace's."
    )
    create_missing_properties: bool | None = strawberry.field(default=False, description="CSV: create a TEXT property for every column that is neither a contact field nor an existing property.")
    format: Maybe[ImportFormat | None] = strawberry.field(  # type: ignore[valid-type]
        description="CSV or NDJSON (one ContactInput object a line, checked as an upsertContacts item); default: NDJSON for a file or URL path ending .ndjson or .jsonl, or whose first character is {, else CSV."
    )
    override_suppression: bool | None = strawberry.field(default=False, description="Admin keys: write identities an erasure suppressed (eraseContact) and lift their suppression; else they are SKIPPED, SUPPRESSED.")


ImportFormat = publish(
    imports.ImportFormat,
    "What an imported file holds.",
    {
        "CSV": "A header naming the columns, then a row per contact (comma, semicolon or tab).",
        "NDJSON": "One JSON object a line, each a ContactInput (as an upsertContacts item); blank lines are skipped.",
    },
)


@strawberry.type(description="How an imported file was read: its delimiter, rows and what each column (or, for NDJSON, each field given) became.")
class ImportReport:
    delimiter: str = strawberry.field(description="The delimiter found in a CSV header: comma, semicolon or tab; for NDJSON, newline (NDJSON).")
    rows: int = strawberry.field(description="Rows with data (blank rows are not counted); each is one item of the batch.")
    field_columns: list[str] = strawberry.field(description="Columns that write contact fields (and country, read for phone numbers).")
    property_columns: list[str] = strawberry.field(description="Columns that write custom properties.")
    created_properties: list[str] = strawberry.field(description="TEXT properties created for unknown columns (createMissingProperties).")
    ignored_columns: list[str] = strawberry.field(description="Columns that are neither contact fields nor properties: not imported (createMissingProperties creates them).")

    @classmethod
    def of(cls, prepared: Any) -> ImportReport:
        header = prepared.header
        return cls(
            delimiter=header.shown_delimiter,
            rows=prepared.rows,
            field_columns=[header.names[i] for i in sorted(header.fields)],
            property_columns=[header.names[i] for i in sorted(header.properties)],
            created_properties=list(prepared.created),
            ignored_columns=list(header.unknown),
        )


@strawberry.type(description="The result of upsertContacts or importContacts: the batch, QUEUED, before any contact is written.")
class UpsertContactsPayload:
    batch: Batch | None = strawberry.field(default=None, description="The accepted batch; null when the request was refused.")
    user_errors: list[UserError] = strawberry.field(default_factory=list, description="Why the request was refused.")
    import_report: ImportReport | None = strawberry.field(default=None, description="How importContacts read the file; null for upsertContacts.")

    @classmethod
    def of(cls, row: BatchRow) -> UpsertContactsPayload:
        return cls(batch=Batch.from_row(row))

    @classmethod
    def of_import(cls, accepted: tuple[BatchRow, Any]) -> UpsertContactsPayload:
        row, prepared = accepted
        return cls(batch=Batch.from_row(row), import_report=ImportReport.of(prepared))

