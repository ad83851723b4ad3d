"""Export jobs (`exportContacts`): queued, leased to one worker at a time, written in chunks.

    create_export       queue a job (at most MAX_ACTIVE unfinished per workspace)
    claim_next_export   lease the oldest queued job, or one whose worker's lease ran out; it
                        starts over (its chunks so far are dropped: an export is a read, so
                        running it again from the start is always right)
    append_chunk        the next part of the file, with the rows it holds; renews the lease
    finish / fail       the end of a job
    read_chunk          a part of a finished job's file, for GET /exports/{id}
    delete_expired      finished jobs past their time, for housekeeping

The file lives in the database (export_chunk, about a megabyte a row), so any process of a
deployment serves the download, and a crash loses nothing but the run under way.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa

from contactql.store.db.tables import export_chunk_t, export_t
from contactql.store.errors import Invalid
from contactql.store.sorting import OrderField, SortDirection
from contactql.store.workspace.filters import ContactQuery, decode, encode
from contactql.store.workspace.order import ContactOrder

e = export_t.c
ch = export_chunk_t.c
MAX_ACTIVE = 3  # unfinished exports of a workspace
KEEP = dt.timedelta(hours=24)  # a finished export's file, then housekeeping deletes it


class ExportFormat(enum.StrEnum):
    CSV = "CSV"
    NDJSON = "NDJSON"


class ExportStatus(enum.StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


class LeaseLost(Exception):
    """Another worker took the export over (this one's lease ran out)."""


@dataclasses.dataclass(frozen=True, slots=True)
class ExportRow:
    id: str
    workspace_id: int
    status: ExportStatus
    format: str
    request: dict[str, Any]
    total: int | None
    processed: int
    size: int
    error: str | None
    created_at: dt.datetime
    finished_at: dt.datetime | None

    @property
    def finished(self) -> bool:
        return self.status in (ExportStatus.COMPLETED, ExportStatus.FAILED)

    @property
    def expires_at(self) -> dt.datetime | None:
        return None if self.finished_at is None else self.finished_at + KEEP

    @classmethod
    def of(cls, row: Any) -> ExportRow:
        return cls(row.id, row.workspace_id, ExportStatus(row.status), row.format, row.request, row.total, row.processed, row.size,
                   row.error, row.created_at, row.finished_at)  # fmt: skip


def job_request(query: ContactQuery, order: Sequence[ContactOrder], fields: Sequence[str] | None) -> dict[str, Any]:
    """What a job keeps of its request (the `request` column): the filter as filters.encode
    writes it, the search, the order and the fields."""
    return {
        "query": encode(query),
        "search": query.search,
        "order": [[o.field.value, o.direction.value, o.property] for o in order],
        "fields": None if fields is None else list(fields),
    }


def read_request(request: dict[str, Any]) -> tuple[ContactQuery, list[ContactOrder], list[str] | None]:
    query = dataclasses.replace(decode(request["query"]), search=request.get("search"))
    order = [ContactOrder(OrderField(f), SortDirection(d), p) for f, d, p in request["order"]]
    return query, order, request.get("fields")


def create_export(
    conn: sa.Connection, *, workspace_id: int, format: str, request: dict[str, Any], check: Callable[[sa.Connection], None], now: dt.datetime
) -> ExportRow:
    """`check(conn)` refuses what cannot be exported (a filter, order or field that cannot be read)."""
    check(conn)
    unfinished = conn.scalar(
        sa.select(sa.func.count()).where(e.workspace_id == workspace_id, e.status.in_([ExportStatus.QUEUED.value, ExportStatus.RUNNING.value]))
    )
    if (unfinished or 0) >= MAX_ACTIVE:
        raise Invalid.at((), f"{MAX_ACTIVE} exports of this workspace are not finished yet; wait for one (exportProgress) and try again")
    row: dict[str, Any] = {"id": str(uuid.uuid4()), "workspace_id": workspace_id, "status": ExportStatus.QUEUED.value, "format": format,
           "request": request, "processed": 0, "size": 0, "created_at": now}  # fmt: skip
    conn.execute(sa.insert(export_t), row)
    return _get(conn, row["id"])


def get_export(conn: sa.Connection, *, workspace_id: int, export_id: str) -> ExportRow | None:
    row = conn.execute(sa.select(export_t).where(e.workspace_id == workspace_id, e.id == str(export_id))).first()
    return None if row is None else ExportRow.of(row)


def _get(conn: sa.Connection, export_id: str) -> ExportRow:
    return ExportRow.of(conn.execute(sa.select(export_t).where(e.id == export_id)).one())


def claim_next_export(conn: sa.Connection, *, owner: str, lease_seconds: float, now: dt.datetime) -> ExportRow | None:
    free = sa.or_(e.status == ExportStatus.QUEUED.value, sa.and_(e.status == ExportStatus.RUNNING.value, sa.or_(e.lease_expires_at.is_(None), e.lease_expires_at < now)))
    candidate = conn.scalar(sa.select(e.id).where(free).order_by(e.created_at, e.id).limit(1))
    if candidate is None:
        return None
    taken = conn.execute(
        sa.update(export_t)
        .where(e.id == candidate, free)
        .values(status=ExportStatus.RUNNING.value, lease_owner=owner, lease_expires_at=now + dt.timedelta(seconds=lease_seconds), processed=0, size=0)
    )
    if taken.rowcount != 1:
        return None  # another worker was first
    conn.execute(sa.delete(export_chunk_t).where(ch.export_id == candidate))
    return _get(conn, candidate)


def _held(conn: sa.Connection, export_id: str, owner: str) -> ExportRow:
    row = conn.execute(sa.select(export_t).where(e.id == export_id)).first()
    if row is None or row.lease_owner != owner or row.status != ExportStatus.RUNNING.value:
        raise LeaseLost(export_id)
    return ExportRow.of(row)


def set_total(conn: sa.Connection, *, export_id: str, owner: str, total: int) -> ExportRow:
    _held(conn, export_id, owner)
    conn.execute(sa.update(export_t).where(e.id == export_id).values(total=total))
    return _get(conn, export_id)


def append_chunk(
    conn: sa.Connection, *, export_id: str, owner: str, seq: int, data: bytes, rows: int, lease_seconds: float, now: dt.datetime
) -> ExportRow:
    held = _held(conn, export_id, owner)
    if data:
        conn.execute(sa.insert(export_chunk_t), {"export_id": export_id, "seq": seq, "data": data})
    conn.execute(
        sa.update(export_t)
        .where(e.id == export_id)
        .values(processed=held.processed + rows, size=held.size + len(data), lease_expires_at=now + dt.timedelta(seconds=lease_seconds))
    )
    return _get(conn, export_id)


def finish(conn: sa.Connection, *, export_id: str, owner: str, now: dt.datetime) -> ExportRow:
    held = _held(conn, export_id, owner)
    values = {"status": ExportStatus.COMPLETED.value, "finished_at": now, "lease_owner": None, "lease_expires_at": None, "total": held.processed}
    conn.execute(sa.update(export_t).where(e.id == export_id).values(**values))
    return _get(conn, export_id)


def fail(conn: sa.Connection, *, export_id: str, owner: str, error: str, now: dt.datetime) -> ExportRow:
    _held(conn, export_id, owner)
    conn.execute(sa.delete(export_chunk_t).where(ch.export_id == export_id))
    values = {"status": ExportStatus.FAILED.value, "finished_at": now, "lease_owner": None, "lease_expires_at": None, "error": error, "size": 0}
    conn.execute(sa.update(export_t).where(e.id == export_id).values(**values))
    return _get(conn, export_id)


def release_lease(conn: sa.Connection, *, export_id: str, owner: str) -> None:
    """Stopping mid-export: the next claim, here after a restart or elsewhere, starts it at once."""
    conn.execute(sa.update(export_t).where(e.id == export_id, e.lease_owner == owner).values(lease_expires_at=None))


def read_chunk(conn: sa.Connection, *, export_id: str, seq: int) -> bytes | None:
    data = conn.scalar(sa.select(ch.data).where(ch.export_id == export_id, ch.seq == seq))
    return None if data is None else bytes(data)


def delete_expired(conn: sa.Connection, *, now: dt.datetime) -> int:
    """Finished exports older than KEEP, with their files."""
    old = sa.select(e.id).where(e.finished_at < now - KEEP)
    conn.execute(sa.delete(export_chunk_t).where(ch.export_id.in_(old)))
    return int(conn.execute(sa.delete(export_t).where(e.finished_at < now - KEEP)).rowcount or 0)
