"""`contactStats`: how many contacts a filter and search find, by status and by list — a
dashboard's counts, each one statement over the matching contacts (store/workspace/filters.py).

A count reads every matching row: over a whole workspace a status count reads its status index
(`ix_contact_email_status` holds workspace, status and id), a list count the memberships of the
matching contacts."""

from __future__ import annotations

import sqlalchemy as sa

from contactql.store.db.tables import contact_list_t, contact_t, membership_t
from contactql.store.workspace.filters import ContactQuery, where_terms
from contactql.store.workspace.lists import ListRow

c = contact_t.c
_STATUS = {"email": c.email_status, "sms": c.sms_status}


def count_by_status(conn: sa.Connection, *, workspace_id: int, query: ContactQuery, channel: str) -> list[tuple[str, int]]:
    """(status, contacts) for each status some matching contact has, most contacts first."""
    status = _STATUS[channel]
    counted = sa.func.count().label("n")
    statement = sa.select(status, counted).where(*where_terms(conn, workspace_id, query)).group_by(status).order_by(counted.desc(), status)
    return [(str(value), int(n)) for value, n in conn.execute(statement)]


def count_by_list(conn: sa.Connection, *, workspace_id: int, query: ContactQuery) -> list[tuple[ListRow, int]]:
    """(list, matching contacts in it) for each list with any, most contacts first."""
    m, lists = membership_t.c, contact_list_t.c
    counted = sa.func.count().label("n")
    members = (
        sa.select(m.list_id, counted)
        .select_from(membership_t.join(contact_t, c.id == m.contact_id))
        .where(*where_terms(conn, workspace_id, query))
        .group_by(m.list_id)
        .subquery()
    )
    statement = (
        sa.select(lists.id, lists.name, lists.created_at, members.c.n)
        .join(members, members.c.list_id == lists.id)
        .where(lists.workspace_id == workspace_id)
        .order_by(members.c.n.desc(), lists.created_at, lists.id)
    )
    return [(ListRow(row.id, row.name, row.created_at), int(row.n)) for row in conn.execute(statement)]
