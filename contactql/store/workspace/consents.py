"""Consent evidence (issue 21): a record per subscribe, confirm and unsubscribe of a contact's
email — the visitor's IP and user agent, the page, the form, the consent text the form showed,
the key and the time. Written in the transaction of the change it evidences (the subscribe's
upsert, upsert/effects.py; confirming, subscribe.py; unsubscribing, links), with the same time
as its history entry; never updated. `Contact.consents` reads them."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa

from contactql.store.db.bulk import insert
from contactql.store.db.columns import not_an_index_key
from contactql.store.db.tables import consent_t
from contactql.store.model import ConsentAction, Evidence

c = consent_t.c
SUBSCRIBE_WINDOW = dt.timedelta(days=1)
MAX_SHOWN = 1000  # Contact.consents' most; an export holds them all


@dataclasses.dataclass(frozen=True, slots=True)
class ConsentRow:
    action: str
    ip: str | None
    user_agent: str | None
    page_url: str | None
    form: str | None
    consent_text: str | None
    actor: str | None
    created_at: dt.datetime


_INSERT = insert(consent_t, ("workspace_id", "contact_id", "action", "ip", "user_agent", "page_url", "form", "consent_text", "actor", "created_at"))


def record(
    conn: sa.Connection, pending: Sequence[tuple[int, ConsentAction, Evidence, str | None]], *, workspace_id: int, now: dt.datetime, rid: Callable[[int], int] = int
) -> None:
    """(contact, action, evidence, key name) each; `rid` maps stand-in ids to real ones."""
    _INSERT.execute(conn, [
        {
            "workspace_id": workspace_id, "contact_id": rid(cid), "action": action.value, "ip": e.ip, "user_agent": e.user_agent,
            "page_url": e.page_url, "form": e.form, "consent_text": e.consent_text, "actor": actor, "created_at": now,
        }
        for cid, action, e, actor in pending
    ])  # fmt: skip


def consents_of(conn: sa.Connection, *, workspace_id: int, contact_ids: Sequence[int], latest: int | None = None) -> dict[int, list[ConsentRow]]:
    """The evidence of each contact, oldest first; with `latest`, only each one's newest records."""
    found: dict[int, list[ConsentRow]] = {cid: [] for cid in contact_ids}
    columns = (c.contact_id, c.action, c.ip, c.user_agent, c.page_url, c.form, c.consent_text, c.actor, c.created_at)
    where = (not_an_index_key(c.workspace_id) == workspace_id, c.contact_id.in_(contact_ids))
    if latest is None:
        query = sa.select(*columns).where(*where).order_by(c.contact_id, c.id)
    else:
        ranked = sa.select(*columns, c.id, sa.func.row_number().over(partition_by=c.contact_id, order_by=c.id.desc()).label("n")).where(*where).subquery()
        query = sa.select(*(ranked.c[col.name] for col in columns)).where(ranked.c.n <= latest).order_by(ranked.c.contact_id, ranked.c.id)
    for cid, *values in conn.execute(query):
        found[cid].append(ConsentRow(*values))
    return found


def subscribes_since(conn: sa.Connection, *, contact_ids: Sequence[int], since: dt.datetime) -> dict[int, int]:
    """The subscribe requests each contact took since `since` (a confirmation email or a
    workflow event each): what CONTACTQL_CONFIRMATIONS_PER_ADDRESS limits."""
    rows = conn.execute(
        sa.select(c.contact_id, sa.func.count())
        .where(c.contact_id.in_(contact_ids), c.action == ConsentAction.SUBSCRIBE.value, c.created_at > since)
        .group_by(c.contact_id)
    )
    return {cid: int(count) for cid, count in rows}


def as_json(row: ConsentRow) -> dict[str, Any]:
    """A record as an export writes it."""
    return {**dataclasses.asdict(row), "created_at": row.created_at.isoformat()}
