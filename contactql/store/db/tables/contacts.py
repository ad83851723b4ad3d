"""Contacts and what hangs off them: property fields and values, lists, companies, external
URLs, events, history, confirmation tokens and saved segments.

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
        # Deleted contacts, oldest deletion first, for retention's purge: live contacts are not in it (0016).
        sa.Index("ix_contact_deleted", "deleted_at", sqlite_where=sa.text("deleted_at IS NOT NULL"), postgresql_where=sa.text("deleted_at IS NOT NULL")),
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
    """A double opt-in token (seed 004), kept only as its SHA-256 digest; used once. The key
    that asked for it names the thank-you page of GET /confirm; a form's names for a known contact
    wait here for the confirmation. It confirms the address it was sent to, not whatever the
    contact's email is by then."""

    __tablename__ = "confirmation_token"
    __table_args__ = (sa.Index("ix_token_contact", "contact_id", "created_at"),)
    token_hash: str = Field(sa_column=sa.Column(sa.String(64), primary_key=True))
    workspace_id: int = fk("workspace.id")
    contact_id: int = fk("contact.id")
    created_at: dt.datetime = ts()
    used_at: dt.datetime | None = ts(nullable=True)
    api_key_id: int | None = Field(default=None, sa_column=sa.Column(BigId, nullable=True))
    email: str | None = Field(default=None, sa_column=sa.Column(sa.String(255), nullable=True))  # the address it was sent to (0016)
    # Names a form sent for an address already known, written only once the address confirms.
    held: dict[str, Any] | None = Field(default=None, sa_column=sa.Column(sa.JSON, nullable=True))


class Consent(SQLModel, table=True):
    """Consent evidence (issue 21): who subscribed, confirmed or unsubscribed a contact's email,
    from where, having been shown what. Written with the change it evidences; never updated."""

    __tablename__ = "consent"
    __table_args__ = (sa.Index("ix_consent_contact", "contact_id", "id"),)
    id: int | None = Field(default=None, sa_column=sa.Column(BigId, primary_key=True))
    workspace_id: int = fk("workspace.id")
    contact_id: int = fk("contact.id")
    action: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))  # SUBSCRIBE, CONFIRM, UNSUBSCRIBE
    ip: str | None = Field(default=None, sa_column=sa.Column(sa.String(45)))
    user_agent: str | None = Field(default=None, sa_column=sa.Column(sa.String(500)))
    page_url: str | None = Field(default=None, sa_column=sa.Column(sa.String(2048)))
    form: str | None = Field(default=None, sa_column=sa.Column(sa.String(100)))
    consent_text: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    actor: str | None = Field(default=None, sa_column=sa.Column(sa.String(100)))
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


class ContactAlias(SQLModel, table=True):
    """An identity a contact merged into this one had (mergeContacts, issue 22): an upsert that
    names it finds this contact (store/upsert/chunk.py) instead of recreating the duplicate.
    `kind` is EXTERNAL_ID, EMAIL, MOBILE or PAIR (the email and mobile together, "email\nmobile",
    either may be empty: the default EMAIL_AND_MOBILE rule's key), or ID (a merged contact's id,
    for links made for it). Erased with the contact."""

    __tablename__ = "contact_alias"
    __table_args__ = (sa.Index("ix_contact_alias_contact", "contact_id"),)
    workspace_id: int = fk("workspace.id", primary_key=True)
    kind: str = Field(sa_column=sa.Column(sa.String(12), primary_key=True))
    value: str = Field(sa_column=sa.Column(sa.String(400), primary_key=True))
    contact_id: int = fk("contact.id")
    created_at: dt.datetime = ts()
