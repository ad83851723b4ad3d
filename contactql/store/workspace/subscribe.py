"""Double opt-in (seed 004): the tokens a subscription sends, and confirming one; signed
unsubscribe links (links.py serves both as pages). The subscribe itself is an upsert
(resolvers/subscribe.py); its token and events are written with it (upsert/effects.py)."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import hmac
import secrets
from typing import Any

import sqlalchemy as sa

from contactql.store.db.tables import api_key_t, contact_t, token_t, workspace_t
from contactql.store.errors import NotFound
from contactql.store.model import ConsentAction, EmailStatus, Evidence, Source
from contactql.store.workspace import consents, erase, merge
from contactql.store.workspace.history import PendingHistory, write_history
from contactql.store.workspace.search import search_text

TOKEN_LIFETIME = dt.timedelta(days=7)
HELD_COLUMNS = {"first_name": "firstName", "last_name": "lastName"}  # what a token may hold until confirmed


def new_token() -> str:
    """A double opt-in token: 192 random bits."""
    return secrets.token_urlsafe(24)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclasses.dataclass(frozen=True, slots=True)
class Confirmed:
    row: dict[str, Any]  # the contact
    changed: list[str]  # the fields confirming changed (none when it already was)
    thank_you_url: str | None  # the page of the form (the key) that asked for the token


def confirm(conn: sa.Connection, *, workspace_id: int | None, token: str, actor: str | None, evidence: Evidence, now: dt.datetime | None = None) -> Confirmed:
    """Use a double opt-in token: the contact's email becomes SUBSCRIBED and the contact
    confirmed, with a history entry and the consent evidence. NotFound for a token that is
    unknown, used, expired, of a deleted contact or one whose email is no longer the one it was
    sent to, or of another workspace (`workspace_id`; None from a link, which
    names no workspace but the token's). `now`: the time it happens (tests move it)."""
    now = now or dt.datetime.now(dt.UTC)
    t = token_t.c
    where = [t.token_hash == token_digest(token), t.used_at.is_(None), t.created_at > now - TOKEN_LIFETIME]
    if workspace_id is not None:
        where.append(t.workspace_id == workspace_id)
    used = conn.execute(sa.update(token_t).where(*where).values(used_at=now).returning(t.contact_id, t.workspace_id, t.api_key_id, t.held, t.email)).first()
    if used is None:
        raise NotFound.at(("token",), "no pending confirmation has this token (unknown, used or expired)")
    row = dict(conn.execute(sa.select(contact_t).where(contact_t.c.id == used.contact_id)).one()._mapping)
    # Raising rolls the token's use back: a deleted contact restored, the link works again. A
    # contact whose email changed since keeps it unconfirmed: the new address confirmed nothing.
    if row["deleted_at"] is not None or (used.email is not None and row["email"] != used.email):
        raise NotFound.at(("token",), "no pending confirmation has this token (unknown, used or expired)")
    held = {column: value for column, value in (used.held or {}).items() if column in HELD_COLUMNS}
    changes = [("emailStatus", row["email_status"], EmailStatus.SUBSCRIBED.value), ("confirmed", row["confirmed"], True)]
    changes += [(HELD_COLUMNS[column], row[column], value) for column, value in held.items()]
    changes = [c for c in changes if c[1] != c[2]]
    if changes:
        values = {"email_status": EmailStatus.SUBSCRIBED.value, "confirmed": True, **held, "updated_at": now}
        row.update(values)
        if held:
            values["search_text"] = row["search_text"] = search_text(row)
        conn.execute(sa.update(contact_t).where(contact_t.c.id == row["id"]).values(values))
        entry = PendingHistory(row["id"], changes, Source.SUBSCRIBE, actor, None)
        write_history(conn, [entry], workspace_id=used.workspace_id, now=now)
    key = None if used.api_key_id is None else conn.execute(sa.select(api_key_t.c.form, api_key_t.c.thank_you_url).where(api_key_t.c.id == used.api_key_id)).first()
    if key is not None and evidence.form is None:
        evidence = dataclasses.replace(evidence, form=key.form)
    consents.record(conn, [(row["id"], ConsentAction.CONFIRM, evidence, actor)], workspace_id=used.workspace_id, now=now)
    # Fresh consent from the owner of this email: it may come back (erase.py); nothing else the
    # contact holds is vouched for by the confirmation.
    erase.lift(conn, workspace_id=used.workspace_id, digests=erase.digests_of({"email": row["email"]}))
    return Confirmed(row, [c[0] for c in changes], None if key is None else key.thank_you_url)


def link_secret(conn: sa.Connection, workspace_id: int) -> bytes:
    """The workspace's key for signing unsubscribe links, made on first use (by whichever
    transaction comes first: the UPDATE changes only a missing one)."""
    w = workspace_t.c
    conn.execute(sa.update(workspace_t).where(w.id == workspace_id, w.link_secret.is_(None)).values(link_secret=secrets.token_hex(32)))
    return bytes.fromhex(conn.scalar(sa.select(w.link_secret).where(w.id == workspace_id)) or "")


def unsubscribe_token(secret: bytes, workspace_id: int, contact_id: int) -> str:
    """`workspace.contact.signature`: a link per contact that cannot be made for another one
    without the workspace's secret (HMAC-SHA256, 128 bits kept)."""
    signed = f"{workspace_id}.{contact_id}"
    digest = hmac.new(secret, signed.encode(), hashlib.sha256).digest()[:16]
    return f"{signed}.{base64.urlsafe_b64encode(digest).decode().rstrip('=')}"


def unsubscribe(conn: sa.Connection, *, token: str, actor: str | None, evidence: Evidence) -> dict[str, Any]:
    """Use an unsubscribe link: the contact's email becomes UNSUBSCRIBED (a history entry and
    the consent evidence; nothing when it already was, so a link clicked again and again
    writes once). NotFound for a token that is
    not one of ours or names a deleted contact."""
    gone = NotFound.at(("token",), "this unsubscribe link is not valid")
    parts = token.split(".")
    if len(parts) != 3 or not token.isascii() or not all(p.isdigit() and len(p) < 18 for p in parts[:2]):
        raise gone
    workspace_id, contact_id = int(parts[0]), int(parts[1])
    if conn.scalar(sa.select(workspace_t.c.id).where(workspace_t.c.id == workspace_id)) is None:
        raise gone
    if not hmac.compare_digest(unsubscribe_token(link_secret(conn, workspace_id), workspace_id, contact_id), token):
        raise gone
    live = sa.select(contact_t).where(contact_t.c.id == sa.bindparam("id"), contact_t.c.workspace_id == workspace_id, contact_t.c.deleted_at.is_(None))
    found = conn.execute(live, {"id": contact_id}).first()
    if found is None and (survivor := merge.survivor_of(conn, workspace_id=workspace_id, contact_id=contact_id)) != contact_id:
        # A contact merged into another: its links unsubscribe the survivor (workspace/merge.py).
        contact_id = survivor
        found = conn.execute(live, {"id": contact_id}).first()
    if found is None:
        raise gone
    row = dict(found._mapping)
    now = dt.datetime.now(dt.UTC)
    if row["email_status"] != EmailStatus.UNSUBSCRIBED.value:
        changes = [("emailStatus", row["email_status"], EmailStatus.UNSUBSCRIBED.value)]
        row.update(email_status=EmailStatus.UNSUBSCRIBED.value, updated_at=now)
        conn.execute(sa.update(contact_t).where(contact_t.c.id == contact_id).values(email_status=row["email_status"], updated_at=now))
        write_history(conn, [PendingHistory(contact_id, changes, Source.SUBSCRIBE, actor, None)], workspace_id=workspace_id, now=now)
        consents.record(conn, [(contact_id, ConsentAction.UNSUBSCRIBE, evidence, actor)], workspace_id=workspace_id, now=now)
    return row
