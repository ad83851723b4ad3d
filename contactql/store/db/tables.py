"""SQLModel tables: the only place the physical schema is written down.

Every row that belongs to a workspace carries `workspace_id` (denormalised onto property values
so the PROPERTIES match rule is one indexed lookup), and every query in `store/` filters on it.
Identity rules of SPEC §3 live here as unique indexes, never in process memory:

- `uq_contact_external_id`: externalId is unique in a workspace (NULLs never collide);
- `uq_contact_identity`: the (email, mobile) pair, null counted as a value, for contacts that
  have either — `coalesce` turns NULL into '' so two email-only contacts with the same email
  collide, while externalId-only contacts (both NULL) fall outside the partial index.
"""

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from contactql.store.db.columns import BigId, fk, ts

IDENTITY_PREDICATE = "email IS NOT NULL OR mobile IS NOT NULL"


class Workspace(SQLModel, table=True):
    __tablename__ = "workspace"
    id: int | None = Field(default=None, sa_column=sa.Column(BigId, primary_key=True))
    name: str = Field(sa_column=sa.Column(sa.String(100), nullable=False, unique=True))
    webhook_secret: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    created_at: dt.datetime = ts()
    # ISO 3166 alpha-2: national phone numbers sent without a country are read in it.
    default_country: str | None = Field(default=None, sa_column=sa.Column(sa.String(2), nullable=True))


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_key"
    id: int | None = Field(default=None, sa_column=sa.Column(BigId, primary_key=True))
    workspace_id: int = fk("workspace.id")
    name: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    key_hash: str = Field(sa_column=sa.Column(sa.String(64), nullable=False, unique=True))
    scope: str = Field(sa_column=sa.Column(sa.String(10), nullable=False))
    created_at: dt.datetime = ts()
    last_used_at: dt.datetime | None = ts(nullable=True)
    revoked_at: dt.datetime | None = ts(nullable=True)


class Contact(SQLModel, table=True):
    __tablename__ = "contact"
    __table_args__ = (
        sa.Index("uq_contact_external_id", "workspace_id", "external_id", unique=True),
        sa.Index(
            "uq_contact_identity",
            "workspace_id",
            sa.func.coalesce(sa.column("email"), ""),
            sa.func.coalesce(sa.column("mobile"), ""),
            unique=True,
            sqlite_where=sa.text(IDENTITY_PREDICATE),
            postgresql_where=sa.text(IDENTITY_PREDICATE),
        ),
        sa.Index("ix_contact_email", "workspace_id", "email"),
        sa.Index("ix_contact_mobile", "workspace_id", "mobile"),
        sa.Index("ix_contact_updated", "workspace_id", "updated_at"),
        # Keyset pages (`id > after ORDER BY id`) and look-ups by id within a workspace: without
        # it, SQLite read every contact of the workspace through ix_contact_updated (migration 0004).
        sa.Index("ix_contact_page", "workspace_id", "id"),
        # Pages filtered by a status, in id order: through ix_contact_page a page stops only
        # after its matches, and a status few contacts have read the workspace (migration 0005).
        sa.Index("ix_contact_email_status", "workspace_id", "email_status", "id"),
        sa.Index("ix_contact_sms_status", "workspace_id", "sms_status", "id"),
        # Pages in orderBy order start from an index in that order (migration 0011).
        sa.Index("ix_contact_last_name", "workspace_id", "last_name", "id"),
        sa.Index("ix_contact_first_name", "workspace_id", "first_name", "id"),
        sa.Index("ix_contact_created", "workspace_id", "created_at", "id"),
    )
    id: int | None = Field(default=None, sa_column=sa.Column(BigId, primary_key=True))
    workspace_id: int = fk("workspace.id")
    external_id: str | None = Field(default=None, sa_column=sa.Column(sa.String(255)))
    email: str | None = Field(default=None, sa_column=sa.Column(sa.String(320)))
    mobile: str | None = Field(default=None, sa_column=sa.Column(sa.String(20)))
    mobile_country_code: int | None = Field(default=None, sa_column=sa.Column(sa.Integer))
    first_name: str | None = Field(default=None, sa_column=sa.Column(sa.String(255)))
    last_name: str | None = Field(default=None, sa_column=sa.Column(sa.String(255)))
    email_status: str = Field(sa_column=sa.Column(sa.String(24), nullable=False))
    sms_status: str = Field(sa_column=sa.Column(sa.String(24), nullable=False))
    privacy_consent: bool | None = Field(default=None, sa_column=sa.Column(sa.Boolean))
    confirmed: bool = Field(sa_column=sa.Column(sa.Boolean, nullable=False))
    source: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    address_town: str | None = Field(default=None, sa_column=sa.Column(sa.String(255)))
    address_region: str | None = Field(default=None, sa_column=sa.Column(sa.String(255)))
    address_address: str | None = Field(default=None, sa_column=sa.Column(sa.String(255)))
    address_postcode: str | None = Field(default=None, sa_column=sa.Column(sa.String(255)))
    created_by: str | None = Field(default=None, sa_column=sa.Column(sa.String(100)))
    created_at: dt.datetime = ts()
    updated_at: dt.datetime = ts()
    deleted_at: dt.datetime | None = ts(nullable=True)
    # Names, email, mobile digits and externalId folded for `contacts(search:)`, written with them;
    # indexed outside this metadata (HAND_MADE), by migration 0007.
    search_text: str | None = Field(default=None, sa_column=sa.Column(sa.Text))


