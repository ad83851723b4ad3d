"""Double opt-in (seed 004): the tokens a subscription sends, and confirming one. The subscribe
itself is an upsert (resolvers/subscribe.py); its token and events are written with it
(upsert/effects.py)."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any

import sqlalchemy as sa

from contactql.store.db.tables import contact_t, token_t
from contactql.store.errors import NotFound
from contactql.store.model import EmailStatus, Source
from contactql.store.workspace.history import PendingHistory, write_history

TOKEN_LIFETIME = dt.timedelta(days=7)


def new_token() -> str:
    """A double opt-in token: 192 random bits."""
    return secrets.token_urlsafe(24)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def confirm(conn: sa.Connection, *, workspace_id: int, token: str, actor: str | None) -> tuple[dict[str, Any], list[str]]:
    """Use a double opt-in token: the contact's email becomes SUBSCRIBED and the contact
    confirmed. Returns the contact row and the changed fields; NotFound for a token that is
    unknown, used, expired or of another workspace."""
    now = dt.datetime.now(dt.UTC)
    t = token_t.c
    used = conn.execute(
        sa.update(token_t)
        .where(t.token_hash == token_digest(token), t.workspace_id == workspace_id, t.used_at.is_(None), t.created_at > now - TOKEN_LIFETIME)
        .values(used_at=now)
        .returning(t.contact_id)
    ).first()
    if used is None:
        raise NotFound.at(("token",), "no pending confirmation has this token (unknown, used or expired)")
    row = dict(conn.execute(sa.select(contact_t).where(contact_t.c.id == used.contact_id)).one()._mapping)
    changes = [("emailStatus", row["email_status"], EmailStatus.SUBSCRIBED.value), ("confirmed", row["confirmed"], True)]
    changes = [c for c in changes if c[1] != c[2]]
    if changes:
        row.update(email_status=EmailStatus.SUBSCRIBED.value, confirmed=True, updated_at=now)
        conn.execute(sa.update(contact_t).where(contact_t.c.id == row["id"]).values(email_status=row["email_status"], confirmed=True, updated_at=now))
        entry = PendingHistory(row["id"], changes, Source.SUBSCRIBE, actor, None)
        write_history(conn, [entry], workspace_id=workspace_id, now=now)
    return row, [c[0] for c in changes]
