"""Automatic persisted queries in the database, so every server process finds a document one of
them learned (contactql/persisted.py keeps each process's recently used ones in memory).

Rows are per workspace and never updated: a hash names one document. Housekeeping keeps the
newest `MAX_DOCUMENTS` of each workspace and, of those, no more than `MAX_BYTES` of text;
a document that went is sent again by its client after one `PersistedQueryNotFound`.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from contactql.store.db.dialect import insert_ignoring_duplicates
from contactql.store.db.tables import persisted_query_t

MAX_DOCUMENTS = 10_000  # per workspace
MAX_BYTES = 64 * 1024 * 1024  # of documents, per workspace
q = persisted_query_t.c


def find(conn: sa.Connection, *, workspace_id: int, sha256: str) -> str | None:
    return conn.execute(sa.select(q.document).where(q.workspace_id == workspace_id, q.sha256 == sha256)).scalar_one_or_none()


def store(conn: sa.Connection, *, workspace_id: int, sha256: str, document: str, now: dt.datetime) -> None:
    """Keep `document` under its hash; a hash stored already (by any process) stays as it is."""
    statement = insert_ignoring_duplicates(conn.dialect.name, persisted_query_t)
    conn.execute(statement, {"workspace_id": workspace_id, "sha256": sha256, "document": document, "stored_at": now})


def prune(conn: sa.Connection) -> int:
    """Delete, per workspace, what is past the newest MAX_DOCUMENTS or past MAX_BYTES of text
    counted from the newest; how many rows went."""
    newest_first = (q.stored_at.desc(), q.sha256)
    ranked = sa.select(
        q.workspace_id,
        q.sha256,
        sa.func.row_number().over(partition_by=q.workspace_id, order_by=newest_first).label("rank"),
        sa.func.sum(sa.func.length(q.document)).over(partition_by=q.workspace_id, order_by=newest_first).label("bytes"),
    ).subquery()
    beyond = sa.select(ranked.c.workspace_id, ranked.c.sha256).where(sa.or_(ranked.c.rank > MAX_DOCUMENTS, ranked.c.bytes > MAX_BYTES))
    return conn.execute(sa.delete(persisted_query_t).where(sa.tuple_(q.workspace_id, q.sha256).in_(beyond))).rowcount
