"""A contact's history: one entry per write."""

from __future__ import annotations

from contactql.context import Info
from contactql.schema.events import (
    ContactHistoryConnection,
    HistoryEdge,
    HistoryEntry,
)
from contactql.schema.pagination import check_first, decode_id_cursor, encode_cursor, page_info
from contactql.store.workspace import events


async def page_history(info: Info, contact_id: int, first: int, after: str | None) -> ContactHistoryConnection:
    limit = check_first(first)
    rows, total = await info.context.db.read(
        events.page_history, workspace_id=info.context.workspace_id, contact_id=contact_id, limit=limit + 1, after_id=decode_id_cursor(after)
    )
    edges = [HistoryEdge(cursor=encode_cursor(r.id), node=HistoryEntry.from_row(r)) for r in rows[:limit]]
    return ContactHistoryConnection(edges=edges, page_info=page_info([e.cursor for e in edges], has_next=len(rows) > limit, after=after), total_count=total)
