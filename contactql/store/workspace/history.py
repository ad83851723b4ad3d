"""A contact's history: one entry per write — time, source, API key name, batch id, and every
changed field with its old and new value (email and SMS status included: a consent ledger).

The upsert engine writes entries with its other effects (upsert/effects.py); deleting a
contact, changing list members and confirming a token write theirs here too.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import sqlalchemy as sa

from contactql.store.db.bulk import insert
from contactql.store.db.columns import not_an_index_key
from contactql.store.db.tables import history_t
from contactql.store.model import Source

h = history_t.c


@dataclasses.dataclass(slots=True)
class PendingHistory:
    cid: int
    changes: list[tuple[str, Any, Any]]
    source: Source
    actor: str | None
    batch_id: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class HistoryRow:
    id: int
    source: str
    actor: str | None
    batch_id: str | None
    changes: list[dict[str, Any]]
    created_at: dt.datetime


def changes_json(changes: Sequence[tuple[str, Any, Any]]) -> str:
    """A history entry's changes as the JSON text the column stores (datetimes in ISO 8601)."""
    return orjson.dumps([{"field": f, "old": old, "new": new} for f, old, new in changes]).decode()


def history_rows(entries: Sequence[PendingHistory], workspace_id: int, rid: Callable[[int], int], now: dt.datetime) -> list[dict[str, Any]]:
    return [
        {
            "contact_id": rid(entry.cid), "workspace_id": workspace_id, "source": entry.source.value, "actor": entry.actor,
            "batch_id": entry.batch_id, "created_at": now, "changes": changes_json(entry.changes),
        }
        for entry in entries
    ]  # fmt: skip


# `changes` arrives serialised (orjson, one call per entry), not walked again by the JSON type.
_INSERT_HISTORY = insert(history_t, ("contact_id", "workspace_id", "source", "actor", "batch_id", "changes", "created_at"), serialised=("changes",))


def write_history(
    conn: sa.Connection, entries: Sequence[PendingHistory], *, workspace_id: int, now: dt.datetime, rid: Callable[[int], int] = int
) -> None:
    """History entries of contacts that already have their real ids (unless `rid` maps them)."""
    _INSERT_HISTORY.execute(conn, history_rows(entries, workspace_id, rid, now))


def page_history(
    conn: sa.Connection, *, workspace_id: int, contact_id: int, limit: int, after_id: int | None
) -> tuple[list[HistoryRow], int]:
    """A contact's writes, oldest first."""
    # +workspace_id: a contact's entries come from ix_history_contact, never from the whole
    # workspace's history in ix_history_workspace (columns.not_an_index_key says why).
    where = [not_an_index_key(h.workspace_id) == workspace_id, h.contact_id == contact_id]
    query = sa.select(h.id, h.source, h.actor, h.batch_id, h.changes, h.created_at).where(*where)
    if after_id is not None:
        query = query.where(h.id > after_id)
    rows = conn.execute(query.order_by(h.id).limit(limit))
    total = conn.scalar(sa.select(sa.func.count()).select_from(history_t).where(*where))
    return [HistoryRow(*row) for row in rows], int(total or 0)
