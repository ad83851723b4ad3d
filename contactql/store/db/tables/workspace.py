"""A workspace and what belongs to it besides contacts: API keys, webhook endpoints,
idempotency records and persisted queries."""

import datetime as dt

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from contactql.store.db.columns import BigId, fk, ts


class Workspace(SQLModel, table=True):
    __tablename__ = "workspace"
    id: int | None = Field(default=None, sa_column=sa.Column(BigId, primary_key=True))
    name: str = Field(sa_column=sa.Column(sa.String(100), nullable=False, unique=True))
    webhook_secret: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    created_at: dt.datetime = ts()
    # ISO 3166 alpha-2: national phone numbers sent without a country are read in it.
    default_country: str | None = Field(default=None, sa_column=sa.Column(sa.String(2), nullable=True))
    # Signs the unsubscribe links of its contacts (links.py); made on first use.
    link_secret: str | None = Field(default=None, sa_column=sa.Column(sa.String(64), nullable=True))
    # Raised by every rename or delete of a list or property field: caches reload (upsert/cache.py).
    catalog_version: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False, server_default="0"))


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_key"
    id: int | None = Field(default=None, sa_column=sa.Column(BigId, primary_key=True))
    workspace_id: int = fk("workspace.id")
    name: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    key_hash: str = Field(sa_column=sa.Column(sa.String(64), nullable=False, unique=True))
    scope: str = Field(sa_column=sa.Column(sa.String(20), nullable=False))
    created_at: dt.datetime = ts()
    last_used_at: dt.datetime | None = ts(nullable=True)
    revoked_at: dt.datetime | None = ts(nullable=True)
    # A publishable key's: the origins (a JSON array) its form may call from, and the form's name.
    origins: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    form: str | None = Field(default=None, sa_column=sa.Column(sa.String(100), nullable=True))
    # Where GET /confirm sends a visitor who confirmed through this key's form.
    thank_you_url: str | None = Field(default=None, sa_column=sa.Column(sa.String(2048), nullable=True))


class WebhookEndpoint(SQLModel, table=True):
    """Where a workspace wants events of some types delivered."""

    __tablename__ = "webhook_endpoint"
    __table_args__ = (sa.Index("ix_endpoint_workspace", "workspace_id"),)
    id: str = Field(sa_column=sa.Column(sa.String(36), primary_key=True))
    workspace_id: int = fk("workspace.id")
    url: str = Field(sa_column=sa.Column(sa.String(2048), nullable=False))
    event_types: list[str] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    created_at: dt.datetime = ts()


class IdempotencyKey(SQLModel, table=True):
    """A client's idempotency key: the request it named and what it answered (24 hours)."""

    __tablename__ = "idempotency_key"
    workspace_id: int = fk("workspace.id", primary_key=True)
    key: str = Field(sa_column=sa.Column(sa.String(255), primary_key=True))
    request_hash: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    response: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    created_at: dt.datetime = ts()


class PersistedQuery(SQLModel, table=True):
    """A document a client sent with its SHA-256 (automatic persisted queries), shared by every
    server process of the database; the newest 10 000 per workspace are kept."""

    __tablename__ = "persisted_query"
    __table_args__ = (sa.Index("ix_persisted_query_age", "workspace_id", "stored_at"),)
    workspace_id: int = fk("workspace.id", primary_key=True)
    sha256: str = Field(sa_column=sa.Column(sa.String(64), primary_key=True))
    document: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    stored_at: dt.datetime = ts()


class Erasure(SQLModel, table=True):
    """An `eraseContact` (issue 22): who erased which contact id, when and why — no personal
    value of the contact; what it held is gone."""

    __tablename__ = "erasure"
    __table_args__ = (sa.Index("ix_erasure_page", "workspace_id", "created_at", "id"),)
    id: str = Field(sa_column=sa.Column(sa.String(36), primary_key=True))
    workspace_id: int = fk("workspace.id")
    contact_id: int = Field(sa_column=sa.Column(BigId, nullable=False))  # the erased contact's id; no row has it any more
    actor: str | None = Field(default=None, sa_column=sa.Column(sa.String(100)))
    reason: str = Field(sa_column=sa.Column(sa.String(500), nullable=False))
    created_at: dt.datetime = ts()
    suppressed: str | None = Field(default=None, sa_column=sa.Column(sa.String(40)))  # the kinds it suppressed, comma-separated (0018)


class Suppression(SQLModel, table=True):
    """An identity an erasure keeps from coming back: the SHA-256 of an erased contact's email,
    mobile or externalId. An upsert, batch or import naming it is SKIPPED (SUPPRESSED) until
    fresh consent lifts it (a confirmed subscription, an admin's overrideSuppression)."""

    __tablename__ = "suppression"
    __table_args__ = (sa.Index("ix_suppression_page", "workspace_id", "created_at", "digest"),)
    workspace_id: int = fk("workspace.id", primary_key=True)
    digest: str = Field(sa_column=sa.Column(sa.String(64), primary_key=True))
    kind: str = Field(sa_column=sa.Column(sa.String(12), nullable=False))  # EMAIL, MOBILE, EXTERNAL_ID
    erasure_id: str = Field(sa_column=sa.Column(sa.String(36), sa.ForeignKey("erasure.id", ondelete="CASCADE"), nullable=False))
    created_at: dt.datetime = ts()
