"""Saved segments (seed 004's dynamic segments, SendGrid's and Klaviyo's): a named filter and
search whose members are whoever matches when it is read — nothing is copied, so a segment is
never stale. `filter: {segmentId}` applies one wherever a filter goes (filters.py).

The filter is kept as JSON of its `ContactQuery` (filters.encode). A segment's filter may not
name another segment, so evaluating one never recurses; it is checked when the segment is made
by building its SQL terms (an unknown property is refused then). A property deleted later makes
the segment's reads INVALID_INPUT, naming it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import unicodedata
import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from contactql.store.db.tables import segment_t
from contactql.store.errors import Invalid, NotFound
from contactql.store.values import MAX_NAME, fold

s = segment_t.c
MAX_SEGMENTS = 500  # a workspace's


@dataclasses.dataclass(frozen=True, slots=True)
class SegmentRow:
    id: str
    name: str
    query: dict[str, Any]  # the filter as JSON (filters.encode)
    search: str | None
    created_at: dt.datetime


def create_segment(
    conn: sa.Connection, *, workspace_id: int, name: str, query: dict[str, Any], search: str | None, check: Callable[[sa.Connection], None]
) -> SegmentRow:
    """`check(conn)` refuses a filter that cannot be a segment's (filters.check_segment)."""
    name = unicodedata.normalize("NFC", name.strip())
    if not name or len(name) > MAX_NAME:
        raise Invalid.at(("name",), f"must be 1 to {MAX_NAME} characters")
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in name):
        raise Invalid.at(("name",), "must not contain control or invisible characters (line breaks, zero-width spaces)")
    check(conn)
    key = fold(name)  # "STRASSE" and "straße", a composed and a decomposed "Café": one name
    taken = conn.scalar(sa.select(s.id).where(s.workspace_id == workspace_id, s.name_key == key))
    if taken is not None:
        raise Invalid.at(("name",), f"a segment named {name!r} already exists (id {taken})")
    if (conn.scalar(sa.select(sa.func.count()).where(s.workspace_id == workspace_id)) or 0) >= MAX_SEGMENTS:
        raise Invalid.at(("name",), f"a workspace has at most {MAX_SEGMENTS} segments")
    search = search if search is not None and search.strip() else None
    row: dict[str, Any] = {"id": str(uuid.uuid4()), "workspace_id": workspace_id, "name": name, "name_key": key,
                           "query": query, "search": search, "created_at": dt.datetime.now(dt.UTC)}  # fmt: skip
    conn.execute(sa.insert(segment_t), row)
    return SegmentRow(row["id"], name, query, search, row["created_at"])


def get_segment(conn: sa.Connection, *, workspace_id: int, segment_id: str) -> SegmentRow | None:
    row = conn.execute(sa.select(segment_t).where(s.workspace_id == workspace_id, s.id == str(segment_id))).first()
    return None if row is None else _segment(row)


def page_segments(conn: sa.Connection, *, workspace_id: int, limit: int, after: tuple[dt.datetime, str] | None) -> list[SegmentRow]:
    """Segments in creation order, keyset-paginated on (created_at, id)."""
    statement = sa.select(segment_t).where(s.workspace_id == workspace_id)
    if after is not None:
        statement = statement.where(sa.tuple_(s.created_at, s.id) > sa.tuple_(*after))
    return [_segment(r) for r in conn.execute(statement.order_by(s.created_at, s.id).limit(limit))]


def count_segments(conn: sa.Connection, *, workspace_id: int) -> int:
    return int(conn.scalar(sa.select(sa.func.count()).where(s.workspace_id == workspace_id)) or 0)


def delete_segment(conn: sa.Connection, *, workspace_id: int, segment_id: str) -> str:
    deleted = conn.execute(sa.delete(segment_t).where(s.workspace_id == workspace_id, s.id == str(segment_id)))
    if deleted.rowcount == 0:
        raise NotFound.at(("id",), "no segment with this id")
    return str(segment_id)


def _segment(row: Any) -> SegmentRow:
    return SegmentRow(row.id, row.name, row.query, row.search, row.created_at)
