"""A contact's history: one entry per write."""

from __future__ import annotations

from contactql.context import Info
from contactql.resolvers.pagination import Page, counted, decode_id_cursor, paginate
from contactql.store.workspace import history
from contactql.store.workspace.history import HistoryRow


async def page_history(info: Info, contact_id: int, first: int, after: str | None) -> Page[HistoryRow]:
    async def fetch(limit: int, after_id: int | None) -> tuple[list[HistoryRow], int]:
        return await info.context.db.read(history.page_history, workspace_id=info.context.workspace_id, contact_id=contact_id, limit=limit, after_id=after_id)

    rows, total = counted(fetch)
    return await paginate(rows, first=first, after=after, decode=decode_id_cursor, key=lambda row: (row.id,), total=total)
