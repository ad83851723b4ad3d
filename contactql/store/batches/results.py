"""A batch's item results, read: page by page in input order, and the failed ones grouped by
reason (`Batch.results`, `Batch.failures`, the import command's summary). queue.py writes them."""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
import sqlalchemy as sa

from contactql.store.db.tables import batch_result_t, batch_t
from contactql.store.errors import ErrorCode
from contactql.store.model import ItemResult, Outcome

b = batch_t.c
r = batch_result_t.c
r_index = batch_result_t.c["index"]  # not `.c.index`: that is a method of the column collection


def page_results(
    conn: sa.Connection,
    *,
    workspace_id: int,
    batch_id: str,
    limit: int,
    after_index: int | None,
    outcome: Outcome | None,
    failed_only: bool,
) -> tuple[list[ItemResult], int]:
    """Item results in input order; filtered by outcome or to the failed ones; and how many match."""
    owned = sa.exists().where(b.id == r.batch_id, b.workspace_id == workspace_id)
    where = [r.batch_id == batch_id, owned]
    if failed_only:
        where.append(r.outcome.is_(None))
    if outcome is not None:
        where.append(r.outcome == outcome.value)
    query = sa.select(r.result).where(*where)
    if after_index is not None:
        query = query.where(r_index > after_index)
    rows = conn.execute(query.order_by(r_index).limit(limit))
    total = conn.scalar(sa.select(sa.func.count()).select_from(batch_result_t).where(*where))
    return [ItemResult.from_json(orjson.loads(row[0])) for row in rows], int(total or 0)


@dataclasses.dataclass(frozen=True, slots=True)
class FailureGroup:
    """Failed items that share a reason: a code on a field (the item's own path, no index)."""

    code: ErrorCode
    field: tuple[str, ...]
    count: int
    example_ref: str | None
    example_message: str


def failure_groups(conn: sa.Connection, *, workspace_id: int, batch_id: str, outcome: Outcome | None = None) -> list[FailureGroup]:
    """The batch's failed items grouped by reason, most frequent first; an item with several
    problems counts once under each. `outcome` SKIPPED: the items skipped for a reason (an
    erased identity, a deleted contact) instead; one skipped as its match options ask has none."""
    owned = sa.exists().where(b.id == r.batch_id, b.workspace_id == workspace_id)
    which = r.outcome.is_(None) if outcome is None else r.outcome == outcome.value
    counts: dict[tuple[str, tuple[str, ...]], list[Any]] = {}
    for (raw,) in conn.execute(sa.select(r.result).where(r.batch_id == batch_id, owned, which).order_by(r_index)):
        result = orjson.loads(raw)
        for problem in {(p["code"], tuple(p["path"])): p for p in result["errors"]}.values():
            group = counts.setdefault((problem["code"], tuple(problem["path"])), [0, result.get("client_ref"), problem["message"]])
            group[0] += 1
    groups = [FailureGroup(ErrorCode(code), path, n, ref, message) for (code, path), (n, ref, message) in counts.items()]
    return sorted(groups, key=lambda g: (-g.count, g.code, g.field))
