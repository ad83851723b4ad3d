"""Candidate duplicates (issue 22): groups of contacts that a match rule says are one person,
for a frontend's "review duplicates" screen.

- EMAIL: the same email, whatever their mobiles (the identity index allows one contact per
  (email, mobile) pair, so one address with two numbers is two contacts);
- MOBILE: the same mobile, whatever their emails;
- NAME_AND_EMAIL: the same email and the same first and last name, compared case-insensitively.

Deleted contacts are left out. Groups come in the order of their key (keyset pages); each holds
its contacts oldest first, at most MAX_MEMBERS of them, and its whole size.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from contactql.store.db.tables import CONTACT_COLUMNS, contact_t

MAX_MEMBERS = 50


class DuplicateRule(enum.StrEnum):
    EMAIL = "EMAIL"
    MOBILE = "MOBILE"
    NAME_AND_EMAIL = "NAME_AND_EMAIL"


@dataclasses.dataclass(frozen=True, slots=True)
class DuplicateGroup:
    key: tuple[str, ...]  # the values the contacts share, in the rule's order
    size: int
    contacts: list[dict[str, Any]]  # contact rows, oldest first, at most MAX_MEMBERS


c = contact_t.c


def _keys(rule: DuplicateRule) -> list[sa.ColumnElement[Any]]:
    if rule is DuplicateRule.EMAIL:
        return [c.email]
    if rule is DuplicateRule.MOBILE:
        return [c.mobile]
    return [c.email, sa.func.lower(sa.func.coalesce(c.first_name, "")), sa.func.lower(sa.func.coalesce(c.last_name, ""))]


def duplicate_groups(conn: sa.Connection, *, workspace_id: int, rule: DuplicateRule, limit: int, after: Sequence[str] | None) -> list[DuplicateGroup]:
    """Up to `limit` groups of two or more contacts whose keys come after `after`."""
    keys = _keys(rule)
    where = [c.workspace_id == workspace_id, c.deleted_at.is_(None), keys[0].is_not(None)]
    if after is not None:
        where.append(sa.tuple_(*keys) > sa.tuple_(*after) if len(keys) > 1 else keys[0] > after[0])
    labelled = [k.label(f"k{i}") for i, k in enumerate(keys)]
    groups = conn.execute(
        sa.select(*labelled, sa.func.count().label("size")).where(*where).group_by(*keys).having(sa.func.count() > 1).order_by(*keys).limit(limit)
    ).all()
    if not groups:
        return []
    wanted = {tuple(row[: len(keys)]) for row in groups}
    ranked = (
        sa.select(*[c[name] for name in CONTACT_COLUMNS], *labelled, sa.func.row_number().over(partition_by=keys, order_by=(c.created_at, c.id)).label("n"))
        .where(c.workspace_id == workspace_id, c.deleted_at.is_(None), keys[0].in_({key[0] for key in wanted}))
        .subquery()
    )
    members: dict[tuple[str, ...], list[dict[str, Any]]] = {key: [] for key in wanted}
    query = sa.select(ranked).where(ranked.c.n <= MAX_MEMBERS).order_by(*[ranked.c[f"k{i}"] for i in range(len(keys))], ranked.c.n)
    for row in conn.execute(query):
        key = tuple(row._mapping[f"k{i}"] for i in range(len(keys)))
        if key in members:  # the first key matched; a NAME_AND_EMAIL group also needs the names
            members[key].append({name: row._mapping[name] for name in CONTACT_COLUMNS})
    return [DuplicateGroup(tuple(row[: len(keys)]), int(row.size), members[tuple(row[: len(keys)])]) for row in groups]


def count_groups(conn: sa.Connection, *, workspace_id: int, rule: DuplicateRule) -> int:
    keys = _keys(rule)
    grouped = (
        sa.select(*keys).where(c.workspace_id == workspace_id, c.deleted_at.is_(None), keys[0].is_not(None)).group_by(*keys).having(sa.func.count() > 1).subquery()
    )
    return int(conn.scalar(sa.select(sa.func.count()).select_from(grouped)) or 0)
