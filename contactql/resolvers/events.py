"""Events: what happened to contacts, oldest first."""

from __future__ import annotations

import datetime as dt
from typing import Any

from contactql.context import Info
from contactql.schema.events import (
    Event,
    EventConnection,
    EventEdge,
)
from contactql.schema.pagination import check_first, decode_id_cursor, encode_cursor, page_info
from contactql.store.upsert.validate import parse_contact_id
from contactql.store.workspace import events


async def page_events(info: Info, first: int, after: str | None, type: str | None, contact_id: Any, since: dt.datetime | None) -> EventConnection:
    limit = check_first(first)
    cid = None if contact_id is None else parse_contact_id(contact_id)
    if contact_id is not None and cid is None:
        return EventConnection(edges=[], page_info=page_info([], has_next=False, after=after), count=_none)
    where: dict[str, Any] = {"workspace_id": info.context.workspace_id, "type": type, "contact_id": cid, "since": since}
    rows = await info.context.db.read(events.page_events, **where, limit=limit + 1, after=decode_id_cursor(after))

    async def count() -> int:
        return await info.context.db.read(events.count_events, **where)

    with_token = info.context.principal.is_admin
    edges = [EventEdge(cursor=encode_cursor(seq), node=Event.from_row(r, with_token=with_token)) for seq, r in rows[:limit]]
    return EventConnection(edges=edges, page_info=page_info([e.cursor for e in edges], has_next=len(rows) > limit, after=after), count=count)


async def _none() -> int:
    return 0
