"""Contact queries and mutations: validate the input, call the store; rows out (the schema maps
them to types, schema/contacts.py)."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from contactql.context import ApiError, Info
from contactql.resolvers.erase import override_problems
from contactql.resolvers.pagination import Page, decode_cursor, decode_id_cursor, paginate
from contactql.resolvers.workspace import country_for
from contactql.store.errors import ErrorCode, Invalid, NotFound, Problem
from contactql.store.model import ItemResult, Source, UpsertOptions
from contactql.store.sorting import OrderField
from contactql.store.upsert.entry import dry_run, upsert_one
from contactql.store.upsert.idempotency import MAX_KEY_LENGTH, request_hash
from contactql.store.upsert.options import validate_events, validate_match
from contactql.store.upsert.validate import validate_contact
from contactql.store.values import parse_contact_id
from contactql.store.workspace import contacts as store
from contactql.store.workspace import stats
from contactql.store.workspace.filters import ContactQuery
from contactql.store.workspace.lists import ListRow
from contactql.store.workspace.order import ContactOrder, default_order
from contactql.store.workspace.order import page as order_page
from contactql.store.workspace.properties import input_problems

Row = dict[str, Any]
T = TypeVar("T")


async def get_contact(info: Info, id: str) -> Row | None:
    contact_id = parse_contact_id(id)
    if contact_id is None:
        return None
    return await info.context.db.read(store.get_contact, workspace_id=info.context.workspace_id, contact_id=contact_id)


async def page_contacts(info: Info, *, first: int, after: str | None, query: ContactQuery, order: Sequence[ContactOrder] = ()) -> Page[Row]:
    """A page of contacts in id order, or in `order` (store/workspace/order.py)."""
    db, workspace_id = info.context.db, info.context.workspace_id

    async def total() -> int:
        return await count_contacts(info, query)

    order = default_order(query, order)
    if order:
        return await _ordered(info, first=first, after=after, query=query, order=order, total=total)

    async def fetch(limit: int, after_id: int | None) -> list[Row]:
        return await refused_as_api_error(db.read(store.page_contacts, workspace_id=workspace_id, query=query, limit=limit, after_id=after_id))

    return await paginate(fetch, first=first, after=after, decode=decode_id_cursor, key=lambda row: (row["id"],), total=total)


async def _ordered(
    info: Info, *, first: int, after: str | None, query: ContactQuery, order: Sequence[ContactOrder], total: Callable[[], Awaitable[int]]
) -> Page[Row]:
    """Keyset pages in `order`: a cursor holds the order's shape and the last row's sort key."""
    shape = ",".join(f"{o.field.value}:{o.direction.value}:{o.property or ''}" for o in order)
    if query.search is not None and any(o.field is OrderField.RELEVANCE for o in order):
        # A relevance depends on the search: a cursor of another search is not one of this page.
        shape += ":" + hashlib.sha256(query.search.encode(errors="replace")).hexdigest()[:12]

    def decode(cursor: str | None) -> list[Any] | None:
        key = decode_cursor(cursor, len(order) + 2)
        if key is not None and key[0] != shape:
            raise ApiError("after is not a cursor of this connection (of another orderBy)")
        return None if key is None else key[1:]

    async def fetch(limit: int, after_key: list[Any] | None) -> list[tuple[Row, tuple[Any, ...]]]:
        read = info.context.db.read(order_page, workspace_id=info.context.workspace_id, query=query, order=order, limit=limit, after=after_key)
        return await refused_as_api_error(read)

    def key(pair: tuple[Row, tuple[Any, ...]]) -> tuple[Any, ...]:
        return (shape, *(v.isoformat() if isinstance(v, dt.datetime) else v for v in pair[1]))

    page = await paginate(fetch, first=first, after=after, decode=decode, key=key, total=total)
    return page.with_rows([row for row, _ in page.rows])


async def count_contacts(info: Info, query: ContactQuery) -> int:
    return await refused_as_api_error(info.context.db.read(store.count_contacts, workspace_id=info.context.workspace_id, query=query))


async def count_by_status(info: Info, query: ContactQuery, channel: str) -> list[tuple[str, int]]:
    read = info.context.db.read(stats.count_by_status, workspace_id=info.context.workspace_id, query=query, channel=channel)
    return await refused_as_api_error(read)


async def count_by_list(info: Info, query: ContactQuery) -> list[tuple[ListRow, int]]:
    return await refused_as_api_error(info.context.db.read(stats.count_by_list, workspace_id=info.context.workspace_id, query=query))


async def refused_as_api_error(call: Awaitable[T]) -> T:
    try:
        return await call
    except Invalid as error:
        raise ApiError(error.problems[0].message + f" (at {'.'.join(error.problems[0].path)})") from None


async def upsert_contact(info: Info, raw: Mapping[str, Any]) -> ItemResult:
    """One contact written (or, with dryRun, decided); problems with the request are raised
    (Invalid), problems of the contact come back in the result."""
    country, problems = await country_for(info, raw, [raw["contact"]])
    if problems:  # the contact's numbers cannot be read without it
        raise Invalid(*problems)
    item, item_problems = validate_contact(raw["contact"], default_country=country)
    match, match_problems = validate_match(raw.get("match"))
    event_options, event_problems = validate_events(raw.get("events"))
    problems += [p.under("contact") for p in item_problems] + match_problems + event_problems
    key = raw.get("idempotencyKey")
    if key is not None and not 0 < len(key) <= MAX_KEY_LENGTH:
        problems.append(Problem(("idempotencyKey",), ErrorCode.INVALID_INPUT, f"must be 1 to {MAX_KEY_LENGTH} characters"))
    problems += override_problems(info, raw)
    if problems:
        if item_problems and item.properties:  # its property values too: every problem at once
            db, workspace_id = info.context.db, info.context.workspace_id
            fields = await db.read(db.catalog.fields, workspace_id, [(p.id, p.name) for p in item.properties])
            problems += [p.under("contact") for p in input_problems(fields, item.properties)]
        raise Invalid(*problems)
    options = UpsertOptions(
        match=match,
        list_id=raw.get("listId"),
        restore_deleted=bool(raw.get("restoreDeleted")),
        source=Source.API,
        actor=info.context.principal.key_name,
        events=event_options,
        override_suppression=bool(raw.get("overrideSuppression")),
    )
    workspace_id = info.context.workspace_id
    if raw.get("dryRun"):
        return await dry_run(info.context.db, workspace_id=workspace_id, item=item, options=options)
    keyed = None if key is None else (key, request_hash("upsertContact", raw))
    return await upsert_one(info.context.services.writer, workspace_id=workspace_id, item=item, options=options, idempotency_key=keyed)


async def delete_contact(info: Info, id: str) -> int:
    """The deleted contact's id; NotFound when the workspace has no such contact."""
    contact_id = parse_contact_id(id)
    if contact_id is None or not await info.context.db.write(store.delete_contact, workspace_id=info.context.workspace_id, contact_id=contact_id, actor=info.context.principal.key_name):
        raise NotFound.at(("id",), f"no contact with id {id}")
    return contact_id