class PropertyField(SQLModel, table=True):
    __tablename__ = "property_field"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "name_key", name="uq_property_field_name"),)
    id: str = Field(sa_column=sa.Column(sa.String(36), primary_key=True))
    workspace_id: int = fk("workspace.id")
    name: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    name_key: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    type: str = Field(sa_column=sa.Column(sa.String(10), nullable=False))
    options: list[str] | None = Field(default=None, sa_column=sa.Column(sa.JSON))
    created_at: dt.datetime = ts()


class PropertyValue(SQLModel, table=True):
    __tablename__ = "property_value"
    # Found by (field, digest), then compared whole. No index leads with workspace_id: with stale
    # statistics PostgreSQL ANDs such an index into look-ups by contact, and in a one-workspace
    # database every row matches it.
    # The contact id last: a page filtered by a property value is read in id order (0004).
    __table_args__ = (sa.Index("ix_property_value_hash", "field_id", "value_hash", "contact_id"),)
    contact_id: int = fk("contact.id", primary_key=True)
    field_id: str = fk("property_field.id", primary_key=True, big=False)
    workspace_id: int = fk("workspace.id")
    value: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    value_hash: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))


class ContactList(SQLModel, table=True):
    __tablename__ = "contact_list"
    __table_args__ = (
        sa.UniqueConstraint("workspace_id", "name_key", name="uq_contact_list_name"),
        sa.Index("ix_contact_list_page", "workspace_id", "created_at", "id"),  # pages in creation order
    )
    id: str = Field(sa_column=sa.Column(sa.String(36), primary_key=True))
    workspace_id: int = fk("workspace.id")
    name: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    name_key: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    created_at: dt.datetime = ts()


class ListMembership(SQLModel, table=True):
    __tablename__ = "list_membership"
    __table_args__ = (sa.Index("ix_list_membership_contact", "contact_id"),)
    list_id: str = fk("contact_list.id", primary_key=True, big=False)
    contact_id: int = fk("contact.id", primary_key=True)
    created_at: dt.datetime = ts()


class Company(SQLModel, table=True):
    __tablename__ = "company"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "name_key", name="uq_company_name"),)
    id: str = Field(sa_column=sa.Column(sa.String(36), primary_key=True))
    workspace_id: int = fk("workspace.id")
    name: str = Field(sa_column=sa.Column(sa.String(255), nullable=False))
    name_key: str = Field(sa_column=sa.Column(sa.String(255), nullable=False))
    created_at: dt.datetime = ts()


class ContactCompany(SQLModel, table=True):
    __tablename__ = "contact_company"
    __table_args__ = (sa.Index("ix_contact_company_company", "company_id"),)
    contact_id: int = fk("contact.id", primary_key=True)
    company_id: str = fk("company.id", primary_key=True, big=False)


class ExternalUrl(SQLModel, table=True):
    __tablename__ = "external_url"
    contact_id: int = fk("contact.id", primary_key=True)
    ref: str = Field(sa_column=sa.Column(sa.String(100), primary_key=True))
    url: str = Field(sa_column=sa.Column(sa.String(2048), nullable=False))
    label: str | None = Field(default=None, sa_column=sa.Column(sa.String(255)))


class Batch(SQLModel, table=True):
    """An accepted upsertContacts call (or CSV import); its items are in batch_payload."""

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


class BatchPayload(SQLModel, table=True):
    """The validated items of a batch, as one JSON document written at acceptance."""

    __tablename__ = "batch_payload"
    batch_id: str = fk("batch.id", primary_key=True, big=False)
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


class IdempotencyKey(SQLModel, table=True):
    """A client's idempotency key: the request it named and what it answered (24 hours)."""

    __tablename__ = "idempotency_key"
    workspace_id: int = fk("workspace.id", primary_key=True)
    key: str = Field(sa_column=sa.Column(sa.String(255), primary_key=True))
    request_hash: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    response: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    created_at: dt.datetime = ts()


class Event(SQLModel, table=True):
    """Something that happened to a contact, for workflows (seeds 003, 004)."""

    __tablename__ = "event"
    __table_args__ = (
        sa.Index("uq_event_id", "id", unique=True),
        sa.Index("ix_event_workspace", "workspace_id", "seq"),
        sa.Index("ix_event_type", "workspace_id", "type", "seq"),
        sa.Index("ix_event_contact", "workspace_id", "contact_id", "seq"),
    )
    seq: int | None = Field(default=None, sa_column=sa.Column(BigId, primary_key=True))  # order and cursors
    id: str = Field(sa_column=sa.Column(sa.String(36), nullable=False))
    workspace_id: int = fk("workspace.id")
    type: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    key: str = Field(sa_column=sa.Column(sa.String(320), nullable=False))
    contact_id: int = Field(sa_column=sa.Column(BigId, nullable=False))
    params: dict[str, Any] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    created_at: dt.datetime = ts()


