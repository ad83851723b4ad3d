"""SQLModel tables: the only place the physical schema is written down, one module per concept
(contacts.py, jobs.py, workspace.py); this module names each table for the store's queries.

Every row that belongs to a workspace carries `workspace_id` (denormalised onto property values
so the PROPERTIES match rule is one indexed lookup), and every query in `store/` filters on it.
"""

import sqlalchemy as sa
from sqlmodel import SQLModel

from contactql.store.db.tables.contacts import (
    Company,
    ConfirmationToken,
    Consent,
    Contact,
    ContactAlias,
    ContactCompany,
    ContactHistory,
    ContactList,
    Event,
    ExternalUrl,
    ListMembership,
    PropertyField,
    PropertyValue,
    Segment,
)
from contactql.store.db.tables.jobs import Batch, BatchPart, BatchResult, BulkJob, Export, ExportChunk, WebhookDelivery
from contactql.store.db.tables.workspace import ApiKey, Erasure, IdempotencyKey, PersistedQuery, Suppression, WebhookEndpoint, Workspace

metadata = SQLModel.metadata


def _table(model: type[SQLModel]) -> sa.Table:
    return metadata.tables[str(model.__tablename__)]


contact_t = _table(Contact)
# Made by hand in migrations, outside this metadata, as they differ by engine: the search index
# of contact.search_text (0007: an FTS5 table and its shadow tables on SQLite, a pg_trgm GIN
# index on PostgreSQL), the property order indexes (0012: expressions) and SQLite's id_floor (0018).
HAND_MADE = ("contact_search", "ix_contact_search", "ix_property_value_number", "ix_property_value_text", "id_floor")


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
batch_part_t = _table(BatchPart)
batch_result_t = _table(BatchResult)
webhook_delivery_t = _table(WebhookDelivery)
idempotency_t = _table(IdempotencyKey)
event_t = _table(Event)
history_t = _table(ContactHistory)
token_t = _table(ConfirmationToken)
consent_t = _table(Consent)
endpoint_t = _table(WebhookEndpoint)
segment_t = _table(Segment)
export_t = _table(Export)
export_chunk_t = _table(ExportChunk)
persisted_query_t = _table(PersistedQuery)
erasure_t = _table(Erasure)
suppression_t = _table(Suppression)
alias_t = _table(ContactAlias)
bulk_job_t = _table(BulkJob)

__all__ = [  # the models, for the few places that build rows from them
    "ApiKey",
    "Batch",
    "BatchPart",
    "BatchResult",
    "BulkJob",
    "Company",
    "ConfirmationToken",
    "Consent",
    "Contact",
    "ContactCompany",
    "ContactHistory",
    "ContactList",
    "Erasure",
    "Event",
    "Export",
    "ExportChunk",
    "ExternalUrl",
    "IdempotencyKey",
    "ListMembership",
    "PersistedQuery",
    "PropertyField",
    "PropertyValue",
    "Segment",
    "Suppression",
    "WebhookDelivery",
    "WebhookEndpoint",
    "Workspace",
]
