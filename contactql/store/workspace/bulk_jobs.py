"""Bulk jobs (issue 22): one change to every contact a filter finds — deleteContacts,
restoreContacts, addContactsToList and removeContactsFromList by filter.

    count_targets   how many contacts a job would change now (dryRun)
    create_job      queue one (at most MAX_ACTIVE unfinished a workspace); it remembers the newest contact id (`ceiling`) and the count
    claim_next      lease the oldest queued job, or one whose worker's lease ran out
    run_slice       change the next SLICE contacts after `cursor` (among the next SPAN ids),
                    in id order, in one transaction that also moves the cursor, counts and
                    renews the lease; the slice that reaches the ceiling finishes the job and
                    writes its webhook's outbox row
    cancel_job      stop one that has not finished (cancelBulkJob)
    page_jobs       the workspace's jobs, newest first (bulkJobs)

A job is durable and resumable: a crash loses at most the slice under way (rolled back), and the
next claim goes on from the cursor. The filter is applied again in each slice, so a contact that
stopped matching (another write) is left alone, and a contact created after the request (its id
above the ceiling) is never touched. Every changed contact gets a new updatedAt and a history
entry (source BULK, the key's name), so contactsChanged and history tell of it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import uuid
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from contactql.store.batches import outbox as webhooks
from contactql.store.db.tables import bulk_job_t, contact_list_t, contact_t, membership_t
from contactql.store.errors import ErrorCode, Invalid, NotFound
from contactql.store.model import Source
from contactql.store.values import shown
from contactql.store.workspace.filters import ContactQuery, decode, encode, where_terms
from contactql.store.workspace.history import PendingHistory, write_history
from contactql.store.workspace.lists import get_list, lock_list, record_members

j = bulk_job_t.c
c = contact_t.c
m = membership_t.c
SLICE = 500  # contacts a transaction: short enough that single upserts go between slices
SPAN = 20_000  # contact ids a slice looks through at most: a filter that finds few contacts scans a range, not the table
MAX_ACTIVE = 5  # unfinished jobs of a workspace


class BulkKind(enum.StrEnum):
    DELETE = "DELETE"
    RESTORE = "RESTORE"
    ADD_TO_LIST = "ADD_TO_LIST"
    REMOVE_FROM_LIST = "REMOVE_FROM_LIST"


class BulkStatus(enum.StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


UNFINISHED = (BulkStatus.QUEUED.value, BulkStatus.RUNNING.value)


class LeaseLost(Exception):
    """Another worker took the job over (this one's lease ran out)."""


class Cancelled(LeaseLost):
    """The job was cancelled (cancelBulkJob) while this worker had it."""


@dataclasses.dataclass(frozen=True, slots=True)
class BulkJobRow:
    id: str
    workspace_id: int
    kind: BulkKind
    status: BulkStatus
    list_id: str | None
    total: int
    changed: int
    webhook_url: str | None
    error: str | None
    created_at: dt.datetime
    finished_at: dt.datetime | None

    @property
    def finished(self) -> bool:
        return self.status.value not in UNFINISHED

    @classmethod
    def of(cls, row: Any) -> BulkJobRow:
        return cls(row.id, row.workspace_id, BulkKind(row.kind), BulkStatus(row.status), row.list_id, row.total, row.changed,
                   row.webhook_url, row.error, row.created_at, row.finished_at)  # fmt: skip


def _targets(conn: sa.Connection, workspace_id: int, kind: BulkKind, query: ContactQuery, list_id: str | None) -> list[sa.ColumnElement[bool]]:
    """The terms of the contacts the job changes: those the filter finds that the change would
    change — live ones to delete, deleted ones to restore, non-members to add, members to remove."""
    if kind is BulkKind.RESTORE:
        return [*where_terms(conn, workspace_id, dataclasses.replace(query, include_deleted=True)), c.deleted_at.is_not(None)]
    terms = where_terms(conn, workspace_id, query)
    if kind is BulkKind.DELETE:
        return [*terms, c.deleted_at.is_(None)]
    member = sa.exists().where(m.list_id == list_id, m.contact_id == c.id)
    return [*terms, member if kind is BulkKind.REMOVE_FROM_LIST else ~member]


def _check_list(conn: sa.Connection, workspace_id: int, kind: BulkKind, list_id: str | None, *, lock: bool = True) -> None:
    """The job's list exists — locked, when it is to be written, against a deleteList under way."""
    if kind not in (BulkKind.ADD_TO_LIST, BulkKind.REMOVE_FROM_LIST):
        return
    find = lock_list if lock else get_list
    if list_id is None or find(conn, workspace_id=workspace_id, list_id=list_id) is None:
        raise NotFound.at(("listId",), f"no list with id {list_id}", ErrorCode.LIST_NOT_FOUND)


def count_targets(conn: sa.Connection, *, workspace_id: int, kind: BulkKind, query: ContactQuery, list_id: str | None = None) -> int:
    """How many contacts the job would change now; refuses a filter that cannot run or names a
    list the workspace does not have."""
    _check_list(conn, workspace_id, kind, list_id, lock=False)
    _check_named_lists(conn, workspace_id, query)
    terms = _targets(conn, workspace_id, kind, query, list_id)
    return int(conn.scalar(sa.select(sa.func.count()).select_from(contact_t).where(*terms)) or 0)


def create_job(
    conn: sa.Connection, *, workspace_id: int, kind: BulkKind, query: ContactQuery, list_id: str | None, total: int, actor: str | None,
    webhook_url: str | None, now: dt.datetime,
) -> BulkJobRow:
    """`total`: count_targets, read before (a count of a large workspace need not hold the writer)."""
    _check_list(conn, workspace_id, kind, list_id)
    unfinished = conn.scalar(sa.select(sa.func.count()).where(j.workspace_id == workspace_id, j.status.in_(UNFINISHED)))
    if (unfinished or 0) >= MAX_ACTIVE:
        waiting = ", ".join(conn.scalars(sa.select(j.id).where(j.workspace_id == workspace_id, j.status.in_(UNFINISHED)).order_by(j.created_at)))
        raise Invalid.at((), f"{MAX_ACTIVE} bulk jobs of this workspace are not finished yet ({waiting}); wait for one (bulkJobProgress) or cancel one (cancelBulkJob)")
    first, ceiling = conn.execute(sa.select(sa.func.min(c.id), sa.func.max(c.id)).where(c.workspace_id == workspace_id)).one()
    row: dict[str, Any] = {
        "id": str(uuid.uuid4()), "workspace_id": workspace_id, "kind": kind.value, "status": BulkStatus.QUEUED.value,
        "request": {"query": encode(query), "search": query.search}, "list_id": list_id, "ceiling": ceiling or 0, "cursor": (first or 1) - 1,
        "total": total, "changed": 0, "actor": actor, "webhook_url": webhook_url, "created_at": now,
    }  # fmt: skip
    conn.execute(sa.insert(bulk_job_t), row)
    return _get(conn, row["id"])


def get_job(conn: sa.Connection, *, workspace_id: int, job_id: str) -> BulkJobRow | None:
    row = conn.execute(sa.select(bulk_job_t).where(j.workspace_id == workspace_id, j.id == str(job_id))).first()
    return None if row is None else BulkJobRow.of(row)


def unfinished(conn: sa.Connection, *, workspace_id: int) -> list[tuple[str, str | None, dict[str, Any]]]:
    """(id, list, filter as filters.encode wrote it) of the workspace's unfinished jobs: deleteList
    waits for those that change the list or whose filter names it (a `notInListIds` of a list
    gone would find the contacts it was to spare)."""
    rows = conn.execute(sa.select(j.id, j.list_id, j.request).where(j.workspace_id == workspace_id, j.status.in_(UNFINISHED)))
    return [(jid, list_id, (request or {}).get("query") or {}) for jid, list_id, request in rows]


def _check_named_lists(conn: sa.Connection, workspace_id: int, query: ContactQuery) -> None:
    """Every list the filter names is the workspace's — for a read an unknown list matches no
    one, but a job's `notInListIds` of a mistyped id would change every contact. One query for
    all of them; the first unknown is reported where the filter names it."""
    named = list(_named_lists(query, ("filter",)))
    if not named:
        return
    cl = contact_list_t.c
    known = set(conn.scalars(sa.select(cl.id).where(cl.workspace_id == workspace_id, cl.id.in_({list_id for _, list_id in named}))))
    for at, list_id in named:
        if list_id not in known:
            raise NotFound.at(at, f"no list with id {shown(list_id)}", ErrorCode.LIST_NOT_FOUND)


def _named_lists(query: ContactQuery, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], str]]:
    """(where, list id) of every list the filter names, nested filters included."""
    if query.list_id is not None:
        yield (*path, "listId"), query.list_id
    for key, ids in (("listIds", query.list_ids), ("notInListIds", query.not_in_list_ids)):
        yield from (((*path, key, str(i)), list_id) for i, list_id in enumerate(ids or ()))
    for key, nodes in (("and", query.all_of), ("or", query.any_of)):
        for i, node in enumerate(nodes or ()):
            yield from _named_lists(node, (*path, key, str(i)))
    if query.none_of is not None:
        yield from _named_lists(query.none_of, (*path, "not"))


