"""Batch mutations, queries and the progress subscription: store rows out, types made by the
schema (schema/batches.py)."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncGenerator, Callable, Mapping
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from graphql import GraphQLInputObjectType

from contactql import outbound
from contactql.context import Info
from contactql.resolvers.erase import override_problems
from contactql.resolvers.pagination import Page, by_creation, counted, decode_id_cursor, decode_time_cursor, paginate
from contactql.resolvers.progress import follow
from contactql.resolvers.workspace import country_for
from contactql.runtime import BIG_BATCH, BIG_FILE
from contactql.store.batches import outbox as webhooks
from contactql.store.batches import queue as batches
from contactql.store.batches import results as batch_results
from contactql.store.batches.csv import ImportFormat
from contactql.store.batches.outbox import DeliveryRow
from contactql.store.batches.queue import BatchRow
from contactql.store.batches.results import FailureGroup
from contactql.store.errors import ErrorCode, Invalid, Problem
from contactql.store.model import BatchStatus, ItemResult, Outcome, Source, UpsertOptions
from contactql.store.upsert.idempotency import MAX_KEY_LENGTH, request_hash
from contactql.store.upsert.options import validate_events, validate_match
from contactql.store.values import enum_value
from contactql.store.workspace import lists
from contactql.store.workspace.lists import get_list
from contactql.workers import importer, ndjson


def size_problems(count: int, max_items: int) -> list[Problem]:
    if count > max_items:
        return [Problem(("contacts",), ErrorCode.BATCH_TOO_LARGE, f"{count} contacts; at most {max_items} per batch")]
    if count == 0:
        return [Problem(("contacts",), ErrorCode.INVALID_INPUT, "give at least one contact")]
    return []


async def envelope_problems(info: Info, raw: Mapping[str, Any]) -> list[Problem]:
    """Problems with a batch request as a whole (its list, webhook, key, override): no batch then."""
    problems = override_problems(info, raw)
    if (list_id := raw.get("listId")) is not None:
        if await info.context.db.read(get_list, workspace_id=info.context.workspace_id, list_id=str(list_id)) is None:
            problems.append(Problem(("listId",), ErrorCode.LIST_NOT_FOUND, f"no list with id {list_id}"))
    if (url := raw.get("webhookUrl")) is not None:
        if (why := await outbound.problem_with(url, allow_private=info.context.services.settings.allow_private_webhooks)) is not None:
            problems.append(Problem(("webhookUrl",), ErrorCode.INVALID_INPUT, f"webhookUrl {why}"))
    if (key := raw.get("idempotencyKey")) is not None and not 0 < len(key) <= MAX_KEY_LENGTH:
        problems.append(Problem(("idempotencyKey",), ErrorCode.INVALID_INPUT, f"must be 1 to {MAX_KEY_LENGTH} characters"))
    return problems


async def upsert_contacts(info: Info, raw: Mapping[str, Any]) -> BatchRow:
    """The batch, stored and QUEUED; refused (Invalid, StoreError) as a whole before any row."""
    services = info.context.services
    match, problems = validate_match(raw.get("match"))
    event_options, event_problems = validate_events(raw.get("events"))
    country, country_problems = await country_for(info, raw)
    problems = size_problems(len(raw["contacts"]), services.settings.max_batch_size) + await envelope_problems(info, raw) + problems + event_problems
    problems += country_problems
    if problems:
        raise Invalid(*problems)
    # Validation is CPU work: off the event loop, for big batches in a process of its own (runtime.py).
    entries = await services.helper.run(batches.validate_entries, raw["contacts"], country, big=len(raw["contacts"]) >= BIG_BATCH)
    options = UpsertOptions(
        match=match,
        list_id=None if raw.get("listId") is None else str(raw["listId"]),
        restore_deleted=bool(raw.get("restoreDeleted")),
        source=Source.BATCH,
        actor=info.context.principal.key_name,
        events=event_options,
        override_suppression=bool(raw.get("overrideSuppression")),
    )
    key = raw.get("idempotencyKey")
    row, _ = await info.context.db.write(
        batches.accept_batch,
        workspace_id=info.context.workspace_id,
        entries=entries,
        options=options,
        webhook_url=raw.get("webhookUrl"),
        idempotency_key=None if key is None else (key, request_hash("upsertContacts", raw)),
    )
    services.wake_batches()
    return row


async def import_contacts(info: Info, raw: Mapping[str, Any]) -> tuple[BatchRow, importer.Prepared]:
    """A CSV or NDJSON file, uploaded or fetched, becomes a batch (source CSV_IMPORT) of any number
    of rows up to CONTACTQL_MAX_IMPORT_MB; each row (line) is an item, a bad one a failed result."""
    services = info.context.services
    settings = services.settings
    max_bytes = settings.max_import_mb * 1024 * 1024
    match, problems = validate_match(raw.get("match"))
    file, url, list_name = raw.get("file"), raw.get("url"), raw.get("listName")
    if (file is None) == (url is None):
        problems.append(Problem(("file",), ErrorCode.INVALID_INPUT, "give exactly one of file or url"))
    elif file is not None and not callable(getattr(file, "read", None)):  # an upload, not a string or an object
        problems.append(Problem(("file",), ErrorCode.INVALID_INPUT, "file must be a file part of a multipart request (the GraphQL multipart request spec); or give url"))
    if list_name is not None and raw.get("listId") is not None:
        problems.append(Problem(("listName",), ErrorCode.INVALID_INPUT, "give at most one of listId or listName"))
    elif list_name is not None:
        try:
            lists.checked_name(list_name)
        except Invalid as refused:  # named as this mutation names it, not as createList does
            problems += [Problem(("listName",), p.code, p.message) for p in refused.problems]
    problems += await envelope_problems(info, raw)
    country, country_problems = await country_for(info, raw)
    problems += country_problems
    stream: BinaryIO = io.BytesIO()
    if not problems:
        try:
            stream = _upload(file, max_bytes) if file is not None else io.BytesIO(await outbound.fetch(str(url), allow_private=settings.allow_private_webhooks, max_bytes=max_bytes))
        except outbound.FetchError as error:
            problems.append(Problem(("file",) if file is not None else ("url",), ErrorCode.INVALID_INPUT, str(error)))
    if problems:
        raise Invalid(*problems)
    options = UpsertOptions(
        match=match,
        list_id=None if raw.get("listId") is None else str(raw["listId"]),
        source=Source.CSV_IMPORT,
        actor=info.context.principal.key_name,
        override_suppression=bool(raw.get("overrideSuppression")),
    )
    db, workspace_id = info.context.db, info.context.workspace_id

    named = getattr(file, "filename", None) if file is not None else urlsplit(str(url)).path
    chosen = raw.get("format")
    head = stream.read(ndjson.SNIFF)
    stream.seek(0)
    if ImportFormat(enum_value(chosen)) is ImportFormat.NDJSON if chosen is not None else ndjson.is_ndjson(named, head):
        if raw.get("createMissingProperties"):
            raise Invalid.at(("createMissingProperties",), "is for a CSV file's columns; an NDJSON line names its properties as a batch item does")
        contact_type = info.schema._schema.get_type("ContactInput")
        assert isinstance(contact_type, GraphQLInputObjectType)
        row, prepared = await importer.receive_ndjson(
            db, stream, contact_type, workspace_id=workspace_id, options=options, list_name=list_name, webhook_url=raw.get("webhookUrl"),
            default_country=country, lease_seconds=settings.lease_seconds,
        )  # fmt: skip
    else:
        data = await asyncio.to_thread(stream.read)

        async def validate(fn: Callable[..., Any], *args: Any) -> Any:
            return await services.helper.run(fn, *args, big=len(data) >= BIG_FILE)

        created = bool(raw.get("createMissingProperties"))
        prepared = await importer.prepare(db, validate, workspace_id=workspace_id, data=data, default_country=country, create_missing=created)
        row = await db.write(batches.accept_import, workspace_id=workspace_id, entries=prepared.entries, options=options, list_name=list_name, webhook_url=raw.get("webhookUrl"))
    services.wake_batches()
    return row, prepared


def _upload(upload: Any, max_bytes: int) -> BinaryIO:
    """The uploaded file as the server spooled it (memory, or a temporary file once large), read
    from its start; refused when larger than `max_bytes`."""
    stream: BinaryIO = upload.file
    size = stream.seek(0, io.SEEK_END)
    if size > max_bytes:
        raise outbound.FetchError(f"the file is larger than {max_bytes // (1024 * 1024)} MiB")
    stream.seek(0)
    return stream


async def get_batch(info: Info, id: str) -> BatchRow | None:
    return await info.context.db.read(batches.get_batch, workspace_id=info.context.workspace_id, batch_id=str(id))


async def page_batches(info: Info, first: int, after: str | None, status: BatchStatus | None) -> Page[BatchRow]:
    where: dict[str, Any] = {"workspace_id": info.context.workspace_id, "status": status}

    async def fetch(limit: int, after_key: Any) -> list[BatchRow]:
        return await info.context.db.read(batches.page_batches, **where, limit=limit, after=after_key)

    async def total() -> int:
        return await info.context.db.read(batches.count_batches, **where)

    return await paginate(fetch, first=first, after=after, decode=decode_time_cursor, key=by_creation, total=total)


MAX_RESULTS_PAGE = 1000


async def page_results(info: Info, row: BatchRow, first: int, after: str | None, outcome: Outcome | None, failed_only: bool) -> Page[ItemResult]:
    async def fetch(limit: int, after_index: int | None) -> tuple[list[ItemResult], int]:
        return await info.context.db.read(
            batch_results.page_results,
            workspace_id=info.context.workspace_id,
            batch_id=row.id,
            limit=limit,
            after_index=after_index,
            outcome=outcome,
            failed_only=failed_only,
        )

    results, total = counted(fetch)
    return await paginate(results, first=first, after=after, decode=decode_id_cursor, key=lambda r: (r.index,), total=total, limit=MAX_RESULTS_PAGE)


async def failures_of(info: Info, row: BatchRow) -> list[FailureGroup]:
    return await info.context.db.read(batch_results.failure_groups, workspace_id=info.context.workspace_id, batch_id=row.id)


async def delivery_of(info: Info, row: BatchRow) -> DeliveryRow | None:
    """The batch's completion webhook; None until the batch has finished."""
    return await info.context.db.read(webhooks.delivery_of_batch, workspace_id=info.context.workspace_id, batch_id=row.id)


async def batch_progress(info: Info, id: str) -> AsyncGenerator[BatchRow, None]:
    """The batch now, again after every chunk of its items (CONTACTQL_BATCH_CHUNK_SIZE), and once
    finished; then the stream ends."""
    db, workspace_id = info.context.db, info.context.workspace_id

    async def read() -> BatchRow | None:
        return await db.read(batches.get_batch, workspace_id=workspace_id, batch_id=str(id))

    async for row in follow(info.context.services.progress, str(id), read, what="batch", key=lambda b: b.processed):
        yield row
