"""Durable work: batches (payloads and per-item results), webhook deliveries and exports."""

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from contactql.store.db.columns import fk, ts


class Batch(SQLModel, table=True):
    """An accepted upsertContacts call (or CSV import); its items are in batch_part."""

    __tablename__ = "batch"
    __table_args__ = (
        sa.Index("ix_batch_queue", "status", "created_at"),
        sa.Index("ix_batch_workspace", "workspace_id", "created_at", "id"),
    )
    id: str = Field(sa_column=sa.Column(sa.String(36), primary_key=True))
    workspace_id: int = fk("workspace.id")
    status: str = Field(sa_column=sa.Column(sa.String(12), nullable=False))
    source: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    total: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    processed: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False))
    created: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False))
    updated: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False))
    unchanged: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False))
    skipped: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False))
    failed: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False))
    options: dict[str, Any] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    webhook_url: str | None = Field(default=None, sa_column=sa.Column(sa.String(2048)))
    error: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    lease_owner: str | None = Field(default=None, sa_column=sa.Column(sa.String(64)))
    lease_expires_at: dt.datetime | None = ts(nullable=True)
    created_at: dt.datetime = ts()
    started_at: dt.datetime | None = ts(nullable=True)
    finished_at: dt.datetime | None = ts(nullable=True)


class BatchPart(SQLModel, table=True):
    """Validated items [first, stop) of a batch, as one JSON document: written when the batch is
    accepted (or as a streamed import reads its file), read by the worker part by part."""

    __tablename__ = "batch_part"
    batch_id: str = fk("batch.id", primary_key=True, big=False)
    first: int = Field(sa_column=sa.Column(sa.Integer, primary_key=True))
    stop: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    items: str = Field(sa_column=sa.Column(sa.Text, nullable=False))


class BatchResult(SQLModel, table=True):
    """One item's result, written in the transaction that applied it."""

    __tablename__ = "batch_result"
    __table_args__ = (sa.Index("ix_batch_result_outcome", "batch_id", "outcome", "index"),)  # results(outcome:, failedOnly:)
    batch_id: str = fk("batch.id", primary_key=True, big=False)
    index: int = Field(sa_column=sa.Column(sa.Integer, primary_key=True))
    outcome: str | None = Field(default=None, sa_column=sa.Column(sa.String(12)))  # NULL: failed
    result: str = Field(sa_column=sa.Column(sa.Text, nullable=False))


class WebhookDelivery(SQLModel, table=True):
    """The outbox: a webhook to send, written in the transaction that produced it."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        sa.Index("ix_webhook_due", "status", "next_attempt_at"),
        sa.Index("ix_webhook_batch", "batch_id"),
    )
    id: str = Field(sa_column=sa.Column(sa.String(64), primary_key=True))  # webhook-id, kept across retries
    workspace_id: int = fk("workspace.id")
    batch_id: str | None = Field(default=None, sa_column=sa.Column(sa.String(36)))
    url: str = Field(sa_column=sa.Column(sa.String(2048), nullable=False))
    payload: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    status: str = Field(sa_column=sa.Column(sa.String(12), nullable=False))
    attempts: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False))
    last_error: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    next_attempt_at: dt.datetime = ts()
    lease_owner: str | None = Field(default=None, sa_column=sa.Column(sa.String(64)))
    lease_expires_at: dt.datetime | None = ts(nullable=True)
    created_at: dt.datetime = ts()
    delivered_at: dt.datetime | None = ts(nullable=True)


class Export(SQLModel, table=True):
    """An export job: contacts of a filter, search and order written to a file held in
    export_chunk, leased to one worker at a time like a batch."""

    __tablename__ = "export"
    __table_args__ = (
        sa.Index("ix_export_page", "workspace_id", "created_at", "id"),
        sa.Index("ix_export_status", "status", "created_at"),
    )
    id: str = Field(sa_column=sa.Column(sa.String(36), primary_key=True))
    workspace_id: int = fk("workspace.id")
    status: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    format: str = Field(sa_column=sa.Column(sa.String(8), nullable=False))
    request: dict[str, Any] = Field(sa_column=sa.Column(sa.JSON, nullable=False))  # query, search, order, fields
    total: int | None = Field(default=None, sa_column=sa.Column(sa.Integer))
    processed: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    size: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))  # bytes written
    error: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    lease_owner: str | None = Field(default=None, sa_column=sa.Column(sa.String(40)))
    lease_expires_at: dt.datetime | None = ts(nullable=True)
    created_at: dt.datetime = ts()
    finished_at: dt.datetime | None = ts(nullable=True)


class ExportChunk(SQLModel, table=True):
    """A part of an export's file, in order; about a megabyte each."""

    __tablename__ = "export_chunk"
    export_id: str = Field(sa_column=sa.Column(sa.String(36), sa.ForeignKey("export.id", ondelete="CASCADE"), primary_key=True))
    seq: int = Field(sa_column=sa.Column(sa.Integer, primary_key=True, autoincrement=False))
    data: bytes = Field(sa_column=sa.Column(sa.LargeBinary, nullable=False))


class BulkJob(SQLModel, table=True):
    """A change to every contact a filter finds (deleteContacts, restoreContacts, add/remove to a
    list by filter), done in slices of contacts in id order: `cursor` is the last id done, so a
    job taken over after a crash goes on where it was; `ceiling`, the newest contact id when it
    was asked for, keeps contacts created since out of it."""

    __tablename__ = "bulk_job"
    __table_args__ = (
        sa.Index("ix_bulk_job_page", "workspace_id", "created_at", "id"),
        sa.Index("ix_bulk_job_status", "status", "created_at"),
    )
    id: str = Field(sa_column=sa.Column(sa.String(36), primary_key=True))
    workspace_id: int = fk("workspace.id")
    kind: str = Field(sa_column=sa.Column(sa.String(20), nullable=False))
    status: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    request: dict[str, Any] = Field(sa_column=sa.Column(sa.JSON, nullable=False))  # query, search; emptied once finished
    list_id: str | None = Field(default=None, sa_column=sa.Column(sa.String(36)))
    ceiling: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    cursor: int = Field(default=0, sa_column=sa.Column(sa.BigInteger, nullable=False))
    total: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    changed: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False))
    actor: str | None = Field(default=None, sa_column=sa.Column(sa.String(100)))
    webhook_url: str | None = Field(default=None, sa_column=sa.Column(sa.String(2048)))
    error: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    lease_owner: str | None = Field(default=None, sa_column=sa.Column(sa.String(40)))
    lease_expires_at: dt.datetime | None = ts(nullable=True)
    created_at: dt.datetime = ts()
    finished_at: dt.datetime | None = ts(nullable=True)
