"""The engine's front door: what a resolver calls to write or try one contact.

    upsert_one   one contact, durably, through the group-commit writer (writer.py)
    dry_run      what the upsert would do, decided against the database, nothing written

Resolvers validate the input (validate.py, options.py) and hand over the item, its options and
the process's writer (from their context's services); how the engine batches its work —
`Work`, `Request`, group commits — stays inside this package.
"""

from __future__ import annotations

from contactql.store.db.database import Database
from contactql.store.model import ContactItem, ItemResult, UpsertOptions
from contactql.store.upsert.chunk import Work
from contactql.store.upsert.pipeline import Request, upsert_chunk
from contactql.store.upsert.writer import UpsertWriter
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
    results = await db.read(upsert_chunk, workspace_id=workspace_id, work=[Work(item, options)], catalog=db.catalog, write=False)
    return results[0]
