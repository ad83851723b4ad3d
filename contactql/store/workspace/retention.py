"""Retention (issue 22): what housekeeping (workers/housekeeping.py) erases once it is old.

- Contacts deleted more than CONTACTQL_RETENTION_DAYS ago (when set): the contact row, and with
  it (foreign keys, ON DELETE CASCADE) its property values, memberships, companies, URLs,
  history, tokens and consent evidence; its events too (they keep the contact's id without a
  key). Until then a deleted contact can be restored (`restoreDeleted`).
- Webhook deliveries delivered more than DELIVERED_KEPT ago: the outbox keeps each payload
  only until the receiver has it, and a week for `Batch.webhook` to show.
- The items of batches finished more than PAYLOAD_KEPT ago: a batch's payload (every contact
  it was sent, as sent) serves only to apply it; its counts and per-item results stay.

Each call erases at most `limit` rows in its own short transaction, oldest first, found through
an index that holds only deleted contacts (ix_contact_deleted) or that leads with the delivery
status (ix_webhook_due): the caller loops, and single upserts get the writer between slices.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from contactql.store.db.tables import batch_part_t, batch_t, contact_t, event_t, webhook_delivery_t
from contactql.store.model import BatchStatus, DeliveryStatus

SLICE = 200
DELIVERED_KEPT = dt.timedelta(days=7)
PAYLOAD_KEPT = dt.timedelta(days=1)


def purge_deleted(conn: sa.Connection, *, now: dt.datetime, days: int, limit: int = SLICE) -> int:
    """Erase up to `limit` contacts deleted more than `days` ago; how many went."""
    c = contact_t.c
    found = conn.execute(
        sa.select(c.id, c.workspace_id).where(c.deleted_at.is_not(None), c.deleted_at <= now - dt.timedelta(days=days)).order_by(c.deleted_at).limit(limit)
    ).all()
    if not found:
        return 0
    ids = [cid for cid, _ in found]
    e = event_t.c
    for workspace_id in {ws for _, ws in found}:  # ix_event_contact leads with the workspace
        conn.execute(sa.delete(event_t).where(e.workspace_id == workspace_id, e.contact_id.in_([cid for cid, ws in found if ws == workspace_id])))
    conn.execute(sa.delete(contact_t).where(c.id.in_(ids)))
    return len(ids)


def purge_delivered(conn: sa.Connection, *, now: dt.datetime, limit: int = SLICE) -> int:
    """Erase up to `limit` webhook deliveries delivered more than DELIVERED_KEPT ago."""
    w = webhook_delivery_t.c
    cutoff = now - DELIVERED_KEPT
    old = (
        sa.select(w.id)
        .where(w.status == DeliveryStatus.DELIVERED.value, w.next_attempt_at <= cutoff, w.delivered_at <= cutoff)
        .order_by(w.next_attempt_at)
        .limit(limit)
    )
    ids = list(conn.scalars(old))
    if ids:
        conn.execute(sa.delete(webhook_delivery_t).where(w.id.in_(ids)))
    return len(ids)


def purge_payloads(conn: sa.Connection, *, now: dt.datetime, limit: int = SLICE) -> int:
    """Erase the items of up to `limit` batches finished more than PAYLOAD_KEPT ago (read from
    the payload table, which holds only recent batches once this runs)."""
    p, b = batch_part_t.c, batch_t.c
    done = (BatchStatus.COMPLETED.value, BatchStatus.FAILED.value)
    ids = list(conn.scalars(sa.select(p.batch_id).distinct().join(batch_t, b.id == p.batch_id).where(b.status.in_(done), b.finished_at <= now - PAYLOAD_KEPT).limit(limit)))
    if ids:
        conn.execute(sa.delete(batch_part_t).where(p.batch_id.in_(ids)))
    return len(ids)
