"""Webhook endpoints: where a workspace's events are delivered (the deliveries themselves are
the outbox's, store/batches/outbox.py)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Sequence

import sqlalchemy as sa

from contactql.store.db.tables import endpoint_t
from contactql.store.errors import ErrorCode, Invalid, Problem
from contactql.store.values import EVENT_TYPE

MAX_ENDPOINTS = 20


@dataclasses.dataclass(frozen=True, slots=True)
class EndpointRow:
    id: str
    url: str
    event_types: list[str]
    created_at: dt.datetime


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
