"""Export jobs: queued by exportContacts, watched by export(id) and exportProgress, downloaded
from GET /exports/{id} (app.py) — all scoped to the caller's workspace."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import AsyncGenerator, Sequence

from contactql.context import Info
from contactql.resolvers.progress import follow
from contactql.store.workspace import export_format, exports
from contactql.store.workspace.exports import ExportRow
from contactql.store.workspace.filters import ContactQuery
from contactql.store.workspace.order import ContactOrder, default_order


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

    async def read() -> ExportRow | None:
        return await db.read(exports.get_export, workspace_id=workspace_id, export_id=str(id))

    async for row in follow(info.context.services.export_progress, str(id), read, what="export", key=lambda e: (e.status is not exports.ExportStatus.QUEUED, e.processed)):
        yield row
