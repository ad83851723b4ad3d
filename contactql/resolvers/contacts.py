"""Contact queries and mutations: validate the input, call the store, map the result."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import strawberry

from contactql.context import Info
from contactql.resolvers.workspace import country_for
from contactql.schema.contact import Contact, ContactConnection, ContactEdge
from contactql.schema.errors import ApiError, user_errors
from contactql.schema.pagination import check_first, decode_id_cursor, encode_cursor, page_info
from contactql.schema.payloads import DeleteContactPayload, UpsertContactPayload
from contactql.store.errors import ErrorCode, Invalid, Problem
from contactql.store.model import Source, UpsertOptions
from contactql.store.upsert.idempotency import MAX_KEY_LENGTH, request_hash
from contactql.store.upsert.options import validate_events, validate_match
from contactql.store.upsert.pipeline import Request, Work, upsert_chunk
from contactql.store.upsert.validate import parse_contact_id, validate_contact
from contactql.store.workspace import contacts as store


async def get_contact(info: Info, id: strawberry.ID) -> Contact | None:
    contact_id = parse_contact_id(id)
    if contact_id is None:
        return None
    row = await info.context.db.read(store.get_contact, workspace_id=info.context.workspace_id, contact_id=contact_id)
    return None if row is None else Contact.from_row(row)


async def page_contacts(info: Info, *, first: int, after: str | None, query: store.ContactQuery) -> ContactConnection:
    limit = check_first(first)
    after_id = decode_id_cursor(after)
    workspace_id = info.context.workspace_id
    try:
        rows = await info.context.db.read(
            store.page_contacts, workspace_id=workspace_id, query=query, limit=limit + 1, after_id=after_id
        )
    except Invalid as error:
        raise ApiError(error.problems[0].message + f" (at {'.'.join(error.problems[0].path)})") from None

    async def count() -> int:
        return await info.context.db.read(store.count_contacts, workspace_id=workspace_id, query=query)

    edges = [ContactEdge(cursor=encode_cursor(row["id"]), node=Contact.from_row(row)) for row in rows[:limit]]
    return ContactConnection(
        edges=edges,
        page_info=page_info([e.cursor for e in edges], has_next=len(rows) > limit, after=after),
        count=count,
    )


async def upsert_contact(info: Info, raw: Mapping[str, Any]) -> UpsertContactPayload:
    country, problems = await country_for(info, raw, [raw["contact"]])
    if problems:  # the contact's numbers cannot be read without it
        return UpsertContactPayload.failed(problems)
    item, item_problems = validate_contact(raw["contact"], default_country=country)
    match, match_problems = validate_match(raw.get("match"))
    event_options, event_problems = validate_events(raw.get("events"))
    problems += [p.under("contact") for p in item_problems] + match_problems + event_problems
    key = raw.get("idempotencyKey")
    if key is not None and not 0 < len(key) <= MAX_KEY_LENGTH:
        problems.append(Problem(("idempotencyKey",), ErrorCode.INVALID_INPUT, f"must be 1 to {MAX_KEY_LENGTH} characters"))
    if problems:
        return UpsertContactPayload.failed(problems)
    options = UpsertOptions(
        match=match,
        list_id=raw.get("listId"),
        restore_deleted=bool(raw.get("restoreDeleted")),
        source=Source.API,
        actor=info.context.principal.key_name,
        events=event_options,
    )
    work = [Work(item, options)]
    workspace_id = info.context.workspace_id
    db = info.context.db
    if raw.get("dryRun"):
        results = await db.read(upsert_chunk, workspace_id=workspace_id, work=work, catalog=db.catalog, write=False)
    else:
        keyed = None if key is None else (key, request_hash("upsertContact", raw))
        results = await info.context.services.writer.submit(Request(workspace_id, work, keyed))
    result = results[0]
    if result.contact_ids and not result.contacts:  # answered from an idempotency record
        rows = await db.read(store.contacts_by_ids, workspace_id=workspace_id, ids=result.contact_ids)
        result.contacts = [rows[cid] for cid in result.contact_ids if cid in rows]
    return UpsertContactPayload.from_result(result)


async def delete_contact(info: Info, id: strawberry.ID) -> DeleteContactPayload:
    contact_id = parse_contact_id(id)
    found = False
    if contact_id is not None:
        found = await info.context.db.write(
            store.delete_contact, workspace_id=info.context.workspace_id, contact_id=contact_id, actor=info.context.principal.key_name
        )
    if not found:
        problem = Problem(("id",), ErrorCode.NOT_FOUND, f"no contact with id {id}")
        return DeleteContactPayload(deleted_id=None, user_errors=user_errors([problem]))
    return DeleteContactPayload(deleted_id=strawberry.ID(str(contact_id)), user_errors=[])