class ContactHistory(SQLModel, table=True):
    """One entry per write of a contact: who, how, and each field's old and new value."""

    __tablename__ = "contact_history"
    __table_args__ = (
        sa.Index("ix_history_contact", "contact_id", "id"),
        sa.Index("ix_history_workspace", "workspace_id", "id"),  # the change feed (contactsChanged; migration 0010)
    )
    id: int | None = Field(default=None, sa_column=sa.Column(BigId, primary_key=True))
    contact_id: int = fk("contact.id")
    workspace_id: int = fk("workspace.id")
    source: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    actor: str | None = Field(default=None, sa_column=sa.Column(sa.String(100)))
    batch_id: str | None = Field(default=None, sa_column=sa.Column(sa.String(36)))
    changes: list[Any] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    created_at: dt.datetime = ts()


class ConfirmationToken(SQLModel, table=True):
    """A double opt-in token (seed 004), kept only as its SHA-256 digest; used once."""

    __tablename__ = "confirmation_token"
    token_hash: str = Field(sa_column=sa.Column(sa.String(64), primary_key=True))
    workspace_id: int = fk("workspace.id")
    contact_id: int = fk("contact.id")
    created_at: dt.datetime = ts()
    used_at: dt.datetime | None = ts(nullable=True)


class WebhookEndpoint(SQLModel, table=True):
    """Where a workspace wants events of some types delivered."""

    __tablename__ = "webhook_endpoint"
    __table_args__ = (sa.Index("ix_endpoint_workspace", "workspace_id"),)
    id: str = Field(sa_column=sa.Column(sa.String(36), primary_key=True))
    workspace_id: int = fk("workspace.id")
    url: str = Field(sa_column=sa.Column(sa.String(2048), nullable=False))
    event_types: list[str] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    created_at: dt.datetime = ts()


class Segment(SQLModel, table=True):
    """A saved filter and search (a dynamic list): its members are whoever matches, when read."""

    __tablename__ = "segment"
    __table_args__ = (
        sa.UniqueConstraint("workspace_id", "name_key", name="uq_segment_name"),
        sa.Index("ix_segment_page", "workspace_id", "created_at", "id"),
    )
    id: str = Field(sa_column=sa.Column(sa.String(36), primary_key=True))
    workspace_id: int = fk("workspace.id")
    name: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    name_key: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    query: dict[str, Any] = Field(sa_column=sa.Column(sa.JSON, nullable=False))  # the filter (store/workspace/segments.py)
    search: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    created_at: dt.datetime = ts()


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


class PersistedQuery(SQLModel, table=True):
    """A document a client sent with its SHA-256 (automatic persisted queries), shared by every
    server process of the database; the newest 10 000 per workspace are kept."""

    __tablename__ = "persisted_query"
    __table_args__ = (sa.Index("ix_persisted_query_age", "workspace_id", "stored_at"),)
    workspace_id: int = fk("workspace.id", primary_key=True)
    sha256: str = Field(sa_column=sa.Column(sa.String(64), primary_key=True))
    document: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    stored_at: dt.datetime = ts()


metadata = SQLModel.metadata


def _table(model: type[SQLModel]) -> sa.Table:
    return metadata.tables[str(model.__tablename__)]


contact_t = _table(Contact)
# Made by hand in migrations, outside this metadata, as they differ by engine: the search index
# of contact.search_text (0007: an FTS5 table and its shadow tables on SQLite, a pg_trgm GIN
# index on PostgreSQL) and the property order indexes (0012: expressions).
HAND_MADE = ("contact_search", "ix_contact_search", "ix_property_value_number", "ix_property_value_text")


def compared(name: str | None, type_: str, _parents: object) -> bool:
    """Alembic's include_name: what autogenerate and the migration test compare to the metadata."""
    return not (name or "").startswith(HAND_MADE)


CONTACT_COLUMNS = tuple(c.name for c in contact_t.columns)  # a contact row as a dict: dict(zip(CONTACT_COLUMNS, row))
property_field_t = _table(PropertyField)
property_value_t = _table(PropertyValue)
contact_list_t = _table(ContactList)
membership_t = _table(ListMembership)
company_t = _table(Company)
contact_company_t = _table(ContactCompany)
external_url_t = _table(ExternalUrl)
workspace_t = _table(Workspace)
api_key_t = _table(ApiKey)
batch_t = _table(Batch)
batch_payload_t = _table(BatchPayload)
batch_result_t = _table(BatchResult)
webhook_delivery_t = _table(WebhookDelivery)
idempotency_t = _table(IdempotencyKey)
event_t = _table(Event)
history_t = _table(ContactHistory)
token_t = _table(ConfirmationToken)
endpoint_t = _table(WebhookEndpoint)
segment_t = _table(Segment)
export_t = _table(Export)
export_chunk_t = _table(ExportChunk)
persisted_query_t = _table(PersistedQuery)
