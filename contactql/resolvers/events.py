"""Events: what happened to contacts, oldest first."""

from __future__ import annotations

import datetime as dt
from typing import Any

from contactql.context import ApiError, Info
from contactql.resolvers.pagination import Page, decode_id_cursor, empty_page, paginate
from contactql.store.values import parse_contact_id, utc
from contactql.store.workspace import events
from contactql.store.workspace.events import EventRow


async def page_events(info: Info, first: int, after: str | None, type: str | None, contact_id: str | None, since: dt.datetime | None) -> Page[tuple[int, EventRow]]:
    cid = None if contact_id is None else parse_contact_id(contact_id)
    if contact_id is not None and cid is None:  # no contact has that id: no events
        return empty_page(after)
    try:
        since = None if since is None else utc(since)
    except ValueError as error:
        raise ApiError(f"{error} (at filter.since)") from None
    where: dict[str, Any] = {"workspace_id": info.context.workspace_id, "type": type, "contact_id": cid, "since": since}

    async def fetch(limit: int, after_seq: int | None) -> list[tuple[int, EventRow]]:
        return await info.context.db.read(events.page_events, **where, limit=limit, after=after_seq)

    async def total() -> int:
        return await info.context.db.read(events.count_events, **where)

    return await paginate(fetch, first=first, after=after, decode=decode_id_cursor, key=lambda pair: (pair[0],), total=total)
