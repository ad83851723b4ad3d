"""Reading contacts (one, a filtered page, their related rows) and soft-deleting one.

Rows are returned as plain dicts of contact columns; the schema maps them to GraphQL types.
Pages are keyset-paginated on the contact id, so a page costs the same at any depth.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from contactql.store.db.reads import Read
from contactql.store.db.tables import CONTACT_COLUMNS, contact_t, external_url_t, membership_t, property_value_t
from contactql.store.model import Source
from contactql.store.workspace.companies import companies_of_contacts
from contactql.store.workspace.filters import ContactQuery, where_terms
from contactql.store.workspace.history import PendingHistory, write_history
from contactql.store.workspace.lists import lists_of_contacts
from contactql.store.workspace.properties import FieldSet

if TYPE_CHECKING:
    from contactql.store.upsert.cache import Catalog  # which imports this package: a name for types only

c = contact_t.c


def _row(row: Any) -> dict[str, Any]:
    return dict(zip(CONTACT_COLUMNS, row, strict=True))


def get_contact(conn: sa.Connection, *, workspace_id: int, contact_id: int) -> dict[str, Any] | None:
    """The contact, deleted or not (a deleted contact shows its `deletedAt`)."""
    row = conn.execute(sa.select(contact_t).where(c.workspace_id == workspace_id, c.id == contact_id)).first()
    return None if row is None else _row(row)


def contacts_by_ids(conn: sa.Connection, *, workspace_id: int, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    rows = conn.execute(sa.select(contact_t).where(c.workspace_id == workspace_id, c.id.in_(ids)))
    return {row.id: _row(row) for row in rows}


def page_contacts(
    conn: sa.Connection, *, workspace_id: int, query: ContactQuery, limit: int, after_id: int | None
) -> list[dict[str, Any]]:
    """A page in id order, read from an index in that order — the list's memberships, the
    property's values (ix_property_value_hash ends with the contact id), else the workspace's
    contacts (ix_contact_page) — so it stops after `limit` matches, at any depth (docs/user-guide.md,
    "Reading": the status filters have no index of their own)."""
    if query.list_id is not None:
        joined, key = membership_t, membership_t.c.contact_id
    elif query.property_name is not None and query.property_value is not None:
        joined, key = property_value_t, property_value_t.c.contact_id
    else:
        joined, key = None, c.id
    source = contact_t if joined is None else joined.join(contact_t, c.id == key)
    where = where_terms(conn, workspace_id, query, joined=joined)
    if after_id is not None:
        where.append(key > after_id)
    rows = conn.execute(sa.select(contact_t).select_from(source).where(*where).order_by(key).limit(limit))
    return [_row(r) for r in rows]


def count_contacts(conn: sa.Connection, *, workspace_id: int, query: ContactQuery) -> int:
    where = where_terms(conn, workspace_id, query)
    return int(conn.scalar(sa.select(sa.func.count()).select_from(contact_t).where(*where)) or 0)


_pv, _u = property_value_t.c, external_url_t.c
_PROPERTIES = Read(sa.select(_pv.contact_id, _pv.field_id, _pv.value).where(_pv.workspace_id == sa.bindparam("ws"), _pv.contact_id.in_(sa.bindparam("ids", expanding=True))))
_URLS = Read(
    sa.select(_u.contact_id, _u.ref, _u.url, _u.label)
    .join(contact_t, c.id == _u.contact_id)
    .where(c.workspace_id == sa.bindparam("ws"), _u.contact_id.in_(sa.bindparam("ids", expanding=True)))
    .order_by(_u.ref)
)


def properties_of_contacts(
    conn: sa.Connection, *, workspace_id: int, contact_ids: Sequence[int]
) -> dict[int, dict[str, str]]:
    rows = _PROPERTIES.rows(conn, {"ws": workspace_id, "ids": contact_ids})  # one fetch: an export reads a thousand contacts' values at a time
    found: dict[int, dict[str, str]] = {cid: {} for cid in contact_ids}
    for cid, field_id, value in rows:
        found[cid][field_id] = value
    return found


def properties_of_id_range(conn: sa.Connection, *, workspace_id: int, first: int, last: int) -> dict[int, dict[str, str]]:
    """The property values of the workspace's contacts with ids from `first` to `last`."""
    pv = property_value_t.c
    rows = conn.execute(
        sa.select(pv.contact_id, pv.field_id, pv.value).where(pv.contact_id >= first, pv.contact_id <= last, pv.workspace_id == workspace_id)
    ).all()
    found: dict[int, dict[str, str]] = {}
    for cid, field_id, value in rows:
        found.setdefault(cid, {})[field_id] = value
    return found


def urls_of_contacts(
    conn: sa.Connection, *, workspace_id: int, contact_ids: Sequence[int]
) -> dict[int, list[tuple[str, str, str | None]]]:
    rows = _URLS.rows(conn, {"ws": workspace_id, "ids": contact_ids})
    found: dict[int, list[tuple[str, str, str | None]]] = {cid: [] for cid in contact_ids}
    for cid, ref, url, label in rows:
        found[cid].append((ref, url, label))
    return found


def delete_contact(conn: sa.Connection, *, workspace_id: int, contact_id: int, actor: str | None) -> bool:
    """Soft delete: the contact keeps its identity and can be restored by an upsert with
    `restoreDeleted: true` (seed 004). Deleting a deleted contact changes nothing."""
    now = dt.datetime.now(dt.UTC)
    found = conn.scalar(
        sa.select(c.deleted_at.is_(None)).where(c.workspace_id == workspace_id, c.id == contact_id)
    )
    if found is None:
        return False
    if found:
        conn.execute(
            sa.update(contact_t).where(c.workspace_id == workspace_id, c.id == contact_id).values(deleted_at=now, updated_at=now)
        )
        entry = PendingHistory(contact_id, [("deletedAt", None, now)], Source.API, actor, None)
        write_history(conn, [entry], workspace_id=workspace_id, now=now)
    return True


_RELATIONS: dict[str, Callable[..., dict[int, Any]]] = {
    "properties": properties_of_contacts, "lists": lists_of_contacts, "companies": companies_of_contacts, "urls": urls_of_contacts,
}  # fmt: skip
NO_RELATION: dict[str, Any] = {"properties": {}, "lists": [], "companies": [], "urls": []}  # a contact's when it has none


def relations_of_contacts(conn: sa.Connection, *, workspace_id: int, contact_ids: Sequence[int], wanted: frozenset[str]) -> dict[str, dict[int, Any]]:
    """The relations `wanted` ("properties", "lists", "companies", "urls") of a page's contacts,
    each one statement, all in one transaction: a page's relations cost one trip to the
    database's thread instead of one each."""
    return {name: read(conn, workspace_id=workspace_id, contact_ids=contact_ids) for name, read in _RELATIONS.items() if name in wanted}


def relations_by_name(
    conn: sa.Connection, *, workspace_id: int, wanted: Mapping[str, Sequence[int]], catalog: Catalog | None = None
) -> tuple[dict[str, dict[int, Any]], FieldSet | None]:
    """Each relation of `wanted` for its own contacts, one statement each, in one transaction;
    with a `catalog`, the workspace's property fields as this transaction sees them too."""
    found = {name: _RELATIONS[name](conn, workspace_id=workspace_id, contact_ids=ids) for name, ids in wanted.items()}
    return found, None if catalog is None else catalog.fields(conn, workspace_id)
