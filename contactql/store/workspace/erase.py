"""Erasing a contact on request (GDPR article 17; issue 22) and the suppression list.

`erase_contact` removes, in one write transaction, every personal value the database holds of
one contact, wherever the product put it:

- the contact row, and with it (foreign keys, ON DELETE CASCADE) its property values, list
  memberships, companies, URLs, history (old values included), confirmation tokens and consent
  evidence; its events, and the webhook deliveries of those events, sent or not;
- copies of it elsewhere: the items of batches that name it by id or identity (payloads are
  kept a day after a batch finishes; an item not applied yet is SKIPPED as SUPPRESSED when its
  turn comes), values quoted in batch results and in other webhook payloads, and stored
  idempotent answers that name or quote it; and every persisted query and export of the
  workspace (caches a client or a user makes again: a document may spell the person any way, an
  export hold them in any column);
- on SQLite, the search index's copy (FTS5 keeps deleted terms in its segments until they are
  merged: 'optimize' merges them, about 0.3 s per 100 000 contacts). Every connection runs with
  `secure_delete` on (store/db/database.py), so freed space is zeroed rather than left with old
  bytes; the caller then empties the WAL (Database.truncate_log).

What stays is the erasure's record (who, when, why, the old contact id) and the suppression
list: the SHA-256 of the contact's email, mobile (E.164) and externalId as stored, so that a
later upsert, batch or import of that identity is SKIPPED with SUPPRESSED instead of bringing
the person back. Fresh consent lifts a suppression: the person confirming a subscription
(store/workspace/subscribe.py) or an admin key's `overrideSuppression`. The digests are plain
SHA-256 of the normalised value, the form ad platforms and ESPs share hashed addresses in, so
a frontend can check an address without the server keeping it; they are personal data in the
GDPR's sense (pseudonymous), and only admin keys can list them.

Values another contact holds or once held (its own history) are that contact's and stay; one
it holds at the erasure (a shared mobile) is not suppressed, or that contact could no longer be
written.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
import sqlalchemy as sa

from contactql.store.db.dialect import insert_ignoring_duplicates, serialize
from contactql.store.db.tables import (
    alias_t,
    batch_part_t,
    batch_result_t,
    batch_t,
    contact_t,
    erasure_t,
    event_t,
    export_chunk_t,
    export_t,
    idempotency_t,
    persisted_query_t,
    suppression_t,
    webhook_delivery_t,
)
from contactql.store.errors import ErrorCode, Invalid, NotFound, Problem
from contactql.store.model import Outcome
from contactql.store.workspace.catalog import bump_catalog

MAX_REASON = 500
ERASED = "[erased]"
# (contact column, suppression kind): the identities an erasure keeps from coming back.
IDENTITIES = (("email", "EMAIL"), ("mobile", "MOBILE"), ("external_id", "EXTERNAL_ID"))
SUPPRESSED_MESSAGE = (
    "this identity belongs to a contact erased on request; it comes back only with fresh consent "
    "(a confirmed subscription, or overrideSuppression from an admin key)"
)
_SUPPRESSED = Problem((), ErrorCode.SUPPRESSED, SUPPRESSED_MESSAGE).to_json()  # an item taken out: batches/queue.py answers it SKIPPED


def identity_digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def digests_of(values: dict[str, Any]) -> list[str]:
    """The digests of the identities an item or a row names (email, mobile, externalId)."""
    return [identity_digest(value) for column, _ in IDENTITIES if (value := values.get(column))]


@dataclasses.dataclass(frozen=True, slots=True)
class ErasureRow:
    id: str
    contact_id: int
    actor: str | None
    reason: str
    created_at: dt.datetime
    suppressed: tuple[str, ...] = ()  # the kinds of identity suppressed (EMAIL, MOBILE, EXTERNAL_ID)


@dataclasses.dataclass(frozen=True, slots=True)
class SuppressionRow:
    digest: str
    kind: str
    created_at: dt.datetime
    erasure: ErasureRow


def checked_reason(reason: str) -> str:
    cleaned = reason.strip()
    if not cleaned or len(cleaned) > MAX_REASON or not cleaned.isprintable():
        raise Invalid(Problem(("reason",), ErrorCode.INVALID_INPUT, f"a reason is 1 to {MAX_REASON} printable characters (no personal data: it is kept)"))
    return cleaned


def erase_contact(conn: sa.Connection, *, workspace_id: int, contact_id: int, actor: str | None, reason: str, now: dt.datetime | None = None) -> ErasureRow:
    """Erase the contact (deleted or not); NotFound when the workspace has no such contact."""
    now = now or dt.datetime.now(dt.UTC)
    reason = checked_reason(reason)
    c = contact_t.c
    row = conn.execute(sa.select(c.email, c.mobile, c.external_id).where(c.workspace_id == workspace_id, c.id == contact_id)).first()
    if row is None:
        raise NotFound.at(("id",), f"no contact with id {contact_id}")
    identity = {column: getattr(row, column) for column, _ in IDENTITIES if getattr(row, column)}
    # Identities of contacts merged into this one are the person's too (their aliases go with it: cascade).
    a, column_of = alias_t.c, {kind: column for column, kind in IDENTITIES}
    aliases = conn.execute(sa.select(a.kind, a.value).where(a.workspace_id == workspace_id, a.contact_id == contact_id, a.kind.in_(column_of)))
    named = [*identity.items(), *((column_of[kind], value) for kind, value in aliases)]  # (column, value); never empty
    # PostgreSQL: an upsert matching by email or mobile waits for this erasure, then sees the
    # suppression (the keys upsert/chunk.py locks).
    serialize(conn, workspace_id=workspace_id, keys=[f"{column}:{value}" for column, value in named])
    # A value another contact holds too (a family's mobile) is that contact's as well: it stays
    # theirs, in their batch items and payloads, and is not suppressed — a suppressed value of a
    # contact's own keeps every write from it (upsert/suppress.py), and this one never leaves.
    shared = _held_elsewhere(conn, workspace_id, contact_id, named)
    named = [pair for pair in named if pair not in shared]
    identity = {column: value for column, value in identity.items() if (column, value) not in shared}
    # As stored: payloads and results hold the values in that form (an email in lower case, an
    # externalId as given); a coarse SQL match finds them, Python judges in any case (`_redacted`).
    needles = [str(value) for _, value in named]

    event_ids = set(conn.scalars(sa.select(event_t.c.id).where(event_t.c.workspace_id == workspace_id, event_t.c.contact_id == contact_id)))
    conn.execute(sa.delete(event_t).where(event_t.c.workspace_id == workspace_id, event_t.c.contact_id == contact_id))
    _scrub_deliveries(conn, workspace_id, contact_id, event_ids, needles)
    _scrub_batches(conn, workspace_id, contact_id, identity, needles)
    _drop_answers(conn, workspace_id, contact_id, needles)
    # Every persisted query and export of the workspace: a document may quote the person in any
    # spelling or name them by id, and an export may hold them in any column. Both are caches:
    # a client sends its document again when asked, an export is made again.
    conn.execute(sa.delete(persisted_query_t).where(persisted_query_t.c.workspace_id == workspace_id))
    conn.execute(sa.delete(export_chunk_t).where(export_chunk_t.c.export_id.in_(sa.select(export_t.c.id).where(export_t.c.workspace_id == workspace_id))))
    conn.execute(sa.delete(export_t).where(export_t.c.workspace_id == workspace_id))
    conn.execute(sa.delete(contact_t).where(c.workspace_id == workspace_id, c.id == contact_id))

    held = {column for column, _ in named}
    erasure = ErasureRow(str(uuid.uuid4()), contact_id, actor, reason, now, tuple(kind for column, kind in IDENTITIES if column in held))
    kinds = ",".join(erasure.suppressed) or None
    conn.execute(sa.insert(erasure_t).values(id=erasure.id, workspace_id=workspace_id, contact_id=contact_id, actor=actor, reason=reason, created_at=now, suppressed=kinds))
    kind_of = dict(IDENTITIES)
    suppressions = [
        {"workspace_id": workspace_id, "digest": identity_digest(value), "kind": kind_of[column], "erasure_id": erasure.id, "created_at": now}
        for column, value in named
    ]
    if suppressions:
        conn.execute(insert_ignoring_duplicates(conn.dialect.name, suppression_t), suppressions)
    bump_catalog(conn, workspace_id)  # every process's upserts learn that the workspace suppresses (upsert/cache.py)
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("INSERT INTO contact_search(contact_search) VALUES ('optimize')")
    return erasure


def _held_elsewhere(conn: sa.Connection, workspace_id: int, contact_id: int, named: Sequence[tuple[str, Any]]) -> set[tuple[str, Any]]:
    """The (column, value) pairs of `named` that another contact of the workspace holds, deleted
    or not, itself or as the alias of a contact merged into it (an upsert naming it finds that one)."""
    c, a = contact_t.c, alias_t.c
    kind_of = dict(IDENTITIES)
    shared: set[tuple[str, Any]] = set()
    for column in {column for column, _ in named}:
        values = [value for named_column, value in named if named_column == column]
        others = sa.select(c[column]).where(c.workspace_id == workspace_id, c.id != contact_id, c[column].in_(values))
        aliased = sa.select(a.value).where(a.workspace_id == workspace_id, a.contact_id != contact_id, a.kind == kind_of[column], a.value.in_(values))
        shared.update((column, value) for value in conn.scalars(sa.union(others, aliased)))
    return shared


def _quoting(column: sa.ColumnElement[Any], needles: Sequence[str]) -> sa.ColumnElement[bool]:
    """The text column holds one of the values, in any ASCII case (a clientRef may quote an
    email in capitals; PostgreSQL's LIKE, unlike SQLite's, minds the case)."""
    if not needles:
        return sa.false()
    return sa.or_(*(column.icontains(needle, autoescape=True) for needle in needles))


def _redacted(value: Any, needles: Sequence[str]) -> Any:
    """The JSON value with every string that holds one of the needles, in any case, replaced by ERASED."""
    if isinstance(value, str):
        folded = value.casefold()
        return ERASED if any(n.casefold() in folded for n in needles) else value
    if isinstance(value, list):
        return [_redacted(v, needles) for v in value]
    if isinstance(value, dict):
        return {k: _redacted(v, needles) for k, v in value.items()}
    return value


def _scrub_deliveries(conn: sa.Connection, workspace_id: int, contact_id: int, event_ids: set[str], needles: Sequence[str]) -> None:
    """Deliveries of the contact's events are deleted (not sent, if they were not yet); others
    that quote its identity (a batch's report) keep their shape with the values redacted.
    Found by a coarse text match, then judged on the parsed payload."""
    w = webhook_delivery_t.c
    coarse = sa.or_(w.payload.contains(f'"{contact_id}"', autoescape=True), _quoting(w.payload, needles))
    for delivery_id, payload in conn.execute(sa.select(w.id, w.payload).where(w.workspace_id == workspace_id, coarse)).all():
        data = orjson.loads(payload)
        if isinstance(data, dict) and (data.get("contactId") == str(contact_id) or data.get("eventId") in event_ids):
            conn.execute(sa.delete(webhook_delivery_t).where(w.id == delivery_id))
        elif (redacted := _redacted(data, needles)) != data:
            conn.execute(sa.update(webhook_delivery_t).where(w.id == delivery_id).values(payload=orjson.dumps(redacted).decode()))


def _names(entry: dict[str, Any], contact_id: int, identity: dict[str, Any]) -> bool:
    """A batch item (or an item refused at acceptance) that is about the erased contact."""
    item = entry.get("item")
    if item is None:
        return False
    values = item.get("values") or {}
    return item.get("contact_id") == contact_id or any(values.get(column) == value for column, value in identity.items())


def _scrub_batches(conn: sa.Connection, workspace_id: int, contact_id: int, identity: dict[str, Any], needles: Sequence[str]) -> None:
    """Batch items about the contact are taken out, decided SKIPPED with SUPPRESSED (batches/queue.py
    answers one not applied yet so): those naming it by id or identity, and those a result says
    were applied to it (matched by properties, say). Results applied to it keep their outcome
    and codes, every other string erased; other results that quote its identity are redacted."""
    p, r, b = batch_part_t.c, batch_result_t.c, batch_t.c
    ours = sa.select(b.id).where(b.workspace_id == workspace_id)
    applied: dict[str, set[int]] = {}  # batch → indices of its items applied to the contact
    coarse = sa.or_(r.result.contains(str(contact_id), autoescape=True), _quoting(r.result, needles))
    for batch_id, index, result in conn.execute(sa.select(r.batch_id, r.index, r.result).where(r.batch_id.in_(ours), coarse)).all():
        data = orjson.loads(result)
        if contact_id in (data.get("contact_ids") or ()):
            applied.setdefault(batch_id, set()).add(index)
            scrubbed = _blanked(data)
        else:
            scrubbed = _redacted(data, needles)
        if scrubbed != data:
            conn.execute(sa.update(batch_result_t).where(r.batch_id == batch_id, r.index == index).values(result=orjson.dumps(scrubbed).decode()))

    by_id = [p["items"].contains(f'"contact_id":{contact_id}{end}', autoescape=True) for end in (",", "}")]  # orjson's form
    found = sa.or_(*by_id, p.batch_id.in_(list(applied)), _quoting(p["items"], needles))
    for batch_id, first, items in conn.execute(sa.select(p.batch_id, p.first, p["items"]).where(p.batch_id.in_(ours), found)).all():
        entries = orjson.loads(items)
        kept = [
            {"index": e["index"], "client_ref": _redacted(_client_ref(e), needles), "outcome": Outcome.SKIPPED.value, "problems": [_SUPPRESSED]}
            if _names(e, contact_id, identity) or e["index"] in applied.get(batch_id, ()) or ("problems" in e and _redacted(e, needles) != e)
            else _ref_redacted(e, needles)
            for e in entries
        ]
        if kept != entries:
            conn.execute(sa.update(batch_part_t).where(p.batch_id == batch_id, p.first == first).values(items=orjson.dumps(kept).decode()))


_STRUCTURAL = frozenset({"outcome", "matched_by", "code", "path", "changed_fields", "invalid_contact_ids"})  # keys of a result that hold no value sent


def _blanked(value: Any, key: str | None = None) -> Any:
    """A result of an item applied to the erased contact: every string ERASED but its outcome,
    how it matched and its errors' codes and paths."""
    if isinstance(value, str):
        return value if key in _STRUCTURAL else ERASED
    if isinstance(value, list):
        return [_blanked(v, key) for v in value]
    if isinstance(value, dict):
        return {k: _blanked(v, k) for k, v in value.items()}
    return value


def _client_ref(entry: dict[str, Any]) -> Any:
    return entry["item"].get("client_ref") if "item" in entry else entry.get("client_ref")


def _ref_redacted(entry: dict[str, Any], needles: Sequence[str]) -> dict[str, Any]:
    """An item about someone else, whose clientRef quotes the erased identity: its result would
    echo the clientRef back, so it is redacted there; the item itself is written as sent."""
    ref = _client_ref(entry)
    if (redacted := _redacted(ref, needles)) == ref:
        return entry
    return {**entry, "item": {**entry["item"], "client_ref": redacted}} if "item" in entry else {**entry, "client_ref": redacted}


def _drop_answers(conn: sa.Connection, workspace_id: int, contact_id: int, needles: Sequence[str]) -> None:
    """Stored idempotent answers that name the contact (by id) or quote its identity: a replay
    would otherwise answer with them."""
    i = idempotency_t.c
    coarse = sa.or_(i.response.contains(str(contact_id), autoescape=True), _quoting(i.response, needles))
    doomed = []
    for key, response in conn.execute(sa.select(i.key, i.response).where(i.workspace_id == workspace_id, coarse)).all():
        data = orjson.loads(response)
        if any(contact_id in (result.get("contact_ids") or ()) for result in data.get("results") or ()) or _redacted(data, needles) != data:
            doomed.append(key)
    if doomed:
        conn.execute(sa.delete(idempotency_t).where(i.workspace_id == workspace_id, i.key.in_(doomed)))


# -- suppressions ---------------------------------------------------------------------------


def suppressed(conn: sa.Connection, *, workspace_id: int, digests: Iterable[str]) -> set[str]:
    """Which of the digests the workspace suppresses."""
    wanted = list(set(digests))
    if not wanted:
        return set()
    s = suppression_t.c
    return set(conn.scalars(sa.select(s.digest).where(s.workspace_id == workspace_id, s.digest.in_(wanted))))


def lift(conn: sa.Connection, *, workspace_id: int, digests: Iterable[str]) -> None:
    """Fresh consent: these identities may come back."""
    wanted = list(set(digests))
    if wanted:
        s = suppression_t.c
        conn.execute(sa.delete(suppression_t).where(s.workspace_id == workspace_id, s.digest.in_(wanted)))


def any_suppressed(conn: sa.Connection, *, workspace_id: int) -> bool:
    s = suppression_t.c
    return conn.scalar(sa.select(s.digest).where(s.workspace_id == workspace_id).limit(1)) is not None


def page_suppressions(conn: sa.Connection, *, workspace_id: int, limit: int, after: tuple[dt.datetime, str] | None) -> list[SuppressionRow]:
    """Suppressions in the order they were made, keyset-paginated on (created_at, digest)."""
    s, x = suppression_t.c, erasure_t.c
    statement = (
        sa.select(s.digest, s.kind, s.created_at, x.id, x.contact_id, x.actor, x.reason, x.created_at.label("erased_at"), x.suppressed)
        .join(erasure_t, x.id == s.erasure_id)
        .where(s.workspace_id == workspace_id)
    )
    if after is not None:
        statement = statement.where(sa.tuple_(s.created_at, s.digest) > sa.tuple_(*after))
    rows = conn.execute(statement.order_by(s.created_at, s.digest).limit(limit)).all()
    return [
        SuppressionRow(r.digest, r.kind, r.created_at, ErasureRow(r.id, r.contact_id, r.actor, r.reason, r.erased_at, tuple((r.suppressed or "").split(",")) if r.suppressed else ()))
        for r in rows
    ]


def count_suppressions(conn: sa.Connection, *, workspace_id: int) -> int:
    return int(conn.scalar(sa.select(sa.func.count()).where(suppression_t.c.workspace_id == workspace_id)) or 0)
