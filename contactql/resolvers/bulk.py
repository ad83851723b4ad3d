"""Bulk jobs (store/workspace/bulk_jobs.py): queued by deleteContacts, restoreContacts and the
list mutations given a filter, watched by bulkJob(id) and bulkJobProgress — all scoped to the
caller's workspace."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncGenerator
from typing import Any

from contactql import outbound
from contactql.context import Info
from contactql.resolvers.pagination import Page, by_creation, decode_time_cursor, paginate
from contactql.resolvers.progress import follow
from contactql.store.batches import outbox as webhooks
from contactql.store.batches.outbox import DeliveryRow
from contactql.store.errors import Invalid
from contactql.store.workspace import bulk_jobs
from contactql.store.workspace.bulk_jobs import BulkJobRow, BulkKind, BulkStatus
from contactql.store.workspace.filters import ContactQuery


async def start(info: Info, kind: BulkKind, query: ContactQuery, *, list_id: str | None = None, dry_run: bool = False, webhook_url: str | None = None) -> BulkJobRow | int:
    """The queued job; with dryRun, how many contacts it would change now (nothing is written)."""
    db, workspace_id = info.context.db, info.context.workspace_id
    if dry_run and webhook_url is not None:
        raise Invalid.at(("webhookUrl",), "a dryRun makes no job to call a webhook for")
    total = await db.read(bulk_jobs.count_targets, workspace_id=workspace_id, kind=kind, query=query, list_id=list_id)
    if dry_run:
        return total
    if webhook_url is not None and (why := await outbound.problem_with(webhook_url, allow_private=info.context.services.settings.allow_private_webhooks)) is not None:
        raise Invalid.at(("webhookUrl",), f"webhookUrl {why}")
    row = await db.write(
        bulk_jobs.create_job, workspace_id=workspace_id, kind=kind, query=query, list_id=list_id, total=total, actor=info.context.principal.key_name,
        webhook_url=webhook_url, now=dt.datetime.now(dt.UTC),
    )  # fmt: skip
    info.context.services.wake_bulk()
    return row


async def cancel_job(info: Info, id: str) -> BulkJobRow:
    return await info.context.db.write(bulk_jobs.cancel_job, workspace_id=info.context.workspace_id, job_id=str(id), now=dt.datetime.now(dt.UTC))


async def page_jobs(info: Info, first: int, after: str | None, status: BulkStatus | None) -> Page[BulkJobRow]:
    where: dict[str, Any] = {"workspace_id": info.context.workspace_id, "status": status}

    async def fetch(limit: int, after_key: Any) -> list[BulkJobRow]:
        return await info.context.db.read(bulk_jobs.page_jobs, **where, limit=limit, after=after_key)

    async def total() -> int:
        return await info.context.db.read(bulk_jobs.count_jobs, **where)

    return await paginate(fetch, first=first, after=after, decode=decode_time_cursor, key=by_creation, total=total)


async def get_job(info: Info, id: str) -> BulkJobRow | None:
    return await info.context.db.read(bulk_jobs.get_job, workspace_id=info.context.workspace_id, job_id=str(id))


async def delivery_of(info: Info, row: BulkJobRow) -> DeliveryRow | None:
    """The job's completion webhook; None until the job has finished."""
    return await info.context.db.read(webhooks.delivery_of_batch, workspace_id=info.context.workspace_id, batch_id=row.id)


async def job_progress(info: Info, id: str) -> AsyncGenerator[BulkJobRow, None]:
    """The job now, again after every slice, and once finished; then the stream ends."""
    db, workspace_id = info.context.db, info.context.workspace_id

    async def read() -> BulkJobRow | None:
        return await db.read(bulk_jobs.get_job, workspace_id=workspace_id, job_id=str(id))

    async for row in follow(info.context.services.bulk_progress, str(id), read, what="bulk job", key=lambda j: (j.status is not BulkStatus.QUEUED, j.changed)):
        yield row
