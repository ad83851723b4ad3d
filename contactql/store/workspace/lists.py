"""Static contact lists of a workspace (seed 000's listId, seed 002's groups, seed 004's segments).

A list name is unique in its workspace, compared case-insensitively; "All contacts" is every
contact, not a list.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import unicodedata
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from contactql.store.db.columns import not_an_index_key
from contactql.store.db.reads import Read
from contactql.store.db.tables import contact_list_t, contact_t, membership_t
from contactql.store.errors import ErrorCode, Invalid, NotFound
from contactql.store.model import Source
from contactql.store.values import MAX_NAME, parse_contact_id
from contactql.store.workspace.history import PendingHistory, write_history


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


def checked_name(name: str) -> str:
    """A list's name as createList and renameList take it, or Invalid at ("name",)."""
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise Invalid.at(("name",), f"must be 1 to {MAX_NAME} characters")
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in name):
        raise Invalid.at(("name",), "must not contain control or invisible characters (line breaks, zero-width spaces)")
    return name


def create_list(conn: sa.Connection, *, workspace_id: int, name: str) -> ListRow:
    name = checked_name(name)
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


_LISTS_OF = Read(
    sa.select(membership_t.c.contact_id, contact_list_t.c.id, contact_list_t.c.name, contact_list_t.c.created_at)
    .join(contact_list_t, contact_list_t.c.id == membership_t.c.list_id)
    .where(membership_t.c.contact_id.in_(sa.bindparam("ids", expanding=True)), not_an_index_key(contact_list_t.c.workspace_id) == sa.bindparam("ws"))
    .order_by(contact_list_t.c.name_key)
)


def lists_of_contacts(
    conn: sa.Connection, *, workspace_id: int, contact_ids: Sequence[int]
) -> dict[int, list[ListRow]]:
    found: dict[int, list[ListRow]] = {cid: [] for cid in contact_ids}
    for cid, list_id, name, created_at in _LISTS_OF.rows(conn, {"ws": workspace_id, "ids": contact_ids}):
        found[cid].append(ListRow(list_id, name, created_at))
    return found


MAX_MEMBERSHIP_IDS = 500  # seed 004: at most 500 contacts per attach/detach


def change_members(
    conn: sa.Connection,
    *,
    workspace_id: int,
    list_id: str,
    contact_ids: Sequence[str] | None,
    external_ids: Sequence[str] | None,
    add: bool,
    actor: str | None,
) -> tuple[ListRow, int, list[str]]:
    """Attach (add) or detach contacts by id or externalId (seed 004's static segments).
    Detaching with no ids empties the list. Returns the list, how many memberships changed,
    and the ids that name no contact of the workspace. Each changed contact gets a history
    entry and a new updatedAt, as any other write of its lists."""
    found = get_list(conn, workspace_id=workspace_id, list_id=list_id)
    if found is None:
        raise NotFound.at(("listId",), f"no list with id {list_id}", ErrorCode.LIST_NOT_FOUND)
    given = len(contact_ids or ()) + len(external_ids or ())
    if given > MAX_MEMBERSHIP_IDS:
        raise Invalid.at(("contactIds",), f"{given} ids; at most {MAX_MEMBERSHIP_IDS} per call")
    c, m = contact_t.c, membership_t.c
    unknown: list[str] = []
    targets: set[int] = set()
    if contact_ids:
        numeric = {raw: parse_contact_id(raw) for raw in contact_ids}
        known = set(conn.scalars(sa.select(c.id).where(c.workspace_id == workspace_id, c.id.in_([v for v in numeric.values() if v]))))
        unknown += [raw for raw, value in numeric.items() if value not in known]
        targets |= known
    if external_ids:
        by_external = dict(conn.execute(sa.select(c.external_id, c.id).where(c.workspace_id == workspace_id, c.external_id.in_(external_ids))).all())
        unknown += [raw for raw in dict.fromkeys(external_ids) if raw not in by_external]
        targets |= set(by_external.values())
    members = set(conn.scalars(sa.select(m.contact_id).where(m.list_id == list_id)))
    if add:
        changed = sorted(targets - members)
    else:
        changed = sorted(members if contact_ids is None and external_ids is None else targets & members)
    if changed:
        record_members(conn, workspace_id=workspace_id, list_id=list_id, contact_ids=changed, add=add, source=Source.API, actor=actor, now=dt.datetime.now(dt.UTC))
    return found, len(changed), unknown


def record_members(
    conn: sa.Connection, *, workspace_id: int, list_id: str, contact_ids: Sequence[int], add: bool, source: Source, actor: str | None, now: dt.datetime
) -> None:
    """Attach or detach these contacts (none of them already so), each with a new updatedAt and
    a history entry of its lists before and after."""
    c, m = contact_t.c, membership_t.c
    before: dict[int, set[str]] = {cid: set() for cid in contact_ids} | {cid: set(ids) for cid, ids in _memberships(conn, contact_ids).items()}
    if add:
        conn.execute(sa.insert(membership_t), [{"list_id": list_id, "contact_id": cid, "created_at": now} for cid in contact_ids])
    else:
        conn.execute(sa.delete(membership_t).where(m.list_id == list_id, m.contact_id.in_(contact_ids)))
    conn.execute(sa.update(contact_t).where(c.id.in_(contact_ids)).values(updated_at=now))
    entries = [
        PendingHistory(cid, [("lists", sorted(before[cid]), sorted(before[cid] | {list_id} if add else before[cid] - {list_id}))], source, actor, None)
        for cid in contact_ids
    ]
    write_history(conn, entries, workspace_id=workspace_id, now=now)


def _memberships(conn: sa.Connection, contact_ids: Sequence[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for cid, list_id in conn.execute(sa.select(membership_t.c.contact_id, membership_t.c.list_id).where(membership_t.c.contact_id.in_(contact_ids))):
        found.setdefault(cid, []).append(list_id)
    return found


def ensure_list(conn: sa.Connection, *, workspace_id: int, name: str) -> ListRow:
    """The list with this name (any case), created when there is none."""
    row = conn.execute(
        sa.select(contact_list_t).where(contact_list_t.c.workspace_id == workspace_id, contact_list_t.c.name_key == name.strip().lower())
    ).first()
    return ListRow.from_row(row) if row is not None else create_list(conn, workspace_id=workspace_id, name=name)


def lock_list(conn: sa.Connection, *, workspace_id: int, list_id: str) -> str | None:
    """The list's id if it exists, its row locked to the end of the transaction on PostgreSQL
    (SQLite's writer is alone anyway): a batch stored with it and a deleteList of it are one
    after the other, never both past their checks."""
    query = sa.select(contact_list_t.c.id).where(contact_list_t.c.workspace_id == workspace_id, contact_list_t.c.id == list_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    return conn.scalar(query)
