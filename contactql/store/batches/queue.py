"""Batches: accepted whole, applied chunk by chunk, each chunk exactly once.

    accept_batch        one transaction: the batch row, its validated items, the idempotency key
    claim_next_batch    the oldest queued batch (or one whose owner's lease expired), leased
    apply_batch_chunk   one transaction: the chunk's contact writes, its item results, the
                        batch's counters and lease — and, for the last chunk, COMPLETED plus the
                        webhook's outbox row

A chunk is applied only while the caller holds the lease and the batch's `processed` equals
the chunk's first index, checked inside the chunk's own write transaction (the batch row is
locked FOR UPDATE on PostgreSQL; SQLite has one writer). So a process killed mid-chunk
leaves nothing of that chunk, and a process that lost its lease cannot apply a chunk twice.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
import sqlalchemy as sa

from contactql.store.batches import outbox as webhooks
from contactql.store.batches import parts
from contactql.store.db.bulk import insert
from contactql.store.db.tables import batch_result_t, batch_t
from contactql.store.errors import ErrorCode, NotFound, Problem
from contactql.store.model import UNFINISHED_BATCH, BatchStatus, ContactItem, ItemResult, Outcome, Source, UpsertOptions
from contactql.store.upsert import idempotency
from contactql.store.upsert.cache import Catalog
from contactql.store.upsert.chunk import Work
from contactql.store.upsert.pipeline import upsert_chunk
from contactql.store.upsert.validate import validate_contact
from contactql.store.workspace import lists, properties

b = batch_t.c
r = batch_result_t.c
r_index = batch_result_t.c["index"]  # not `.c.index`: that is a method of the column collection
COUNTERS = ("created", "updated", "unchanged", "skipped", "failed")
_INSERT_RESULTS = insert(batch_result_t)
_OUTCOME_COUNTER = {Outcome.CREATED: "created", Outcome.UPDATED: "updated", Outcome.UNCHANGED: "unchanged", Outcome.SKIPPED: "skipped"}


class LeaseLost(Exception):
    """Another process holds this batch now; stop working on it."""


@dataclasses.dataclass(frozen=True, slots=True)
class BatchRow:
    id: str
    workspace_id: int
    status: BatchStatus
    source: Source
    total: int
    processed: int
    created: int
    updated: int
    unchanged: int
    skipped: int
    failed: int
    webhook_url: str | None
    error: str | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    options: dict[str, Any]

    @classmethod
    def from_row(cls, row: Any) -> BatchRow:
        m = row._mapping
        return cls(
            id=m["id"], workspace_id=m["workspace_id"], status=BatchStatus(m["status"]), source=Source(m["source"]),
            total=m["total"], processed=m["processed"], created=m["created"], updated=m["updated"],
            unchanged=m["unchanged"], skipped=m["skipped"], failed=m["failed"], webhook_url=m["webhook_url"],
            error=m["error"], created_at=m["created_at"], started_at=m["started_at"], finished_at=m["finished_at"],
            options=m["options"],
        )  # fmt: skip

    @property
    def finished(self) -> bool:
        return self.status in (BatchStatus.COMPLETED, BatchStatus.FAILED)


def entry(item: ContactItem, problems: Sequence[Problem]) -> dict[str, Any]:
    """A stored batch item: the validated item, or the problems that already failed it (with
    its custom property values, checked against the workspace's fields when its turn comes)."""
    if problems:
        failed = {"index": item.index, "client_ref": item.client_ref, "problems": [p.to_json() for p in problems]}
        if item.properties:
            failed["properties"] = item.to_json()["properties"]
        return failed
    return {"index": item.index, "item": item.to_json()}


def validate_entries(contacts: Sequence[Mapping[str, Any]], default_country: str | None = None) -> list[dict[str, Any]]:
    """Every item validated once, before the batch is stored; the worker applies what is stored."""
    return [entry(*validate_contact(raw, index, default_country)) for index, raw in enumerate(contacts)]


def accept_batch(
    conn: sa.Connection,
    *,
    workspace_id: int,
    entries: Sequence[dict[str, Any]],
    options: UpsertOptions,
    webhook_url: str | None,
    idempotency_key: tuple[str, str] | None = None,
    reader: tuple[str, float] | None = None,
) -> tuple[BatchRow, bool]:
    """Store a batch QUEUED; returns it and whether an earlier call with the same key made it.
    With `reader` (owner, lease seconds), a streamed import's first items: the batch is
    RECEIVING, leased to the reader, who appends the rest (parts.py)."""
    now = dt.datetime.now(dt.UTC)
    if idempotency_key is not None:
        earlier = idempotency.replay(conn, workspace_id=workspace_id, key=idempotency_key[0], request_hash=idempotency_key[1], now=now)
        if earlier is not None:
            found = get_batch(conn, workspace_id=workspace_id, batch_id=earlier["batch_id"])
            assert found is not None
            return found, True
    if options.list_id is not None and lists.lock_list(conn, workspace_id=workspace_id, list_id=options.list_id) is None:
        # Checked again here, in the transaction that stores the batch: a deleteList between the
        # request's first check and now would leave a batch whose every item fails.
        raise NotFound.at(("listId",), f"no list with id {options.list_id}", ErrorCode.LIST_NOT_FOUND)
    batch_id = str(uuid.uuid4())
    options = dataclasses.replace(options, batch_id=batch_id)
    values = {
        "id": batch_id, "workspace_id": workspace_id, "status": BatchStatus.QUEUED.value, "source": options.source.value,
        "total": len(entries), "options": options.to_json(), "webhook_url": webhook_url, "created_at": now,
        **dict.fromkeys(("processed", *COUNTERS), 0),
    }  # fmt: skip
    if reader is None:
        conn.execute(sa.insert(batch_t), values)
        parts.store(conn, batch_id=batch_id, first=0, entries=entries)
    else:
        parts.open_batch(conn, values=values, entries=entries, owner=reader[0], lease_seconds=reader[1])
    if idempotency_key is not None:
        idempotency.remember(conn, workspace_id=workspace_id, key=idempotency_key[0], request_hash=idempotency_key[1], response={"batch_id": batch_id}, now=now)
    found = get_batch(conn, workspace_id=workspace_id, batch_id=batch_id)
    assert found is not None
    return found, False


def accept_import(
    conn: sa.Connection,
    *,
    workspace_id: int,
    entries: Sequence[dict[str, Any]],
    options: UpsertOptions,
    list_name: str | None,
    webhook_url: str | None,
    reader: tuple[str, float] | None = None,
) -> BatchRow:
    """An import: a batch, into the named list (created on first use) when one is given;
    `reader`: a streamed import's first items (see accept_batch), whose list is made when the
    whole file is in (parts.queue_batch)."""
    if list_name is not None and reader is None:
        options = dataclasses.replace(options, list_id=lists.ensure_list(conn, workspace_id=workspace_id, name=list_name).id)
    return accept_batch(conn, workspace_id=workspace_id, entries=entries, options=options, webhook_url=webhook_url, reader=reader)[0]


def get_batch(conn: sa.Connection, *, workspace_id: int, batch_id: str) -> BatchRow | None:
    row = conn.execute(sa.select(batch_t).where(b.workspace_id == workspace_id, b.id == batch_id)).first()
    return None if row is None else BatchRow.from_row(row)


def page_batches(
    conn: sa.Connection, *, workspace_id: int, status: BatchStatus | None, limit: int, after: tuple[dt.datetime, str] | None
) -> list[BatchRow]:
    """Batches newest first, keyset-paginated on (created_at, id)."""
    query = sa.select(batch_t).where(*_batch_where(workspace_id, status))
    if after is not None:
        query = query.where(sa.tuple_(b.created_at, b.id) < sa.tuple_(*after))
    rows = conn.execute(query.order_by(b.created_at.desc(), b.id.desc()).limit(limit))
    return [BatchRow.from_row(row) for row in rows]


def count_batches(conn: sa.Connection, *, workspace_id: int, status: BatchStatus | None) -> int:
    return int(conn.scalar(sa.select(sa.func.count()).select_from(batch_t).where(*_batch_where(workspace_id, status))) or 0)


def _batch_where(workspace_id: int, status: BatchStatus | None) -> list[sa.ColumnElement[bool]]:
    return [b.workspace_id == workspace_id] + ([b.status == status.value] if status else [])


def any_queued(conn: sa.Connection) -> bool:
    """Whether a batch waits to be claimed (answered from the queue's index)."""
    return conn.execute(sa.select(b.id).where(b.status == BatchStatus.QUEUED.value).limit(1)).first() is not None


def claim_next_batch(conn: sa.Connection, *, owner: str, lease_seconds: float, now: dt.datetime | None = None) -> BatchRow | None:
    """Lease the oldest batch that is queued, or in progress under an expired lease (failing,
    first, streamed imports whose reader stopped: parts.py). `now`: the clock, for tests."""
    now = now or dt.datetime.now(dt.UTC)
    for stalled in conn.execute(sa.select(batch_t).where(parts.stalled(now))).all():
        error = f"the import stopped after {stalled.total} items were received, before the whole file was; nothing of it was applied"
        fail_batch(conn, batch_id=stalled.id, owner=stalled.lease_owner, error=error, status=BatchStatus.RECEIVING)
    claimable = sa.and_(
        b.status.in_((BatchStatus.QUEUED.value, BatchStatus.PROCESSING.value)),
        sa.or_(b.lease_expires_at.is_(None), b.lease_expires_at < now),
    )
    candidate = sa.select(b.id).where(claimable).order_by(b.created_at, b.id).limit(1)
    if conn.dialect.name == "postgresql":
        candidate = candidate.with_for_update(skip_locked=True)
    batch_id = conn.scalar(candidate)
    if batch_id is None:
        return None
    claimed = conn.execute(
        sa.update(batch_t)
        .where(b.id == batch_id, claimable)
        .values(
            status=BatchStatus.PROCESSING.value,
            lease_owner=owner,
            lease_expires_at=now + dt.timedelta(seconds=lease_seconds),
            started_at=sa.func.coalesce(b.started_at, now),
        )
    )
    if claimed.rowcount != 1:
        return None
    row = conn.execute(sa.select(batch_t).where(b.id == batch_id)).one()
    return BatchRow.from_row(row)


def renew_lease(conn: sa.Connection, *, batch_id: str, owner: str, lease_seconds: float) -> bool:
    return _set_lease(conn, batch_id, owner, dt.datetime.now(dt.UTC) + dt.timedelta(seconds=lease_seconds))


def release_lease(conn: sa.Connection, *, batch_id: str, owner: str) -> bool:
    """Give the lease back when stopping mid-batch: the next claim, by this server restarted or
    another, resumes the batch at once rather than when the lease would have run out."""
    return _set_lease(conn, batch_id, owner, None)


def _set_lease(conn: sa.Connection, batch_id: str, owner: str, expires: dt.datetime | None) -> bool:
    """Only while `owner` holds the batch in progress."""
    changed = conn.execute(
        sa.update(batch_t)
        .where(b.id == batch_id, b.lease_owner == owner, b.status == BatchStatus.PROCESSING.value)
        .values(lease_expires_at=expires)
    )
    return changed.rowcount == 1


def _held(conn: sa.Connection, batch_id: str, owner: str) -> Any:
    query = sa.select(batch_t).where(b.id == batch_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None or row.lease_owner != owner or row.status != BatchStatus.PROCESSING.value:
        raise LeaseLost(batch_id)
    return row


def apply_batch_chunk(
    conn: sa.Connection,
    *,
    batch_id: str,
    owner: str,
    start: int,
    entries: Sequence[dict[str, Any]],
    catalog: Catalog,
    lease_seconds: float,
) -> BatchRow:
    """Apply items [start, start + len(entries)) of a leased batch; returns the batch after."""
    held = _held(conn, batch_id, owner)
    if held.processed != start:
        raise LeaseLost(batch_id)  # someone else advanced it: never apply an item twice
    options = UpsertOptions.from_json(held.options)
    work = [Work(ContactItem.from_json(e["item"]), options) for e in entries if "item" in e]
    applied = iter(upsert_chunk(conn, workspace_id=held.workspace_id, work=work, catalog=catalog))
    results = [next(applied) if "item" in e else _refused(e) for e in entries]
    if with_properties := [(e, r) for e, r in zip(entries, results, strict=True) if e.get("properties")]:
        # A failed item's property values: refused too? Said with its other problems (properties.input_problems).
        sent = [ContactItem.from_json({"index": e["index"], "properties": e["properties"]}).properties for e, _ in with_properties]
        fields = catalog.fields(conn, held.workspace_id, ((p.id, p.name) for props in sent for p in props))
        for (_, result), props in zip(with_properties, sent, strict=True):
            result.errors.extend(properties.input_problems(fields, props))
    return _record(conn, held, start, results, lease_seconds)


def fail_items(
    conn: sa.Connection, *, batch_id: str, owner: str, start: int, entries: Sequence[dict[str, Any]], incident: str, lease_seconds: float
) -> BatchRow:
    """Items [start, …) that could not be applied, whatever was tried: each gets a failed result
    with code INTERNAL naming `incident` (the server log has its traceback under that id), and
    the batch goes on with the items after them."""
    held = _held(conn, batch_id, owner)
    if held.processed != start:
        raise LeaseLost(batch_id)
    message = f"this item could not be applied because of an unexpected error (incident {incident} in the server log); nothing of it was written"
    results = [ItemResult(index=e["index"], client_ref=_client_ref(e), errors=[Problem((), ErrorCode.INTERNAL, message)]) for e in entries]
    return _record(conn, held, start, results, lease_seconds)


def _refused(entry: Mapping[str, Any]) -> ItemResult:
    """The result of an item decided before its turn: refused when the batch was accepted (failed),
    or taken out by an erasure (its `outcome`: SKIPPED; store/workspace/erase.py)."""
    outcome = None if entry.get("outcome") is None else Outcome(entry["outcome"])
    return ItemResult(index=entry["index"], client_ref=entry.get("client_ref"), outcome=outcome, errors=[Problem.from_json(p) for p in entry["problems"]])


def _client_ref(entry: Mapping[str, Any]) -> str | None:
    return entry["item"].get("client_ref") if "item" in entry else entry.get("client_ref")


def _record(conn: sa.Connection, held: Any, start: int, results: Sequence[ItemResult], lease_seconds: float) -> BatchRow:
    """The chunk's item results, the batch's counters and lease — and, for the last chunk,
    COMPLETED plus the webhook's outbox row."""
    batch_id = held.id
    _INSERT_RESULTS.execute(
        conn,
        [
            {"batch_id": batch_id, "index": res.index, "outcome": None if res.outcome is None else res.outcome.value,
             "result": orjson.dumps(res.to_json()).decode()}
            for res in results
        ],
    )  # fmt: skip
    counts = dict.fromkeys(COUNTERS, 0)
    for res in results:
        counts["failed" if res.outcome is None else _OUTCOME_COUNTER[res.outcome]] += 1
    now = dt.datetime.now(dt.UTC)
    processed = start + len(results)
    values: dict[str, Any] = {c: getattr(held, c) + n for c, n in counts.items()}
    values.update(processed=processed, lease_expires_at=now + dt.timedelta(seconds=lease_seconds))
    if processed >= held.total:
        values.update(status=BatchStatus.COMPLETED.value, finished_at=now, lease_owner=None, lease_expires_at=None)
    conn.execute(sa.update(batch_t).where(b.id == batch_id), values)
    batch = BatchRow.from_row(conn.execute(sa.select(batch_t).where(b.id == batch_id)).one())
    if batch.finished and batch.webhook_url:
        webhooks.enqueue(conn, workspace_id=batch.workspace_id, batch_id=batch.id, url=batch.webhook_url, payload=report(conn, batch), now=now)
    return batch


def fail_batch(conn: sa.Connection, *, batch_id: str, owner: str, error: str, status: BatchStatus = BatchStatus.PROCESSING) -> BatchRow | None:
    """The batch itself could not be processed: FAILED, with the reason (webhook sent too)."""
    now = dt.datetime.now(dt.UTC)
    done = conn.execute(
        sa.update(batch_t)
        .where(b.id == batch_id, b.lease_owner == owner, b.status == status.value)
        .values(status=BatchStatus.FAILED.value, error=error, finished_at=now, lease_owner=None, lease_expires_at=None)
    )
    if done.rowcount != 1:
        return None
    batch = BatchRow.from_row(conn.execute(sa.select(batch_t).where(b.id == batch_id)).one())
    if batch.webhook_url:
        webhooks.enqueue(conn, workspace_id=batch.workspace_id, batch_id=batch.id, url=batch.webhook_url, payload=report(conn, batch), now=now)
    return batch


def report(conn: sa.Connection, batch: BatchRow) -> dict[str, Any]:
    """The webhook body of SPEC §6: counts and contact ids per outcome, failed item indexes."""
    ids: dict[str, list[int]] = {c: [] for c in ("created", "updated", "unchanged", "skipped")}
    failed: list[int] = []
    for index, outcome, result in conn.execute(sa.select(r_index, r.outcome, r.result).where(r.batch_id == batch.id).order_by(r_index)):
        if outcome is None:
            failed.append(index)
        else:
            ids[_OUTCOME_COUNTER[Outcome(outcome)]].extend(orjson.loads(result)["contact_ids"])
    body: dict[str, Any] = {"batchId": batch.id, "status": batch.status.value, "total": batch.total}
    body.update({name: {"count": getattr(batch, name), "contactIds": [str(i) for i in found]} for name, found in ids.items()})
    body["failed"] = {"count": batch.failed, "indexes": failed}
    if batch.error:
        body["error"] = batch.error  # a batch that FAILED says why
    return body


def queue_stats(conn: sa.Connection) -> tuple[int, dt.datetime | None]:
    """Batches waiting or under way, in every workspace, and when the oldest was accepted: the
    operator's view (/metrics), never a workspace's."""
    depth, oldest = conn.execute(
        sa.select(sa.func.count(), sa.func.min(b.created_at)).where(b.status.in_(UNFINISHED_BATCH))
    ).one()
    return int(depth), oldest
