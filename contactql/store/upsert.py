"""The set-based upsert: one chunk of items, a handful of statements, one result per item.

    load_chunk   → a few SELECTs for every key the items name          (chunk.py)
    decide       → per item, in order, in memory: match, plan, check   (decide.py)
    flush        → a few executemany INSERT/UPDATE/DELETE               (flush.py)

`upsert_chunk` runs inside the caller's transaction; the single-contact mutation, the batch
worker and the CSV importer all call it (a single upsert is a chunk of one, or of several
concurrent requests gathered by `writer.py`). With `write=False` it decides without writing:
that is `dryRun`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa


from contactql.store.catalog import Catalog
from contactql.store.chunk import Work, load_chunk
from contactql.store.decide import decide
from contactql.store.flush import flush
from contactql.store.model import ItemResult

__all__ = ["Work", "upsert_chunk", "upsert_runs"]


def upsert_chunk(
    conn: sa.Connection, *, workspace_id: int, work: Sequence[Work], catalog: Catalog, write: bool = True
) -> list[ItemResult]:
    now = dt.datetime.now(dt.UTC)
    state = load_chunk(conn, workspace_id=workspace_id, work=work, catalog=catalog)
    results = [decide(state, w, now) for w in work]
    if write:
        flush(conn, state, results)
    return results


def upsert_runs(conn: sa.Connection, runs: Sequence[tuple[int, Sequence[Work]]], catalog: Catalog) -> list[list[ItemResult]]:
    """Several chunks, one per (workspace, items) run, in one transaction (group commit)."""
    return [upsert_chunk(conn, workspace_id=workspace_id, work=work, catalog=catalog) for workspace_id, work in runs]
