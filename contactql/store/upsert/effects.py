"""What a write leaves besides contact rows, in the same transaction as the write:

- a history entry per written contact: time, source, API key name, batch id, and every
  changed field with its old and new value — email and SMS status included, so the history
  is a consent ledger;
- events (seeds 003, 004): `EventOptions` types per created / updated contact, and
  subscribeContact's `subscribeFromApi[-formType]` / `subscribeUpdateFromApi[-formType]`;
  each event also goes to the outbox of every webhook endpoint subscribed to its type;
- double opt-in confirmation tokens, stored as SHA-256 digests, with the key that asked;
- subscribeContact's consent evidence (store/workspace/consents.py).

Contacts created in a chunk have stand-in ids until the flush; these records keep the stand-in
and are written after the contacts, with the real ids.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa

from contactql.store.batches import outbox as webhooks
from contactql.store.db.bulk import insert
from contactql.store.db.tables import endpoint_t, event_t, token_t
from contactql.store.model import ConsentAction, Evidence, UpsertOptions
from contactql.store.workspace import consents
from contactql.store.workspace.history import PendingHistory, write_history
from contactql.store.workspace.subscribe import link_secret, token_digest, unsubscribe_token

SUBSCRIBED_EVENT, SUBSCRIBED_AGAIN_EVENT = "subscribeFromApi", "subscribeUpdateFromApi"
CONFIRMATION_TOKEN = "ConfirmationToken"  # the event parameter; shown to admin keys and the signed event webhook only
UNSUBSCRIBE_TOKEN = "UnsubscribeToken"  # GET /unsubscribe?token=…; shown likewise


@dataclasses.dataclass(slots=True)
class PendingEvent:
    cid: int
    type: str
    key_is_id: bool  # subscribe events are keyed by contact id (seed 004); others by email, else mobile
    params: dict[str, str]
    row: dict[str, Any]


@dataclasses.dataclass(slots=True)
class Effects:
    events: list[PendingEvent] = dataclasses.field(default_factory=list)
    history: list[PendingHistory] = dataclasses.field(default_factory=list)
    tokens: list[tuple[str, int, int | None, dict[str, Any] | None, str]] = dataclasses.field(default_factory=list)  # (digest, contact, key, held, email)
    consents: list[tuple[int, ConsentAction, Evidence, str | None]] = dataclasses.field(default_factory=list)

    def record(
        self, cid: int, created: bool, changes: list[tuple[str, Any, Any]], row: dict[str, Any], options: UpsertOptions, token: str | None, held: dict[str, Any] | None
    ) -> None:
        """The effects of one written (or, for subscribe, matched) contact; `held`: the columns
        its token writes once confirmed."""
        if created or changes:
            self.history.append(PendingHistory(cid, changes, options.source, options.actor, options.batch_id))
        if options.subscription is not None:
            if token is not None:
                self.tokens.append((token_digest(token), cid, options.subscription.key_id, held, row["email"]))
            if options.subscription.evidence is not None:
                self.consents.append((cid, ConsentAction.SUBSCRIBE, options.subscription.evidence, options.actor))
            form = options.subscription.form_type
            name = SUBSCRIBED_EVENT if created else SUBSCRIBED_AGAIN_EVENT
            params = {} if row["email"] is None else {"EmailAddress": row["email"]}
            if token is not None:
                params[CONFIRMATION_TOKEN] = token
            if form:
                params["formType"] = form
            self.events.append(PendingEvent(cid, f"{name}-{form}" if form else name, True, params, row))
            return
        types = options.events.on_create if created else options.events.on_update if changes else ()
        for event_type in types:
            params = {"EmailAddress": row["email"] or "", "SMS": row["mobile"] or ""}
            self.events.append(PendingEvent(cid, event_type, False, params, row))


_INSERT_TOKENS = insert(token_t, ("token_hash", "workspace_id", "contact_id", "api_key_id", "held", "email", "created_at"))
_INSERT_EVENTS = insert(event_t, ("id", "workspace_id", "type", "key", "contact_id", "params", "created_at"))


def write(conn: sa.Connection, effects: Effects, *, workspace_id: int, rid: Callable[[int], int], now: dt.datetime) -> None:
    write_history(conn, effects.history, workspace_id=workspace_id, now=now, rid=rid)
    _INSERT_TOKENS.execute(conn, [
        {"token_hash": h, "workspace_id": workspace_id, "contact_id": rid(cid), "api_key_id": key_id, "held": held, "email": email, "created_at": now}
        for h, cid, key_id, held, email in effects.tokens
    ])  # fmt: skip
    if effects.consents:
        consents.record(conn, effects.consents, workspace_id=workspace_id, now=now, rid=rid)
    if effects.events:
        _write_events(conn, effects.events, workspace_id=workspace_id, rid=rid, now=now)


def _write_events(conn: sa.Connection, pending: Sequence[PendingEvent], *, workspace_id: int, rid: Callable[[int], int], now: dt.datetime) -> None:
    rows = []
    secret = link_secret(conn, workspace_id) if any(event.key_is_id for event in pending) else b""
    for event in pending:
        cid = rid(event.cid)
        key = str(cid) if event.key_is_id else event.row["email"] or event.row["mobile"] or str(cid)
        params = {"ContactId": str(cid), **event.params}
        if event.key_is_id:  # a subscription's: the workflow's email carries the unsubscribe link
            params[UNSUBSCRIBE_TOKEN] = unsubscribe_token(secret, workspace_id, cid)
        rows.append({"id": str(uuid.uuid4()), "workspace_id": workspace_id, "type": event.type, "key": key, "contact_id": cid, "params": params, "created_at": now})
    _INSERT_EVENTS.execute(conn, rows)
    endpoints = conn.execute(sa.select(endpoint_t.c.url, endpoint_t.c.event_types).where(endpoint_t.c.workspace_id == workspace_id)).all()
    deliveries = [(None, url, event_payload(row)) for row in rows for url, types in endpoints if row["type"] in types or "*" in types]
    if deliveries:
        webhooks.enqueue_many(conn, workspace_id=workspace_id, deliveries=deliveries, now=now)


def event_payload(row: dict[str, Any]) -> dict[str, Any]:
    """The body an event webhook carries."""
    return {
        "eventId": row["id"], "type": row["type"], "key": row["key"], "contactId": str(row["contact_id"]),
        "params": row["params"], "createdAt": row["created_at"].isoformat(),
    }  # fmt: skip
