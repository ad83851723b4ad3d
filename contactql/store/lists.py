"""Static contact lists of a workspace (seed 000's listId, seed 002's groups, seed 004's segments).

A list name is unique in its workspace, compared case-insensitively; "All contacts" is every
contact, not a list.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from contactql.store.errors import Invalid
from contactql.store.tables import contact_list_t, contact_t, membership_t
from contactql.store.validate import MAX_NAME


@dataclasses.dataclass(frozen=True, slots=True)
class ListRow:
    id: str
    name: str
    created_at: dt.datetime

    @classmethod
    def from_row(cls, row: Any) -> ListRow:
        return cls(row.id, row.name, row.created_at)


def new_list_row(*, workspace_id: int, name: str, now: dt.datetime) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "workspace_id": workspace_id,
        "name": name,
        "name_key": name.lower(),
        "created_at": now,
    }


def create_list(conn: sa.Connection, *, workspace_id: int, name: str) -> ListRow:
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise Invalid.at(("name",), f"must be 1 to {MAX_NAME} characters")
    existing = conn.scalar(
        sa.select(contact_list_t.c.id).where(
            contact_list_t.c.workspace_id == workspace_id, contact_list_t.c.name_key == name.lower()
        )
    )
    if existing is not None:
        raise Invalid.at(("name",), f"a list named {name!r} already exists (id {existing})")
    row = new_list_row(workspace_id=workspace_id, name=name, now=dt.datetime.now(dt.UTC))
    conn.execute(sa.insert(contact_list_t), row)
    return ListRow(row["id"], name, row["created_at"])


def get_list(conn: sa.Connection, *, workspace_id: int, list_id: str) -> ListRow | None:
    row = (
        conn.execute(
            sa.select(contact_list_t).where(
                contact_list_t.c.workspace_id == workspace_id, contact_list_t.c.id == list_id
            )
        )
    ).first()
    return None if row is None else ListRow.from_row(row)


def page_lists(
    conn: sa.Connection, *, workspace_id: int, limit: int, after: tuple[dt.datetime, str] | None
) -> list[ListRow]:
    """Lists in creation order, keyset-paginated on (created_at, id)."""
    query = sa.select(contact_list_t).where(contact_list_t.c.workspace_id == workspace_id)
    if after is not None:
        query = query.where(sa.tuple_(contact_list_t.c.created_at, contact_list_t.c.id) > sa.tuple_(*after))
    query = query.order_by(contact_list_t.c.created_at, contact_list_t.c.id).limit(limit)
    return [ListRow.from_row(r) for r in conn.execute(query)]


def count_lists(conn: sa.Connection, *, workspace_id: int) -> int:
    query = sa.select(sa.func.count()).where(contact_list_t.c.workspace_id == workspace_id)
    return int(conn.scalar(query) or 0)


def page_and_count_lists(
    conn: sa.Connection, *, workspace_id: int, limit: int, after: tuple[dt.datetime, str] | None
) -> tuple[list[ListRow], int]:
    return page_lists(conn, workspace_id=workspace_id, limit=limit, after=after), count_lists(conn, workspace_id=workspace_id)


def list_sizes(conn: sa.Connection, *, workspace_id: int, list_ids: Sequence[str]) -> dict[str, int]:
    """Members of each list that are not deleted."""
    query = (
        sa.select(membership_t.c.list_id, sa.func.count())
        .join(contact_t, contact_t.c.id == membership_t.c.contact_id)
        .where(
            membership_t.c.list_id.in_(list_ids),
            contact_t.c.workspace_id == workspace_id,
            contact_t.c.deleted_at.is_(None),
        )
        .group_by(membership_t.c.list_id)
    )
    sizes = {row[0]: int(row[1]) for row in conn.execute(query)}
    return {list_id: sizes.get(list_id, 0) for list_id in list_ids}


def lists_of_contacts(
    conn: sa.Connection, *, workspace_id: int, contact_ids: Sequence[int]
) -> dict[int, list[ListRow]]:
    query = (
        sa.select(membership_t.c.contact_id, contact_list_t)
        .join(contact_list_t, contact_list_t.c.id == membership_t.c.list_id)
        .where(membership_t.c.contact_id.in_(contact_ids), contact_list_t.c.workspace_id == workspace_id)
        .order_by(contact_list_t.c.name_key)
    )
    found: dict[int, list[ListRow]] = {cid: [] for cid in contact_ids}
    for row in conn.execute(query):
        found[row.contact_id].append(ListRow.from_row(row))
    return found
