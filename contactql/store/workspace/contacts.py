"""Reading contacts (one, a filtered page, their related rows) and soft-deleting one.

Rows are returned as plain dicts of contact columns; the schema maps them to GraphQL types.
Pages are keyset-paginated on the contact id, so a page costs the same at any depth.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from contactql.store.db.tables import CONTACT_COLUMNS, contact_t, external_url_t, membership_t, property_value_t, value_hash
from contactql.store.errors import Invalid
from contactql.store.model import Source
from contactql.store.values import normalise_email, normalise_mobile
from contactql.store.workspace.history import PendingHistory, write_history
from contactql.store.workspace.keys import default_country
from contactql.store.workspace.properties import load_fields

c = contact_t.c


@dataclasses.dataclass(frozen=True, slots=True)
class ContactQuery:
    email: str | None = None
    mobile: str | None = None
    external_id: str | None = None
    list_id: str | None = None
    email_status: str | None = None
    sms_status: str | None = None
    updated_since: dt.datetime | None = None
    include_deleted: bool = False
    property_name: str | None = None
    property_value: str | None = None


def _row(row: Any) -> dict[str, Any]:
    return dict(zip(CONTACT_COLUMNS, row, strict=True))


def get_contact(conn: sa.Connection, *, workspace_id: int, contact_id: int) -> dict[str, Any] | None:
    """The contact, deleted or not (a deleted contact shows its `deletedAt`)."""
    row = conn.execute(sa.select(contact_t).where(c.workspace_id == workspace_id, c.id == contact_id)).first()
    return None if row is None else _row(row)


def contacts_by_ids(conn: sa.Connection, *, workspace_id: int, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    rows = conn.execute(sa.select(contact_t).where(c.workspace_id == workspace_id, c.id.in_(ids)))
    return {row.id: _row(row) for row in rows}


def _where(conn: sa.Connection, workspace_id: int, query: ContactQuery, *, joined: sa.Table | None = None) -> list[sa.ColumnElement[bool]]:
    """The filter's terms. `joined`: the query joins contacts to the memberships of the list, or
    to the property values of the property filter, and the terms name its columns."""
    where: list[sa.ColumnElement[bool]] = [c.workspace_id == workspace_id]
    if not query.include_deleted:
        where.append(c.deleted_at.is_(None))
    if query.email is not None:
        try:
            where.append(c.email == normalise_email(query.email.strip()))
        except ValueError:
            where.append(c.email == query.email.strip().lower())  # cannot match: no stored email is invalid
    if query.mobile is not None:
        # A national number is read in the workspace's default country, as when it was written.
        international = query.mobile.strip().startswith(("+", "00"))
        country = None if international else default_country(conn, workspace_id=workspace_id)
        try:
            where.append(c.mobile == normalise_mobile(query.mobile, None, country)[0])
        except ValueError:
            where.append(c.mobile == query.mobile.strip())  # cannot match: no stored mobile is invalid
    if query.external_id is not None:
        where.append(c.external_id == query.external_id.strip())
    if query.email_status is not None:
        where.append(c.email_status == query.email_status)
    if query.sms_status is not None:
        where.append(c.sms_status == query.sms_status)
    if query.updated_since is not None:
        where.append(c.updated_at >= query.updated_since)
    if query.list_id is not None:
        m = membership_t.c
        if joined is membership_t:
            where.append(m.list_id == query.list_id)
        else:
            where.append(c.id.in_(sa.select(m.contact_id).where(m.list_id == query.list_id)))
    if query.property_name is not None:
        fields = load_fields(conn, workspace_id=workspace_id)
        field = fields.by_name.get(query.property_name.strip().lower())
        if field is None:
            raise Invalid.at(("filter", "property", "name"), f"no property named {query.property_name!r}")
        pv = property_value_t.c
        try:
            value = None if query.property_value is None else field.canonical(query.property_value)
        except ValueError as error:
            raise Invalid.at(("filter", "property", "value"), str(error)) from None
        of_field = (pv.workspace_id == workspace_id, pv.field_id == field.id)
        if value is None:
            where.append(c.id.not_in(sa.select(pv.contact_id).where(*of_field)))
        else:
            equal = (*of_field, pv.value_hash == value_hash(value), pv.value == value)
            if joined is property_value_t:
                where.extend(equal)
            else:
                where.append(c.id.in_(sa.select(pv.contact_id).where(*equal)))
    return where


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
    where = _where(conn, workspace_id, query, joined=joined)
    if after_id is not None:
        where.append(key > after_id)
    rows = conn.execute(sa.select(contact_t).select_from(source).where(*where).order_by(key).limit(limit))
    return [_row(r) for r in rows]


def count_contacts(conn: sa.Connection, *, workspace_id: int, query: ContactQuery) -> int:
    where = _where(conn, workspace_id, query)
    return int(conn.scalar(sa.select(sa.func.count()).select_from(contact_t).where(*where)) or 0)


def properties_of_contacts(
    conn: sa.Connection, *, workspace_id: int, contact_ids: Sequence[int]
) -> dict[int, dict[str, str]]:
    pv = property_value_t.c
    rows = conn.execute(
        sa.select(pv.contact_id, pv.field_id, pv.value).where(pv.workspace_id == workspace_id, pv.contact_id.in_(contact_ids))
    )
    found: dict[int, dict[str, str]] = {cid: {} for cid in contact_ids}
    for cid, field_id, value in rows:
        found[cid][field_id] = value
    return found


def urls_of_contacts(
    conn: sa.Connection, *, workspace_id: int, contact_ids: Sequence[int]
) -> dict[int, list[tuple[str, str, str | None]]]:
    u = external_url_t.c
    rows = conn.execute(
        sa.select(u.contact_id, u.ref, u.url, u.label)
        .join(contact_t, c.id == u.contact_id)
        .where(c.workspace_id == workspace_id, u.contact_id.in_(contact_ids))
        .order_by(u.ref)
    )
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
