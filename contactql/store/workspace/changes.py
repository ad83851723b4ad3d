"""`contactsChanged`: which contacts changed since a point, read from their history.

Every write path records a history entry per contact it changes (single upserts, batches,
imports, deletions, list changes, confirmations: history.py), in the writing transaction, so
the history is the change feed — on SQLite and PostgreSQL, from any process.

On PostgreSQL, transactions that commit out of the order of their ids can make an entry with a
smaller id appear after one with a larger id. A reader therefore keeps a low-water mark below
which every entry is older than `SETTLE` and known, remembers the ids it has read above it, and
reads that window again when it holds more entries than were read: nothing is missed and
nothing is told twice (`Feed`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from contactql.store.db.tables import contact_t, history_t
from contactql.store.workspace.contacts import contacts_by_ids
from contactql.store.workspace.filters import ContactQuery, where_terms

h = history_t.c
c = contact_t.c
SETTLE = dt.timedelta(seconds=10)  # longer than any write transaction takes to commit
PAGE = 500


def latest(conn: sa.Connection, *, workspace_id: int) -> int:
    """The id of the workspace's newest history entry (0: none): a feed starts after it."""
    return int(conn.scalar(sa.select(sa.func.max(h.id)).where(h.workspace_id == workspace_id)) or 0)


@dataclasses.dataclass(slots=True)
class Feed:
    """Where a reader of one workspace's changes is: every entry up to `low` is known, and
    `seen` holds the ids (and times) of the entries read above it, up to `high`."""

    low: int
    high: int = 0
    seen: dict[int, dt.datetime] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        self.high = max(self.high, self.low)

    def read(self, conn: sa.Connection, *, workspace_id: int, now: dt.datetime, most: int = 20 * PAGE) -> list[tuple[int, dt.datetime]]:
        """(contact id, when) of the entries not read yet, each contact once (at its last entry), oldest first."""
        entries: list[tuple[int, int, dt.datetime]] = []
        while len(entries) < most and (page := entries_after(conn, workspace_id=workspace_id, after=self.high)):
            entries += page
            self.high = page[-1][0]
        # An entry committed late (PostgreSQL: a smaller id than one already read) shows as a
        # count in (low, high] higher than what was read there: then read that window again.
        known = sum(1 for i in self.seen if i <= self.high) + len(entries)
        if count_between(conn, workspace_id=workspace_id, low=self.low, high=self.high) != known:
            entries = [e for e in entries_between(conn, workspace_id=workspace_id, low=self.low, high=self.high) if e[0] not in self.seen]
        fresh: dict[int, dt.datetime] = {}
        for entry_id, contact_id, at in sorted(entries):
            self.seen[entry_id] = at
            fresh.pop(contact_id, None)
            fresh[contact_id] = at
        for entry_id in sorted(self.seen):  # the low-water mark moves past what has settled
            if self.seen[entry_id] > now - SETTLE:
                break
            self.low = entry_id
            del self.seen[entry_id]
        return list(fresh.items())


def entries_after(conn: sa.Connection, *, workspace_id: int, after: int, limit: int = PAGE) -> list[tuple[int, int, dt.datetime]]:
    """(entry id, contact id, when) of the workspace's history entries after `after`, oldest first."""
    statement = sa.select(h.id, h.contact_id, h.created_at).where(h.workspace_id == workspace_id, h.id > after).order_by(h.id).limit(limit)
    return [(int(i), int(cid), at if at.tzinfo else at.replace(tzinfo=dt.UTC)) for i, cid, at in conn.execute(statement)]


def entries_between(conn: sa.Connection, *, workspace_id: int, low: int, high: int) -> list[tuple[int, int, dt.datetime]]:
    statement = sa.select(h.id, h.contact_id, h.created_at).where(h.workspace_id == workspace_id, h.id > low, h.id <= high).order_by(h.id)
    return [(int(i), int(cid), at if at.tzinfo else at.replace(tzinfo=dt.UTC)) for i, cid, at in conn.execute(statement)]


def count_between(conn: sa.Connection, *, workspace_id: int, low: int, high: int) -> int:
    return int(conn.scalar(sa.select(sa.func.count()).where(h.workspace_id == workspace_id, h.id > low, h.id <= high)) or 0)


def changed(conn: sa.Connection, *, workspace_id: int, contact_ids: Sequence[int], query: ContactQuery) -> list[tuple[dict[str, Any], bool]]:
    """Each contact (deleted ones too) and whether it matches `query` now — as `contacts(filter:)`
    would return it: a deleted contact only with includeDeleted — in the given order."""
    rows = contacts_by_ids(conn, workspace_id=workspace_id, ids=contact_ids)
    matching = set(conn.scalars(sa.select(c.id).where(*where_terms(conn, workspace_id, query), c.id.in_(contact_ids))))
    return [(rows[cid], cid in matching) for cid in contact_ids if cid in rows]
