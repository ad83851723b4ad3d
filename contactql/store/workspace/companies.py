"""Companies a contact can be linked to (seed 002: "verify that the given company exists")."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from contactql.store.db.columns import not_an_index_key
from contactql.store.db.reads import Read
from contactql.store.db.tables import company_t, contact_company_t
from contactql.store.errors import Invalid
from contactql.store.values import MAX_TEXT


@dataclasses.dataclass(frozen=True, slots=True)
class CompanyRow:
    id: str
    name: str

    @classmethod
    def from_row(cls, row: Any) -> CompanyRow:
        return cls(row.id, row.name)


def create_company(conn: sa.Connection, *, workspace_id: int, name: str) -> CompanyRow:
    name = name.strip()
    if not name or len(name) > MAX_TEXT:
        raise Invalid.at(("name",), f"must be 1 to {MAX_TEXT} characters")
    existing = conn.scalar(
        sa.select(company_t.c.id).where(company_t.c.workspace_id == workspace_id, company_t.c.name_key == name.lower())
    )
    if existing is not None:
        raise Invalid.at(("name",), f"a company named {name!r} already exists (id {existing})")
    company_id = str(uuid.uuid4())
    row = {
        "id": company_id,
        "workspace_id": workspace_id,
        "name": name,
        "name_key": name.lower(),
        "created_at": dt.datetime.now(dt.UTC),
    }
    conn.execute(sa.insert(company_t), row)
    return CompanyRow(company_id, name)


def existing_company_ids(conn: sa.Connection, *, workspace_id: int, ids: Sequence[str]) -> set[str]:
    if not ids:
        return set()
    query = sa.select(company_t.c.id).where(company_t.c.workspace_id == workspace_id, company_t.c.id.in_(ids))
    return set(conn.scalars(query).all())


def companies_by_ids(conn: sa.Connection, *, workspace_id: int, ids: Iterable[str]) -> list[CompanyRow]:
    """The workspace's companies among `ids`, by name (as a contact's companies are listed)."""
    ids = list(ids)
    if not ids:
        return []
    query = sa.select(company_t.c.id, company_t.c.name).where(company_t.c.workspace_id == workspace_id, company_t.c.id.in_(ids))
    return [CompanyRow(row.id, row.name) for row in conn.execute(query.order_by(company_t.c.name_key))]


_COMPANIES_OF = Read(
    sa.select(contact_company_t.c.contact_id, company_t.c.id, company_t.c.name)
    .join(company_t, company_t.c.id == contact_company_t.c.company_id)
    .where(contact_company_t.c.contact_id.in_(sa.bindparam("ids", expanding=True)), not_an_index_key(company_t.c.workspace_id) == sa.bindparam("ws"))
    .order_by(company_t.c.name_key)
)


def companies_of_contacts(
    conn: sa.Connection, *, workspace_id: int, contact_ids: Sequence[int]
) -> dict[int, list[CompanyRow]]:
    found: dict[int, list[CompanyRow]] = {cid: [] for cid in contact_ids}
    for cid, company_id, name in _COMPANIES_OF.rows(conn, {"ws": workspace_id, "ids": contact_ids}):
        found[cid].append(CompanyRow(company_id, name))
    return found
