"""Bulk changes by filter: deleteContacts, restoreContacts, and addContactsToList and
removeContactsFromList (by ids at once, or by filter as a bulk job), bulkJob(id) and
bulkJobProgress — parts of `Query`, `Mutation` and `Subscription` (schema/root.py)."""

from __future__ import annotations

import builtins
import datetime as dt
from collections.abc import AsyncGenerator
from typing import Annotated

import strawberry

from contactql.context import Info
from contactql.resolvers import bulk, lists
from contactql.schema.batches import WebhookDelivery
from contactql.schema.enums import publish
from contactql.schema.errors import UserError, answer
from contactql.schema.filters import ContactFilter, Search, contact_query
from contactql.schema.lists import ContactList
from contactql.schema.pagination import Connection, Edge, connection
from contactql.schema.permissions import CanWrite
from contactql.store.errors import Invalid
from contactql.store.workspace import bulk_jobs
from contactql.store.workspace.bulk_jobs import SLICE, BulkJobRow

BulkJobKind = publish(
    bulk_jobs.BulkKind,
    "What a bulk job changes.",
    {
        "DELETE": "deleteContacts: soft-deletes the contacts (restoreContacts or restoreDeleted bring them back).",
        "RESTORE": "restoreContacts: restores deleted contacts.",
        "ADD_TO_LIST": "addContactsToList by filter: attaches the contacts to the list.",
        "REMOVE_FROM_LIST": "removeContactsFromList by filter: detaches the contacts from the list.",
    },
    name="BulkJobKind",
)
BulkJobStatus = publish(
    bulk_jobs.BulkStatus,
    "Where a bulk job is.",
    {
        "QUEUED": "Accepted; no contact changed yet.",
        "RUNNING": "Changing contacts; changed says how many so far.",
        "COMPLETED": "Every contact it found is changed.",
        "FAILED": "It stopped; error says why. What it changed before stays changed.",
        "CANCELLED": "cancelBulkJob stopped it. What it changed before stays changed.",
    },
    name="BulkJobStatus",
)
Filter = Annotated[ContactFilter, strawberry.argument(description="Which contacts (as contacts' filter; segmentId too). {} means every contact.")]
DryRun = Annotated[bool, strawberry.argument(description="Only count the contacts it would change now (count); nothing is written and no job is made.")]
WebhookUrl = Annotated[str | None, strawberry.argument(description="POSTed a signed summary when the job finishes (https, public address).")]
ListId = Annotated[strawberry.ID, strawberry.argument(description="The list.")]
ContactIds = Annotated[builtins.list[strawberry.ID] | None, strawberry.argument(description="Contacts by id.")]
ExternalIds = Annotated[builtins.list[str] | None, strawberry.argument(description="Contacts by externalId.")]
OptionalFilter = Annotated[
    ContactFilter | None, strawberry.argument(description="Instead of ids: every contact this filter (and search) finds, as a bulk job (job); {} means every contact.")
]
JobId = Annotated[strawberry.ID, strawberry.argument(description="The job's id.")]


@strawberry.type(description=f"A change to every contact a filter found, made {SLICE} contacts at a time in the background; it goes on where it was after a restart.")
class BulkJob:
    row: strawberry.Private[BulkJobRow]
    id: strawberry.ID = strawberry.field(description="The job's id (a UUID).")
    kind: BulkJobKind = strawberry.field(description="What it changes.")  # type: ignore[valid-type]
    status: BulkJobStatus = strawberry.field(description="Where it is.")  # type: ignore[valid-type]
    list_id: strawberry.ID | None = strawberry.field(description="The list it adds to or removes from.")
    total: int = strawberry.field(description="How many contacts it would change when it was asked for. Contacts created since are never touched; one changed by another write so that it no longer matches is left alone.")
    changed: int = strawberry.field(description="Contacts changed so far.")
    error: str | None = strawberry.field(description="Why it FAILED.")
    created_at: dt.datetime = strawberry.field(description="When it was asked for.")
    finished_at: dt.datetime | None = strawberry.field(description="When it COMPLETED, FAILED or was CANCELLED.")

    @classmethod
    def of(cls, row: BulkJobRow) -> BulkJob:
        return cls(
            row=row, id=strawberry.ID(row.id), kind=BulkJobKind(row.kind.value), status=BulkJobStatus(row.status.value),
            list_id=None if row.list_id is None else strawberry.ID(row.list_id), total=row.total, changed=row.changed,
            error=row.error, created_at=row.created_at, finished_at=row.finished_at,
        )  # fmt: skip

    @strawberry.field(description="The completion webhook, when the job has a webhookUrl.")
    async def webhook(self, info: Info) -> WebhookDelivery | None:
        if self.row.webhook_url is None:
            return None
        return WebhookDelivery.of(self.row.webhook_url, await bulk.delivery_of(info, self.row))


