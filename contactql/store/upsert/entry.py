"""The engine's front door: what a resolver calls to write or try one contact.

    upsert_one   one contact, durably, through the group-commit writer (writer.py)
    dry_run      what the upsert would do, decided against the database, nothing written

Resolvers validate the input (validate.py, options.py) and hand over the item, its options and
the process's writer (from their context's services); how the engine batches its work —
`Work`, `Request`, group commits — stays inside this package.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from contactql.store.db.database import Database
from contactql.store.model import ContactItem, ItemResult, UpsertOptions
from contactql.store.upsert.cache import Catalog
from contactql.store.upsert.chunk import ChunkState, Work
from contactql.store.upsert.pipeline import Request, decide_chunk
from contactql.store.upsert.writer import UpsertWriter
from contactql.store.workspace.companies import companies_by_ids
from contactql.store.workspace.contacts import contacts_by_ids


async def upsert_one(writer: UpsertWriter, *, workspace_id: int, item: ContactItem, options: UpsertOptions, idempotency_key: tuple[str, str] | None = None) -> ItemResult:
    """Apply one contact; `idempotency_key` is (key, hash of the request): the same pair again
    within its lifetime is answered from the first call's record."""
    result = (await writer.submit(Request(workspace_id, [Work(item, options)], idempotency_key)))[0]
    if result.contact_ids and not result.contacts:  # answered from an idempotency record: read the contacts now
        rows = await writer.db.read(contacts_by_ids, workspace_id=workspace_id, ids=result.contact_ids)
        result.contacts = [rows[cid] for cid in result.contact_ids if cid in rows]
    return result


async def dry_run(db: Database, *, workspace_id: int, item: ContactItem, options: UpsertOptions) -> ItemResult:
    """What `upsert_one` would answer, nothing written; the contact's relations the item would
    change come as they would be (`ItemResult.planned`), not as they are."""
    return await db.read(_decided, workspace_id=workspace_id, work=Work(item, options), catalog=db.catalog)


def _decided(conn: sa.Connection, *, workspace_id: int, work: Work, catalog: Catalog) -> ItemResult:
    state, [result] = decide_chunk(conn, workspace_id=workspace_id, work=[work], catalog=catalog, now=dt.datetime.now(dt.UTC))
    for cid in result.contact_ids:
        if cid > 0:  # a contact it would create has no answer but its outcome
            result.planned[cid] = _planned(conn, state, cid, catalog)
    return result


def _planned(conn: sa.Connection, state: ChunkState, cid: int, catalog: Catalog) -> dict[str, Any]:
    """The relations of `cid` the decision changed: lists as ListRows, companies as CompanyRows,
    URLs as (ref, url, label), each ordered as the store reads a contact's."""
    planned: dict[str, Any] = {}
    if cid in state.props and state.props[cid] != state.original_props.get(cid, {}):
        values = state.props[cid]  # (field, value) pairs in the fields' order, as a contact lists them
        planned["properties"] = [(field, values[field_id]) for field_id, field in state.fields.by_id.items() if field_id in values]
    if cid in state.lists_of and state.lists_of[cid] != state.original_lists.get(cid, set()):
        ids = state.lists_of[cid]
        # The chunk read only the lists its items name; the contact's others come from the cache.
        others = [list_id for list_id in ids if list_id not in state.lists_by_id]
        known = catalog.lists(conn, state.workspace_id, others, ())[0] if others else {}
        planned["lists"] = sorted((state.lists_by_id.get(list_id) or known[list_id] for list_id in ids), key=lambda row: row.name.lower())
    if cid in state.companies_of and state.companies_of[cid] != state.original_companies.get(cid, set()):
        planned["companies"] = companies_by_ids(conn, workspace_id=state.workspace_id, ids=state.companies_of[cid])
    if cid in state.urls_of and state.urls_of[cid] != state.original_urls.get(cid, {}):
        planned["urls"] = [(ref, url, label) for ref, (url, label) in sorted(state.urls_of[cid].items())]
    return planned
