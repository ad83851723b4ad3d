"""A batch's items, stored in parts, and batches received in parts (streamed imports).

A batch's validated items are stored as parts of at most PART items, each one row keyed by the
index of its first item: accept_batch (queue.py) writes them all in its transaction, and the
worker reads only the parts of the chunk it applies, so its memory does not grow with the batch.

A streamed import (an NDJSON file, workers/ndjson.py) cannot hold its file's items to write
them in one transaction; it stores them as it reads:

    open_batch     the batch, RECEIVING, leased to the reader, with the first part
    append         the next part, in its own transaction; renews the reader's lease
    renew          the reader's lease, while it checks a slow part
    queue_batch    the whole file is in: the list it names made (on first use), and QUEUED,
                   for the worker to claim like any batch
    abandon        the file was refused midway (not UTF-8, too large) or the reader stopped:
                   the batch and its parts go, nothing of it having been applied

A batch is applied only once QUEUED, so a file is applied whole or not at all. A reader that
dies leaves its batch RECEIVING until its lease runs out; the next claim (queue.py) then fails
it, saying how many items it had received, none of them applied.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import orjson
import sqlalchemy as sa

from contactql.store.db.tables import batch_part_t, batch_t
from contactql.store.errors import Invalid
from contactql.store.model import BatchStatus
from contactql.store.workspace import lists

PART = 1000  # items a part: ~0.3 MB of JSON for typical contacts
b = batch_t.c
p = batch_part_t.c


def store(conn: sa.Connection, *, batch_id: str, first: int, entries: Sequence[dict[str, Any]]) -> int:
    """Items `first`… of the batch, in parts of at most PART; returns the index after the last."""
    rows = [
        {"batch_id": batch_id, "first": first + at, "stop": first + at + len(piece), "items": orjson.dumps(piece).decode()}
        for at in range(0, len(entries), PART)
        if (piece := list(entries[at : at + PART]))
    ]
    if rows:
        conn.execute(sa.insert(batch_part_t), rows)
    return first + len(entries)


def load(conn: sa.Connection, *, batch_id: str, start: int, stop: int) -> tuple[int, list[dict[str, Any]]]:
    """The parts holding items [start, stop): the index of their first item, and their items
    (which may begin before `start` and go on after `stop`: the caller keeps them for the next chunk)."""
    rows = conn.execute(sa.select(p.first, p["items"]).where(p.batch_id == batch_id, p.first < stop, p.stop > start).order_by(p.first)).all()
    if not rows:
        return start, []
    items: list[dict[str, Any]] = []
    for _, part in rows:
        items.extend(orjson.loads(part))
    return rows[0][0], items


def open_batch(conn: sa.Connection, *, values: dict[str, Any], entries: Sequence[dict[str, Any]], owner: str, lease_seconds: float) -> None:
    """A batch RECEIVING (its row's `values` as queue.py makes them), leased to `owner`, with its first items."""
    now = dt.datetime.now(dt.UTC)
    conn.execute(
        sa.insert(batch_t),
        {**values, "status": BatchStatus.RECEIVING.value, "total": len(entries), "lease_owner": owner, "lease_expires_at": now + dt.timedelta(seconds=lease_seconds)},
    )
    store(conn, batch_id=values["id"], first=0, entries=entries)


def append(conn: sa.Connection, *, batch_id: str, owner: str, entries: Sequence[dict[str, Any]], lease_seconds: float) -> int:
    """The next items of a RECEIVING batch `owner` holds; returns how many it has now."""
    total = _receiving(conn, batch_id, owner)
    total = store(conn, batch_id=batch_id, first=total, entries=entries)
    now = dt.datetime.now(dt.UTC)
    conn.execute(sa.update(batch_t).where(b.id == batch_id).values(total=total, lease_expires_at=now + dt.timedelta(seconds=lease_seconds)))
    return total


def renew(conn: sa.Connection, *, batch_id: str, owner: str, lease_seconds: float) -> bool:
    """The reader still reads: its lease, renewed while it checks a part (False: it is lost)."""
    until = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=lease_seconds)
    held = sa.and_(b.id == batch_id, b.lease_owner == owner, b.status == BatchStatus.RECEIVING.value)
    return conn.execute(sa.update(batch_t).where(held).values(lease_expires_at=until)).rowcount == 1


def queue_batch(conn: sa.Connection, *, batch_id: str, owner: str, list_name: str | None) -> None:
    """Every item is in: the batch is QUEUED for the worker, into the list named `list_name`
    (made now, on first use: a file refused or a reader stopped before leaves no list)."""
    _receiving(conn, batch_id, owner)
    values: dict[str, Any] = {"status": BatchStatus.QUEUED.value, "lease_owner": None, "lease_expires_at": None}
    if list_name is not None:
        workspace_id, options = conn.execute(sa.select(b.workspace_id, b.options).where(b.id == batch_id)).one()
        values["options"] = {**options, "list_id": lists.ensure_list(conn, workspace_id=workspace_id, name=list_name).id}
    conn.execute(sa.update(batch_t).where(b.id == batch_id).values(**values))


def abandon(conn: sa.Connection, *, owner: str) -> None:
    """The file was refused or its reader stopped: the RECEIVING batch of this reader goes,
    parts and all. By its reader, not its id: a reader stopped while the batch was being made
    never learnt the id of the batch that was made."""
    conn.execute(sa.delete(batch_t).where(b.status == BatchStatus.RECEIVING.value, b.lease_owner == owner))


def _receiving(conn: sa.Connection, batch_id: str, owner: str) -> int:
    query = sa.select(b.total, b.status, b.lease_owner).where(b.id == batch_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None or row.status != BatchStatus.RECEIVING.value or row.lease_owner != owner:
        # Its lease ran out (a reader stalled longer than CONTACTQL_LEASE_SECONDS) and a claim failed it.
        raise Invalid.at(("file",), "the import took too long between parts of the file and was stopped; nothing of it was applied: try again")
    return int(row.total)


def stalled(now: dt.datetime) -> sa.ColumnElement[bool]:
    """RECEIVING batches whose reader's lease ran out: the claim (queue.py) fails them."""
    return sa.and_(b.status == BatchStatus.RECEIVING.value, b.lease_expires_at < now)