@connection("BulkJobEdge", "A bulk job and its cursor.", cursor="Pass as `after` to get the jobs after this one.", node="The job.")
class BulkJobEdge(Edge[BulkJob]):
    pass


@connection(
    "BulkJobConnection",
    "A page of bulk jobs, newest first (Relay cursor connection).",
    edges="The jobs of this page.",
    total_count="How many jobs match (counted only when asked for).",
)
class BulkJobConnection(Connection[BulkJobEdge]):
    pass


@strawberry.type(description="The result of deleteContacts, restoreContacts and cancelBulkJob.")
class BulkJobPayload:
    job: BulkJob | None = strawberry.field(default=None, description="The queued (or cancelled) job; null with dryRun or when it was refused.")
    count: int | None = strawberry.field(default=None, description="With dryRun: how many contacts it would change now.")
    user_errors: builtins.list[UserError] = strawberry.field(default_factory=builtins.list, description="Why it was refused.")

    @classmethod
    def of(cls, started: BulkJobRow | int) -> BulkJobPayload:
        return cls(count=started) if isinstance(started, int) else cls(job=BulkJob.of(started))


@strawberry.type(description="The result of addContactsToList and removeContactsFromList.")
class ListMembershipPayload:
    list: ContactList | None = strawberry.field(default=None, description="The list; null when it was not found.")
    changed: int = strawberry.field(default=0, description="Memberships added or removed (by ids; a job counts its own).")
    unknown_ids: builtins.list[str] = strawberry.field(default_factory=builtins.list, description="Given contact ids or externalIds that name no contact of the workspace.")
    job: BulkJob | None = strawberry.field(default=None, description="By filter: the bulk job that makes the change.")
    count: int | None = strawberry.field(default=None, description="By filter with dryRun: how many contacts it would change now.")
    user_errors: builtins.list[UserError] = strawberry.field(default_factory=builtins.list, description="Why nothing was changed.")


async def _members(
    info: Info, list_id: str, ids: builtins.list[strawberry.ID] | None, external_ids: builtins.list[str] | None,
    filter: ContactFilter | None, search: str | None, dry_run: bool, webhook_url: str | None, *, add: bool,
) -> ListMembershipPayload:  # fmt: skip
    if filter is None and search is None:
        if dry_run or webhook_url is not None:
            raise Invalid.at(("dryRun" if dry_run else "webhookUrl",), "dryRun and webhookUrl go with filter (a bulk job)")
        row, changed, unknown = await lists.change_members(info, list_id, ids, external_ids, add=add)
        return ListMembershipPayload(list=ContactList.from_row(row), changed=changed, unknown_ids=unknown)
    if ids is not None or external_ids is not None:
        raise Invalid.at(("filter",), "give contactIds and externalIds, or filter and search: not both")
    kind = bulk_jobs.BulkKind.ADD_TO_LIST if add else bulk_jobs.BulkKind.REMOVE_FROM_LIST
    started = await bulk.start(info, kind, contact_query(filter, search), list_id=str(list_id), dry_run=dry_run, webhook_url=webhook_url)
    found = await lists.get_list(info, list_id)
    payload = ListMembershipPayload(list=None if found is None else ContactList.from_row(found))
    if isinstance(started, int):
        payload.count = started
    else:
        payload.job = BulkJob.of(started)
    return payload


def _same(payload: ListMembershipPayload) -> ListMembershipPayload:
    return payload  # `_members` builds the payload itself: by ids or as a job


async def _started(info: Info, kind: bulk_jobs.BulkKind, filter: ContactFilter, search: str | None, dry_run: bool, webhook_url: str | None) -> BulkJobRow | int:
    return await bulk.start(info, kind, contact_query(filter, search), dry_run=dry_run, webhook_url=webhook_url)