def _get(conn: sa.Connection, job_id: str) -> BulkJobRow:
    return BulkJobRow.of(conn.execute(sa.select(bulk_job_t).where(j.id == job_id)).one())


def claim_next(conn: sa.Connection, *, owner: str, lease_seconds: float, now: dt.datetime) -> BulkJobRow | None:
    """The job keeps its cursor and counts: a job taken over goes on where its last slice ended."""
    # As batches are claimed (queue.claim_next_batch): a status list read from ix_bulk_job_status
    # in created_at order, not an OR of two conditions that SQLite answers by sorting every match.
    # A queued job has no lease, so it is free; a running one is free once its lease ran out.
    free = sa.and_(j.status.in_(UNFINISHED), sa.or_(j.lease_expires_at.is_(None), j.lease_expires_at < now))
    candidate = conn.scalar(sa.select(j.id).where(free).order_by(j.created_at, j.id).limit(1))
    if candidate is None:
        return None
    lease = {"status": BulkStatus.RUNNING.value, "lease_owner": owner, "lease_expires_at": now + dt.timedelta(seconds=lease_seconds)}
    if conn.execute(sa.update(bulk_job_t).where(j.id == candidate, free).values(**lease)).rowcount != 1:
        return None  # another worker was first
    return _get(conn, candidate)


