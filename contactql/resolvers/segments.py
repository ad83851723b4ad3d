"""Saved segments: made from a filter and search, read and deleted; their members are read as
contacts of `ContactQuery(segment_id=…)` (resolvers/contacts.py)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools

from contactql.context import Info
from contactql.resolvers.pagination import Page, by_creation, decode_time_cursor, paginate
from contactql.store.workspace import filters, segments
from contactql.store.workspace.filters import ContactQuery
from contactql.store.workspace.segments import SegmentRow


async def create_segment(info: Info, name: str, query: ContactQuery) -> SegmentRow:
    workspace_id = info.context.workspace_id
    check = functools.partial(filters.check_segment, workspace_id=workspace_id, query=query)
    encoded = filters.encode(dataclasses.replace(query, search=None))
    return await info.context.db.write(segments.create_segment, workspace_id=workspace_id, name=name, query=encoded, search=query.search, check=check)


async def get_segment(info: Info, id: str) -> SegmentRow | None:
    return await info.context.db.read(segments.get_segment, workspace_id=info.context.workspace_id, segment_id=str(id))


async def page_segments(info: Info, first: int, after: str | None) -> Page[SegmentRow]:
    workspace_id = info.context.workspace_id

    async def fetch(limit: int, after_key: tuple[dt.datetime, str] | None) -> list[SegmentRow]:
        return await info.context.db.read(segments.page_segments, workspace_id=workspace_id, limit=limit, after=after_key)

    async def total() -> int:
        return await info.context.db.read(segments.count_segments, workspace_id=workspace_id)

    return await paginate(fetch, first=first, after=after, decode=decode_time_cursor, key=by_creation, total=total)


async def delete_segment(info: Info, id: str) -> str:
    return await info.context.db.write(segments.delete_segment, workspace_id=info.context.workspace_id, segment_id=str(id))