@strawberry.type
class BulkMutation:
    @strawberry.mutation(
        description="Soft-delete every contact a filter finds, as a bulk job (durable, resumable; progress in bulkJobProgress; a webhook when done). dryRun counts them.",
        permission_classes=[CanWrite],
    )
    async def delete_contacts(self, info: Info, filter: Filter, search: Search = None, dry_run: DryRun = False, webhook_url: WebhookUrl = None) -> BulkJobPayload:
        return await answer(_started(info, bulk_jobs.BulkKind.DELETE, filter, search, dry_run, webhook_url), BulkJobPayload.of, BulkJobPayload)

    @strawberry.mutation(
        description="Restore every deleted contact a filter finds (includeDeleted is implied), as a bulk job like deleteContacts. dryRun counts them.",
        permission_classes=[CanWrite],
    )
    async def restore_contacts(self, info: Info, filter: Filter, search: Search = None, dry_run: DryRun = False, webhook_url: WebhookUrl = None) -> BulkJobPayload:
        return await answer(_started(info, bulk_jobs.BulkKind.RESTORE, filter, search, dry_run, webhook_url), BulkJobPayload.of, BulkJobPayload)

    @strawberry.mutation(
        description="Attach contacts to a list: by id or externalId (at most 500, at once), or every contact a filter finds (a bulk job).", permission_classes=[CanWrite]
    )
    async def add_contacts_to_list(
        self, info: Info, list_id: ListId, contact_ids: ContactIds = None, external_ids: ExternalIds = None,
        filter: OptionalFilter = None, search: Search = None, dry_run: DryRun = False, webhook_url: WebhookUrl = None,
    ) -> ListMembershipPayload:  # fmt: skip
        return await answer(_members(info, list_id, contact_ids, external_ids, filter, search, dry_run, webhook_url, add=True), _same, ListMembershipPayload)

    @strawberry.mutation(
        description="Detach contacts from a list: by id or externalId (at most 500, at once; with no ids and no filter, empty the list), or every contact a filter finds (a bulk job).",
        permission_classes=[CanWrite],
    )
    async def remove_contacts_from_list(
        self, info: Info, list_id: ListId, contact_ids: ContactIds = None, external_ids: ExternalIds = None,
        filter: OptionalFilter = None, search: Search = None, dry_run: DryRun = False, webhook_url: WebhookUrl = None,
    ) -> ListMembershipPayload:  # fmt: skip
        return await answer(_members(info, list_id, contact_ids, external_ids, filter, search, dry_run, webhook_url, add=False), _same, ListMembershipPayload)

    @strawberry.mutation(
        description="Stop a bulk job that has not finished: it is CANCELLED after the slice under way; what it changed stays changed (a deleteContacts is undone by restoreContacts).",
        permission_classes=[CanWrite],
    )
    async def cancel_bulk_job(self, info: Info, id: JobId) -> BulkJobPayload:
        return await answer(bulk.cancel_job(info, id), BulkJobPayload.of, BulkJobPayload)


@strawberry.type
class BulkQuery:
    @strawberry.field(description="One bulk job by id.")
    async def bulk_job(self, info: Info, id: JobId) -> BulkJob | None:
        row = await bulk.get_job(info, id)
        return None if row is None else BulkJob.of(row)

    @strawberry.field(description="The workspace's bulk jobs, newest first.")
    async def bulk_jobs(
        self,
        info: Info,
        first: Annotated[int | None, strawberry.argument(description="How many jobs (at most 100; null: 20).")] = 20,
        after: Annotated[str | None, strawberry.argument(description="The cursor to continue after (a page's endCursor).")] = None,
        status: Annotated[BulkJobStatus | None, strawberry.argument(description="Only jobs with this status (QUEUED and RUNNING: the unfinished).")] = None,  # type: ignore[valid-type]
    ) -> BulkJobConnection:
        wanted = None if status is None else bulk_jobs.BulkStatus(status.value)
        return BulkJobConnection.of(await bulk.page_jobs(info, 20 if first is None else first, after, wanted), BulkJob.of)


@strawberry.type
class BulkSubscription:
    @strawberry.subscription(description="The bulk job now, after every slice it changes, and when it finishes; then the stream ends.")
    async def bulk_job_progress(self, info: Info, id: JobId) -> AsyncGenerator[BulkJob, None]:
        async for row in bulk.job_progress(info, id):
            yield BulkJob.of(row)
