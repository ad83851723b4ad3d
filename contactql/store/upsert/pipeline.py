"""The set-based upsert: one chunk of items, a handful of statements, one result per item.

    load_chunk   → a few SELECTs for every key the items name          (chunk.py)
    decide       → per item, in order, in memory: match, plan, check   (decide.py)
    flush        → a few set-based INSERT/UPDATE/DELETE (bulk.py)     (flush.py)

`upsert_chunk` runs inside the caller's transaction; the single-contact mutation, the batch
worker and the CSV importer all call it (a single upsert is a chunk of one, or of several
concurrent requests gathered by `writer.py`). `decide_chunk` decides without writing: that is
`dryRun` (entry.py).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa

from contactql.store.errors import Conflict
from contactql.store.model import ItemResult
from contactql.store.upsert import idempotency
from contactql.store.upsert.cache import Catalog
from contactql.store.upsert.chunk import ChunkState, Work, load_chunk
from contactql.store.upsert.decide import decide
from contactql.store.upsert.flush import flush

__all__ = ["Request", "apply_requests", "decide_chunk", "upsert_chunk"]


def upsert_chunk(conn: sa.Connection, *, workspace_id: int, work: Sequence[Work], catalog: Catalog) -> list[ItemResult]:
    now = dt.datetime.now(dt.UTC)
    state, results = decide_chunk(conn, workspace_id=workspace_id, work=work, catalog=catalog, now=now)
    flush(conn, state, results, now)
    return results


def decide_chunk(
    conn: sa.Connection, *, workspace_id: int, work: Sequence[Work], catalog: Catalog, now: dt.datetime
) -> tuple[ChunkState, list[ItemResult]]:
    """Load and decide without writing: the chunk's final state in memory, and its results (a
    dry run stops here)."""
    state = load_chunk(conn, workspace_id=workspace_id, work=work, catalog=catalog, now=now)
    return state, [decide(state, w, now) for w in work]


@dataclasses.dataclass(frozen=True, slots=True)
class Request:
    """One caller's items; with an idempotency key, (key, hash of the request)."""

    workspace_id: int
    work: Sequence[Work]
    idempotency_key: tuple[str, str] | None = None


def apply_requests(conn: sa.Connection, requests: Sequence[Request], catalog: Catalog) -> list[list[ItemResult]]:
    """Several callers' requests in one transaction (group commit), answers in order.

    Consecutive requests of one workspace without a key share one chunk. A request with a key
    runs alone: answered from its record when the key was seen, else applied and recorded —
    so a key repeated within the group is applied once too."""
    answers: list[list[ItemResult]] = []
    index = 0
    while index < len(requests):
        request = requests[index]
        if request.idempotency_key is not None:
            answers.append(_keyed(conn, request, catalog))
            index += 1
            continue
        run = [request]
        while index + len(run) < len(requests):
            following = requests[index + len(run)]
            if following.idempotency_key is not None or following.workspace_id != request.workspace_id:
                break
            run.append(following)
        results = upsert_chunk(conn, workspace_id=request.workspace_id, work=[w for r in run for w in r.work], catalog=catalog)
        for r in run:
            answers.append(results[: len(r.work)])
            results = results[len(r.work) :]
        index += len(run)
    return answers


def _keyed(conn: sa.Connection, request: Request, catalog: Catalog) -> list[ItemResult]:
    key, digest = request.idempotency_key  # type: ignore[misc]
    now = dt.datetime.now(dt.UTC)
    try:
        earlier = idempotency.replay(conn, workspace_id=request.workspace_id, key=key, request_hash=digest, now=now)
    except Conflict as reused:
        return [ItemResult(index=w.item.index, client_ref=w.item.client_ref, errors=list(reused.problems)) for w in request.work]
    if earlier is not None:
        return [ItemResult.from_json(r) for r in earlier["results"]]
    results = upsert_chunk(conn, workspace_id=request.workspace_id, work=request.work, catalog=catalog)
    idempotency.remember(conn, workspace_id=request.workspace_id, key=key, request_hash=digest, response={"results": [r.to_json() for r in results]}, now=now)
    return results
