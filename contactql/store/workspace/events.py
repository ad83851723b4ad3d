"""Reading events: what happened to contacts, oldest first (written by upsert/effects.py)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import sqlalchemy as sa

from contactql.store.db.tables import event_t

e = event_t.c


@dataclasses.dataclass(frozen=True, slots=True)
class EventRow:
    id: str
    type: str
    key: str
    contact_id: int
    params: dict[str, Any]
    created_at: dt.datetime


def page_events(
    conn: sa.Connection,
    *,
    workspace_id: int,
    type: str | None,
    contact_id: int | None,
    since: dt.datetime | None,
    limit: int,
    after: int | None,
) -> list[tuple[int, EventRow]]:
    """(sequence number, event) oldest first, keyset-paginated on the sequence."""
    where = _event_where(workspace_id, type, contact_id, since)
    query = sa.select(e.seq, e.id, e.type, e.key, e.contact_id, e.params, e.created_at).where(*where)
    if after is not None:
        query = query.where(e.seq > after)
    rows = conn.execute(query.order_by(e.seq).limit(limit))
    return [(row[0], EventRow(*row[1:])) for row in rows]


def count_events(conn: sa.Connection, *, workspace_id: int, type: str | None, contact_id: int | None, since: dt.datetime | None) -> int:
    where = _event_where(workspace_id, type, contact_id, since)
    return int(conn.scalar(sa.select(sa.func.count()).select_from(event_t).where(*where)) or 0)


def _event_where(workspace_id: int, type: str | None, contact_id: int | None, since: dt.datetime | None) -> list[sa.ColumnElement[bool]]:
    where = [e.workspace_id == workspace_id]
    if type is not None:
        where.append(e.type == type)
    if contact_id is not None:
        where.append(e.contact_id == contact_id)
    if since is not None:
        where.append(e.created_at >= since)
    return where
