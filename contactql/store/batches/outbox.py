"""The webhook outbox: deliveries written in the transaction that produced them.

A delivery keeps its id (the `webhook-id` header) across attempts, so receivers can drop
repeats. A sender claims due deliveries under a lease, so one process sends each attempt; a
claim whose process died is taken over when its lease expires, and nothing pending is lost
with a restart. Retry delays follow Svix's schedule (SPEC §6).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import random
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from contactql.store.db.bulk import insert
from contactql.store.db.tables import webhook_delivery_t, workspace_t
from contactql.store.model import DeliveryStatus

w = webhook_delivery_t.c
_INSERT = insert(webhook_delivery_t, ("id", "workspace_id", "batch_id", "url", "payload", "status", "attempts", "next_attempt_at", "created_at"))


@dataclasses.dataclass(frozen=True, slots=True)
class DeliveryRow:
    id: str
    workspace_id: int
    batch_id: str | None
    url: str
    payload: str
    status: DeliveryStatus
    attempts: int
    last_error: str | None
    next_attempt_at: dt.datetime
    delivered_at: dt.datetime | None
    secret: str = ""

    @classmethod
    def from_row(cls, row: Any, secret: str = "") -> DeliveryRow:
        return cls(
            row.id, row.workspace_id, row.batch_id, row.url, row.payload, DeliveryStatus(row.status),
            row.attempts, row.last_error, row.next_attempt_at, row.delivered_at, secret,
        )  # fmt: skip


def enqueue(conn: sa.Connection, *, workspace_id: int, batch_id: str | None, url: str, payload: Mapping[str, Any], now: dt.datetime) -> None:
    enqueue_many(conn, workspace_id=workspace_id, deliveries=[(batch_id, url, payload)], now=now)


def enqueue_many(
    conn: sa.Connection, *, workspace_id: int, deliveries: Sequence[tuple[str | None, str, Mapping[str, Any]]], now: dt.datetime
) -> None:
    """Outbox rows for (batch id or None, url, payload), each due now."""
    _INSERT.execute(
        conn,
        [
            {
                "id": "msg_" + uuid.uuid4().hex, "workspace_id": workspace_id, "batch_id": batch_id, "url": url,
                "payload": json.dumps(payload, separators=(",", ":")), "status": DeliveryStatus.PENDING.value,
                "attempts": 0, "next_attempt_at": now, "created_at": now,
            }
            for batch_id, url, payload in deliveries
        ],
    )  # fmt: skip


def claim_due(conn: sa.Connection, *, owner: str, lease_seconds: float, limit: int, now: dt.datetime) -> list[DeliveryRow]:
    """Lease up to `limit` deliveries whose next attempt is due at `now`, with their workspace's secret."""
    due = sa.and_(
        w.status == DeliveryStatus.PENDING.value,
        w.next_attempt_at <= now,
        sa.or_(w.lease_expires_at.is_(None), w.lease_expires_at < now),
    )
    candidates = sa.select(w.id).where(due).order_by(w.next_attempt_at).limit(limit)
    if conn.dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    ids = list(conn.scalars(candidates))
    if not ids:
        return []
    conn.execute(
        sa.update(webhook_delivery_t).where(w.id.in_(ids), due).values(lease_owner=owner, lease_expires_at=now + dt.timedelta(seconds=lease_seconds))
    )
    rows = conn.execute(
        sa.select(webhook_delivery_t, workspace_t.c.webhook_secret)
        .join(workspace_t, workspace_t.c.id == w.workspace_id)
        .where(w.id.in_(ids), w.lease_owner == owner)
    )
    return [DeliveryRow.from_row(row, row.webhook_secret) for row in rows]


def record_attempt(
    conn: sa.Connection, *, delivery_id: str, owner: str, error: str | None, delays: Sequence[float], now: dt.datetime
) -> tuple[DeliveryStatus | None, int]:
    """Note one attempt made at `now`: DELIVERED, or PENDING with the next time, or FAILED after
    the last; returns the status and the attempts so far. After attempt n fails, attempt n + 1
    comes `delays[n - 1]` seconds later, ±10 % (Settings.webhook_retry_delays)."""
    row = conn.execute(sa.select(w.attempts).where(w.id == delivery_id, w.lease_owner == owner)).first()
    if row is None:
        return None, 0  # the lease was lost: the new owner records its own attempt
    attempts = row.attempts + 1
    values: dict[str, Any] = {"attempts": attempts, "lease_owner": None, "lease_expires_at": None}
    if error is None:
        values.update(status=DeliveryStatus.DELIVERED.value, delivered_at=now, last_error=None)
    elif attempts > len(delays):
        values.update(status=DeliveryStatus.FAILED.value, last_error=error)
    else:
        delay = delays[attempts - 1] * random.uniform(0.9, 1.1)  # jitter: retries of many receivers spread out
        values.update(last_error=error, next_attempt_at=now + dt.timedelta(seconds=delay))
    conn.execute(sa.update(webhook_delivery_t).where(w.id == delivery_id), values)
    return DeliveryStatus(values.get("status", DeliveryStatus.PENDING.value)), attempts


def release_lease(conn: sa.Connection, *, delivery_id: str, owner: str) -> bool:
    """Give a delivery back unattempted when stopping mid-attempt: the next claim, by this
    server restarted or another, sends it at once rather than when the lease would have run
    out. The attempt is not counted; the receiver may have had it, and the resend carries the
    same `webhook-id` (at-least-once, as Standard Webhooks expects)."""
    changed = conn.execute(
        sa.update(webhook_delivery_t)
        .where(w.id == delivery_id, w.lease_owner == owner, w.status == DeliveryStatus.PENDING.value)
        .values(lease_owner=None, lease_expires_at=None)
    )
    return changed.rowcount == 1


def delivery_of_batch(conn: sa.Connection, *, workspace_id: int, batch_id: str) -> DeliveryRow | None:
    row = conn.execute(
        sa.select(webhook_delivery_t).where(w.workspace_id == workspace_id, w.batch_id == batch_id).order_by(w.created_at).limit(1)
    ).first()
    return None if row is None else DeliveryRow.from_row(row)


def next_due(conn: sa.Connection) -> dt.datetime | None:
    """When the earliest pending delivery is due (for the sender's sleep)."""
    return conn.scalar(sa.select(sa.func.min(w.next_attempt_at)).where(w.status == DeliveryStatus.PENDING.value))
