"""Export jobs: queued by exportContacts, watched by export(id) and exportProgress, downloaded
from GET /exports/{id} (app.py) — all scoped to the caller's workspace."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
from collections.abc import AsyncGenerator, Sequence

from contactql.context import ApiError, Info
from contactql.store.workspace import export_format, exports
from contactql.store.workspace.exports import ExportRow
from contactql.store.workspace.filters import ContactQuery
from contactql.store.workspace.order import ContactOrder, default_order

PROGRESS_POLL_SECONDS = 1.0


async def export_contacts(info: Info, query: ContactQuery, order: Sequence[ContactOrder], format: str, fields: Sequence[str] | None) -> ExportRow:
    workspace_id = info.context.workspace_id
    order = default_order(query, order)
    check = functools.partial(export_format.check, workspace_id=workspace_id, query=query, order=order, fields=fields)
    request = exports.job_request(query, order, fields)
    row = await info.context.db.write(exports.create_export, workspace_id=workspace_id, format=format, request=request, check=check, now=dt.datetime.now(dt.UTC))
    info.context.services.wake_exports()
    return row


async def get_export(info: Info, id: str) -> ExportRow | None:
    return await info.context.db.read(exports.get_export, workspace_id=info.context.workspace_id, export_id=str(id))


async def export_progress(info: Info, id: str) -> AsyncGenerator[ExportRow, None]:
    """The export now, again after every megabyte written, and once finished; then the stream ends."""
    db, workspace_id = info.context.db, info.context.workspace_id
    with info.context.services.export_progress.subscribe(str(id)) as updates:
        row = await db.read(exports.get_export, workspace_id=workspace_id, export_id=str(id))
        if row is None:
            raise ApiError(f"no export with id {id}", "INVALID_INPUT")
        yield row
        seen = (row.status, row.processed)
        while not row.finished:
            try:
                async with asyncio.timeout(PROGRESS_POLL_SECONDS):
                    row = await updates.get()
            except TimeoutError:  # another process may be running it: ask the database
                row = await db.read(exports.get_export, workspace_id=workspace_id, export_id=str(id)) or row
            if (row.status, row.processed) != seen:
                seen = (row.status, row.processed)
                yield row
