"""Idempotency keys (SPEC §5): per workspace, 24 hours, bound to the request they came with.

The key is checked and recorded inside the transaction that does the work, so a retried
request is answered from the first one's record and never applied twice; the same key with a
different request is IDEMPOTENCY_KEY_REUSED. Concurrent duplicates are serialised by the
single writer (SQLite) or by the key's primary key (PostgreSQL: the loser's transaction fails
and is retried, and then finds the record).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from enum import Enum
from typing import Any

import sqlalchemy as sa

from contactql.store.db.tables import idempotency_t
from contactql.store.errors import Conflict, ErrorCode, Problem

TTL = dt.timedelta(hours=24)
MAX_KEY_LENGTH = 255
k = idempotency_t.c


def request_hash(operation: str, raw: Mapping[str, Any]) -> str:
    """A digest of what the client asked for, independent of key order and of the key itself."""
    canonical = json.dumps([operation, {n: v for n, v in raw.items() if n != "idempotencyKey"}], sort_keys=True, default=_plain)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    raise TypeError(type(value).__name__)


def replay(conn: sa.Connection, *, workspace_id: int, key: str, request_hash: str, now: dt.datetime) -> dict[str, Any] | None:
    """The recorded response for `key`, None when there is none; Conflict when it named another request."""
    row = conn.execute(
        sa.select(k.request_hash, k.response).where(k.workspace_id == workspace_id, k.key == key, k.created_at > now - TTL)
    ).first()
    if row is None:
        return None
    if row.request_hash != request_hash:
        raise Conflict(Problem(("idempotencyKey",), ErrorCode.IDEMPOTENCY_KEY_REUSED, "this idempotency key was used with a different input in the last 24 hours"))
    return dict(json.loads(row.response))


def remember(conn: sa.Connection, *, workspace_id: int, key: str, request_hash: str, response: Mapping[str, Any], now: dt.datetime) -> None:
    conn.execute(sa.delete(idempotency_t).where(k.workspace_id == workspace_id, k.key == key))  # an expired record
    conn.execute(
        sa.insert(idempotency_t),
        {"workspace_id": workspace_id, "key": key, "request_hash": request_hash, "response": json.dumps(response), "created_at": now},
    )


def purge_expired(conn: sa.Connection, *, now: dt.datetime) -> int:
    """Delete records older than 24 hours (they answer nothing any more); how many went."""
    return conn.execute(sa.delete(idempotency_t).where(k.created_at <= now - TTL)).rowcount