def _held(conn: sa.Connection, job_id: str, owner: str) -> Any:
    query = sa.select(bulk_job_t).where(j.id == job_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()  # a worker taking it over waits for this slice to end
    row = conn.execute(query).first()
    if row is not None and row.status == BulkStatus.CANCELLED.value:
        raise Cancelled(job_id)
    if row is None or row.lease_owner != owner or row.status != BulkStatus.RUNNING.value:
        raise LeaseLost(job_id)
    return row


def cancel_job(conn: sa.Connection, *, workspace_id: int, job_id: str, now: dt.datetime) -> BulkJobRow:
    """Stop a job that has not finished: what its slices changed stays changed (a slice under
    way ends first: SQLite's writer is one, and PostgreSQL's slice holds the job's row)."""
    query = sa.select(bulk_job_t).where(j.workspace_id == workspace_id, j.id == str(job_id))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        raise NotFound.at(("id",), f"no bulk job with id {shown(job_id)}")
    if row.status not in UNFINISHED:
        raise Invalid.at(("id",), f"the job is {row.status} already")
    values = {"status": BulkStatus.CANCELLED.value, "finished_at": now, "lease_owner": None, "lease_expires_at": None, "request": {}}
    conn.execute(sa.update(bulk_job_t).where(j.id == row.id).values(**values))
    return _finished(conn, row.id, now)


def page_jobs(conn: sa.Connection, *, workspace_id: int, status: BulkStatus | None, limit: int, after: tuple[dt.datetime, str] | None) -> list[BulkJobRow]:
    """The workspace's jobs newest first, keyset-paginated on (created_at, id)."""
    query = sa.select(bulk_job_t).where(*_jobs_where(workspace_id, status))
    if after is not None:
        query = query.where(sa.tuple_(j.created_at, j.id) < sa.tuple_(*after))
    return [BulkJobRow.of(row) for row in conn.execute(query.order_by(j.created_at.desc(), j.id.desc()).limit(limit))]


def count_jobs(conn: sa.Connection, *, workspace_id: int, status: BulkStatus | None) -> int:
    return int(conn.scalar(sa.select(sa.func.count()).select_from(bulk_job_t).where(*_jobs_where(workspace_id, status))) or 0)


def _jobs_where(workspace_id: int, status: BulkStatus | None) -> list[sa.ColumnElement[bool]]:
    return [j.workspace_id == workspace_id] + ([j.status == status.value] if status else [])


def run_slice(
    conn: sa.Connection, *, job_id: str, owner: str, lease_seconds: float, now: dt.datetime, limit: int = SLICE, span: int = SPAN
) -> BulkJobRow:
    """The next slice of the job: up to `limit` contacts among the next `span` ids; the slice that
    reaches the ceiling finishes it."""
    held = _held(conn, job_id, owner)
    kind, workspace_id = BulkKind(held.kind), held.workspace_id
    query = dataclasses.replace(decode(held.request["query"]), search=held.request.get("search"))
    _check_list(conn, workspace_id, kind, held.list_id)
    terms = _targets(conn, workspace_id, kind, query, held.list_id)
    upper = min(held.ceiling, held.cursor + span)
    ids = list(conn.scalars(sa.select(c.id).where(*terms, c.id > held.cursor, c.id <= upper).order_by(c.id).limit(limit)))
    if ids:
        _apply(conn, workspace_id, kind, held.list_id, ids, held.actor, now)
    cursor = ids[-1] if len(ids) == limit else upper
    values: dict[str, Any] = {"cursor": cursor, "changed": held.changed + len(ids)}
    if cursor >= held.ceiling:
        values |= {"status": BulkStatus.COMPLETED.value, "finished_at": now, "lease_owner": None, "lease_expires_at": None, "request": {}}
    else:
        values["lease_expires_at"] = now + dt.timedelta(seconds=lease_seconds)
    conn.execute(sa.update(bulk_job_t).where(j.id == job_id).values(**values))
    return _finished(conn, job_id, now)


def _apply(conn: sa.Connection, workspace_id: int, kind: BulkKind, list_id: str | None, ids: list[int], actor: str | None, now: dt.datetime) -> None:
    if kind in (BulkKind.ADD_TO_LIST, BulkKind.REMOVE_FROM_LIST):
        assert list_id is not None
        record_members(conn, workspace_id=workspace_id, list_id=list_id, contact_ids=ids, add=kind is BulkKind.ADD_TO_LIST, source=Source.BULK, actor=actor, now=now)
        return
    if kind is BulkKind.DELETE:
        entries = [PendingHistory(cid, [("deletedAt", None, now)], Source.BULK, actor, None) for cid in ids]
        conn.execute(sa.update(contact_t).where(c.id.in_(ids)).values(deleted_at=now, updated_at=now))
    else:
        was = dict(conn.execute(sa.select(c.id, c.deleted_at).where(c.id.in_(ids))).all())
        entries = [PendingHistory(cid, [("deletedAt", was[cid], None)], Source.BULK, actor, None) for cid in ids]
        conn.execute(sa.update(contact_t).where(c.id.in_(ids)).values(deleted_at=None, updated_at=now))
    write_history(conn, entries, workspace_id=workspace_id, now=now)


def fail(conn: sa.Connection, *, job_id: str, owner: str, error: str, now: dt.datetime) -> BulkJobRow:
    """The job stops where it is (what its slices changed stays changed), saying why."""
    _held(conn, job_id, owner)
    values = {"status": BulkStatus.FAILED.value, "finished_at": now, "lease_owner": None, "lease_expires_at": None, "error": error, "request": {}}
    conn.execute(sa.update(bulk_job_t).where(j.id == job_id).values(**values))
    return _finished(conn, job_id, now)


def _finished(conn: sa.Connection, job_id: str, now: dt.datetime) -> BulkJobRow:
    job = _get(conn, job_id)
    if job.finished and job.webhook_url:
        webhooks.enqueue(conn, workspace_id=job.workspace_id, batch_id=job.id, url=job.webhook_url, payload=report(job), now=now)
    return job


def report(job: BulkJobRow) -> dict[str, Any]:
    """The webhook body of a finished job."""
    return {"jobId": job.id, "kind": job.kind.value, "status": job.status.value, "listId": job.list_id, "total": job.total, "changed": job.changed, "error": job.error}


def release_lease(conn: sa.Connection, *, job_id: str, owner: str) -> None:
    """Stopping mid-job: the next claim, here after a restart or elsewhere, goes on at once."""
    conn.execute(sa.update(bulk_job_t).where(j.id == job_id, j.lease_owner == owner).values(lease_expires_at=None))
