"""Reading events and contact history; confirming a double opt-in token; endpoints."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import secrets
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from contactql.store.db.tables import contact_t, endpoint_t, event_t, token_t
from contactql.store.errors import ErrorCode, Invalid, NotFound, Problem
from contactql.store.model import EmailStatus, Source
from contactql.store.values import EVENT_TYPE
from contactql.store.workspace.history import PendingHistory, write_history

TOKEN_LIFETIME = dt.timedelta(days=7)
MAX_ENDPOINTS = 20
e = event_t.c


def new_token() -> str:
    """A double opt-in token: 192 random bits."""
    return secrets.token_urlsafe(24)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclasses.dataclass(frozen=True, slots=True)
class EventRow:
    id: str
    type: str
    key: str
    contact_id: int
    params: dict[str, Any]
    created_at: dt.datetime


@dataclasses.dataclass(frozen=True, slots=True)
class EndpointRow:
    id: str
    url: str
    event_types: list[str]
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


def confirm(conn: sa.Connection, *, workspace_id: int, token: str, actor: str | None) -> tuple[dict[str, Any], list[str]]:
    """Use a double opt-in token: the contact's email becomes SUBSCRIBED and the contact
    confirmed. Returns the contact row and the changed fields; NotFound for a token that is
    unknown, used, expired or of another workspace."""
    now = dt.datetime.now(dt.UTC)
    t = token_t.c
    used = conn.execute(
        sa.update(token_t)
        .where(t.token_hash == token_digest(token), t.workspace_id == workspace_id, t.used_at.is_(None), t.created_at > now - TOKEN_LIFETIME)
        .values(used_at=now)
        .returning(t.contact_id)
    ).first()
    if used is None:
        raise NotFound.at(("token",), "no pending confirmation has this token (unknown, used or expired)")
    row = dict(conn.execute(sa.select(contact_t).where(contact_t.c.id == used.contact_id)).one()._mapping)
    changes = [("emailStatus", row["email_status"], EmailStatus.SUBSCRIBED.value), ("confirmed", row["confirmed"], True)]
    changes = [c for c in changes if c[1] != c[2]]
    if changes:
        row.update(email_status=EmailStatus.SUBSCRIBED.value, confirmed=True, updated_at=now)
        conn.execute(sa.update(contact_t).where(contact_t.c.id == row["id"]).values(email_status=row["email_status"], confirmed=True, updated_at=now))
        entry = PendingHistory(row["id"], changes, Source.SUBSCRIBE, actor, None)
        write_history(conn, [entry], workspace_id=workspace_id, now=now)
    return row, [c[0] for c in changes]


def endpoint_type_problems(event_types: Sequence[str]) -> list[Problem]:
    problems = [] if event_types else [Problem(("eventTypes",), ErrorCode.INVALID_INPUT, 'give at least one event type, or "*" for all')]
    return problems + [
        Problem(("eventTypes", str(i)), ErrorCode.INVALID_INPUT, "an event type is 1 to 64 Latin letters, digits, '-' or '_', or \"*\"")
        for i, name in enumerate(event_types)
        if name != "*" and not EVENT_TYPE.match(name)
    ]


def create_endpoint(conn: sa.Connection, *, workspace_id: int, url: str, event_types: Sequence[str]) -> EndpointRow:
    types = list(dict.fromkeys(event_types))
    if problems := endpoint_type_problems(types):
        raise Invalid(*problems)
    count = conn.scalar(sa.select(sa.func.count()).select_from(endpoint_t).where(endpoint_t.c.workspace_id == workspace_id))
    if (count or 0) >= MAX_ENDPOINTS:
        raise Invalid.at(("url",), f"a workspace has at most {MAX_ENDPOINTS} webhook endpoints")
    row = EndpointRow(str(uuid.uuid4()), url, types, dt.datetime.now(dt.UTC))
    conn.execute(sa.insert(endpoint_t), {"workspace_id": workspace_id, **dataclasses.asdict(row)})
    return row


def list_endpoints(conn: sa.Connection, *, workspace_id: int) -> list[EndpointRow]:
    c = endpoint_t.c
    rows = conn.execute(sa.select(c.id, c.url, c.event_types, c.created_at).where(c.workspace_id == workspace_id).order_by(c.created_at, c.id))
    return [EndpointRow(*row) for row in rows]


def delete_endpoint(conn: sa.Connection, *, workspace_id: int, endpoint_id: str) -> bool:
    c = endpoint_t.c
    return conn.execute(sa.delete(endpoint_t).where(c.workspace_id == workspace_id, c.id == endpoint_id)).rowcount == 1
