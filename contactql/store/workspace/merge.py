"""Merging duplicates into one contact (`mergeContacts`, issue 22), and the aliases it leaves.

`merge_contacts` decides the merged contact in memory from the contacts as they are (`_plan`),
then, unless it is a dry run, writes it in the caller's transaction:

- each field (email, mobile, names, statuses, address …) and each property comes from one of
  the contacts by its rule: `NON_EMPTY` (the default: the survivor's, or else the first of
  `from` in the order given that has one), `TARGET` (the survivor's, even when empty) or
  `NEWEST` (the most recently updated contact that has one). An `UNSUBSCRIBED` email or SMS
  status on any of them wins whatever the rule: the person said no under one of their records;
- lists and companies are the union; external URLs the survivor's, then the others' by new ref;
- events, history entries, confirmation tokens, consent evidence and aliases of the merged
  contacts move to the survivor, which gets one history entry (`mergedFrom` and every change);
- the merged contacts are deleted; each identity they had (and one the survivor gave up) that
  the survivor does not hold becomes an alias of it, so that an upsert naming it finds the
  survivor (store/upsert/chunk.py) rather than recreating the duplicate, and writes the rest of
  what it sends without taking the old identity back.

On PostgreSQL their identities are serialised like an upsert's keys (db/dialect.py), then the
contacts locked (`FOR UPDATE`, in id order) — the order upserts lock in — so a concurrent
upsert of one of them waits; one that read a merged contact before it went fails on its
foreign keys and is retried (upsert/writer.py), finding the survivor by the alias. On SQLite
writes are one at a time anyway.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from contactql.store.db.columns import value_hash
from contactql.store.db.dialect import insert_ignoring_duplicates, serialize
from contactql.store.db.tables import (
    CONTACT_COLUMNS,
    alias_t,
    consent_t,
    contact_company_t,
    contact_t,
    event_t,
    external_url_t,
    history_t,
    membership_t,
    property_value_t,
    token_t,
)
from contactql.store.errors import ErrorCode, Invalid, NotFound, Problem
from contactql.store.model import Source
from contactql.store.values import MAX_EXTERNAL_URLS
from contactql.store.workspace.catalog import bump_catalog
from contactql.store.workspace.contacts import relations_of_contacts
from contactql.store.workspace.erase import IDENTITIES, identity_digest, suppressed
from contactql.store.workspace.history import PendingHistory, write_history
from contactql.store.workspace.properties import FieldSet, load_fields
from contactql.store.workspace.search import search_text

MAX_FROM = 20


class MergeRule(enum.StrEnum):
    NON_EMPTY = "NON_EMPTY"
    TARGET = "TARGET"
    NEWEST = "NEWEST"


# A field, by its GraphQL name, and the columns that come with it from one contact.
FIELDS: dict[str, tuple[str, ...]] = {
    "externalId": ("external_id",),
    # consent is the address's: a status goes with its email or mobile, never to another address
    "email": ("email", "email_status", "confirmed"),
    "mobile": ("mobile", "mobile_country_code", "sms_status"),
    "firstName": ("first_name",),
    "lastName": ("last_name",),
    "privacyConsent": ("privacy_consent",),
    "address": ("address_town", "address_region", "address_address", "address_postcode"),
}
_SHOWN = {"external_id": "externalId", "email": "email", "mobile": "mobile", "first_name": "firstName", "last_name": "lastName",
          "email_status": "emailStatus", "sms_status": "smsStatus", "privacy_consent": "privacyConsent", "confirmed": "confirmed",
          "address_town": "address.town", "address_region": "address.region", "address_address": "address.address",
          "address_postcode": "address.postcode"}  # fmt: skip
_OPTED_OUT = "UNSUBSCRIBED"


def pair_value(row: Mapping[str, Any]) -> str | None:
    """The PAIR alias of a row: its email and mobile as the EMAIL_AND_MOBILE rule keys them."""
    if row["email"] is None and row["mobile"] is None:
        return None
    return f"{row['email'] or ''}\n{row['mobile'] or ''}"


@dataclasses.dataclass(slots=True)
class Merged:
    contact: dict[str, Any]  # the survivor's row as merged
    relations: dict[str, dict[int, Any]]  # properties, lists, companies, urls: the survivor's, keyed by its id
    changes: list[tuple[str, Any, Any]]
    merged_ids: list[int]
    aliases: list[tuple[str, str]]  # (kind, value) that now find the survivor
    fields: FieldSet  # the workspace's property fields, to show the survivor's properties


def merge_contacts(
    conn: sa.Connection, *, workspace_id: int, into: int, from_ids: Sequence[int], rules: Sequence[tuple[str, MergeRule]],
    dry_run: bool, actor: str | None, now: dt.datetime | None = None,
) -> Merged:  # fmt: skip
    """Merge `from_ids` into `into`; raises NotFound or Invalid with the input's path."""
    now = now or dt.datetime.now(dt.UTC)
    _check_ids(into, from_ids)
    ids = [into, *from_ids]
    c = contact_t.c
    query = sa.select(contact_t).where(c.workspace_id == workspace_id, c.id.in_(ids)).order_by(c.id)
    rows = {row.id: dict(zip(CONTACT_COLUMNS, row, strict=True)) for row in conn.execute(query)}
    if not dry_run:
        # The order upserts lock in (upsert/chunk.py): their identities' keys, then the rows.
        serialize(conn, workspace_id=workspace_id, keys=[f"{col}:{row[col]}" for row in rows.values() for col, _ in IDENTITIES if row[col] is not None])
        rows = {row.id: dict(zip(CONTACT_COLUMNS, row, strict=True)) for row in conn.execute(query.with_for_update())}
    suppressed_held = _suppressed_identities(conn, workspace_id, rows.values())
    for path, cid in [(("into",), into), *((("from", str(i)), cid) for i, cid in enumerate(from_ids))]:
        if cid not in rows:
            raise NotFound.at(path, f"no contact with id {cid}")
        if rows[cid]["deleted_at"] is not None:
            raise Invalid(Problem(path, ErrorCode.CONTACT_DELETED, f"contact {cid} is deleted: restore it (upsert with restoreDeleted) before merging it"))
        if (held := suppressed_held.get(cid)) is not None:
            # A re-subscription of an erased person, waiting for their confirmation: nothing but
            # the subscription may write to it (upsert/suppress.py), nor carry its identity elsewhere.
            raise Invalid(Problem(path, ErrorCode.SUPPRESSED, f"contact {cid}'s {held} is suppressed: it waits for its person's confirmation, and merges only after it"))
    relations = relations_of_contacts(conn, workspace_id=workspace_id, contact_ids=ids, wanted=frozenset({"properties", "lists", "companies", "urls"}))
    fields = load_fields(conn, workspace_id=workspace_id)
    merged = _plan(fields, [rows[cid] for cid in ids], relations, _rules(fields, rules))
    merged.contact["updated_at"] = now
    _check_identity(conn, workspace_id, ids, merged.contact)
    if not dry_run:
        _write(conn, workspace_id, into, list(from_ids), merged, actor, now)
    return merged


def _suppressed_identities(conn: sa.Connection, workspace_id: int, rows: Iterable[Mapping[str, Any]]) -> dict[int, str]:
    """Contact id → its identity (GraphQL's name for it) that the workspace suppresses, in one read."""
    digests = {(row["id"], column): identity_digest(row[column]) for row in rows for column, _ in IDENTITIES if row[column]}
    found = suppressed(conn, workspace_id=workspace_id, digests=digests.values())
    held: dict[int, str] = {}
    for (cid, column), digest in digests.items():
        if digest in found:
            held.setdefault(cid, {"external_id": "externalId"}.get(column, column))
    return held


def _check_ids(into: int, from_ids: Sequence[int]) -> None:
    if not from_ids:
        raise Invalid.at(("from",), "name at least one contact to merge into the other")
    if len(from_ids) > MAX_FROM:
        raise Invalid.at(("from",), f"at most {MAX_FROM} contacts a merge, got {len(from_ids)}")
    for i, cid in enumerate(from_ids):
        if cid == into:
            raise Invalid.at(("from", str(i)), "a contact cannot be merged into itself")
        if cid in from_ids[:i]:
            raise Invalid.at(("from", str(i)), f"contact {cid} is named twice")


def _rules(fields: FieldSet, rules: Sequence[tuple[str, MergeRule]]) -> dict[str, MergeRule]:
    """By field name, or by "properties.<field id>" for a property."""
    chosen: dict[str, MergeRule] = {}
    for i, (name, rule) in enumerate(rules):
        key = name
        if name.startswith("properties."):
            field = fields.by_name.get(name.removeprefix("properties.").strip().lower())
            key = f"properties.{field.id}" if field else ""
        elif name not in FIELDS:
            key = ""
        if not key:
            known = ", ".join(FIELDS)
            shown = name if len(name) <= 60 else name[:60] + "…"
            raise Invalid.at(("fieldPriority", str(i), "field"), f"no field {shown!r}: one of {known}, or properties.<name> of a property (statuses go with their email or mobile)")
        if key in chosen:
            raise Invalid.at(("fieldPriority", str(i), "field"), f"{name[:60]!r} is given twice")
        chosen[key] = rule
    return chosen


def _pick(rule: MergeRule, candidates: list[tuple[Any, dt.datetime]]) -> Any:
    """One of the candidates' values (the survivor first, then `from` in order; None: empty)."""
    if rule is MergeRule.TARGET:
        return candidates[0][0]
    present = [(value, updated) for value, updated in candidates if value is not None]
    if not present:
        return candidates[0][0]
    if rule is MergeRule.NEWEST:
        return max(present, key=lambda pair: pair[1])[0]  # max keeps the first of equals: the survivor's
    return present[0][0]


def _plan(fields: FieldSet, rows: list[dict[str, Any]], relations: dict[str, dict[int, Any]], rules: dict[str, MergeRule]) -> Merged:
    survivor = rows[0]
    cid = survivor["id"]
    merged = dict(survivor)
    for name, columns in FIELDS.items():
        lead = columns[0]

        def value(row: dict[str, Any], lead: str = lead, columns: tuple[str, ...] = columns) -> Any:
            return None if row[lead] is None else tuple(row[c] for c in columns)

        chosen = _pick(rules.get(name, MergeRule.NON_EMPTY), [(value(row), row["updated_at"]) for row in rows])
        if chosen is not None:
            merged.update(zip(columns, chosen, strict=True))
    for column in ("email_status", "sms_status"):
        if any(row[column] == _OPTED_OUT for row in rows):
            merged[column] = _OPTED_OUT
    merged["search_text"] = search_text(merged)
    changes = [(shown, survivor[column], merged[column]) for column, shown in _SHOWN.items() if survivor[column] != merged[column]]

    props_of = relations["properties"]
    field_ids = list(dict.fromkeys(fid for row in rows for fid in props_of.get(row["id"], {})))
    props: dict[str, str] = {}
    for fid in field_ids:
        candidates = [(props_of.get(row["id"], {}).get(fid), row["updated_at"]) for row in rows]
        if (chosen := _pick(rules.get(f"properties.{fid}", MergeRule.NON_EMPTY), candidates)) is not None:
            props[fid] = chosen
        if (old := props_of.get(cid, {}).get(fid)) != props.get(fid):
            changes.append((f"properties.{fields.by_id[fid].name if fid in fields.by_id else fid}", old, props.get(fid)))

    lists = list({row.id: row for r in rows for row in relations["lists"].get(r["id"], [])}.values())
    companies = list({row.id: row for r in rows for row in relations["companies"].get(r["id"], [])}.values())
    urls: dict[str, tuple[str, str, str | None]] = {}
    for r in rows:
        for url in relations["urls"].get(r["id"], []):
            urls.setdefault(url[0], url)
    if len(urls) > MAX_EXTERNAL_URLS:
        raise Invalid(Problem(("from",), ErrorCode.TOO_MANY_EXTERNAL_URLS, f"the merged contact would have {len(urls)} external URLs; at most {MAX_EXTERNAL_URLS}"))
    for name, old, new in (
        ("lists", [x.id for x in relations["lists"].get(cid, [])], [x.id for x in lists]),
        ("companies", [x.id for x in relations["companies"].get(cid, [])], [x.id for x in companies]),
        ("externalUrls", [u[0] for u in relations["urls"].get(cid, [])], list(urls)),
    ):
        if sorted(old) != sorted(new):
            changes.append((name, sorted(old), sorted(new)))

    aliases: dict[tuple[str, str], None] = {}
    for row in rows:
        for column, kind in IDENTITIES:
            if row[column] is not None and row[column] != merged[column]:
                aliases[(kind, str(row[column]))] = None
        if (pair := pair_value(row)) is not None and pair != pair_value(merged):
            aliases[("PAIR", pair)] = None
    relations_out: dict[str, dict[int, Any]] = {"properties": {cid: props}, "lists": {cid: lists}, "companies": {cid: companies}, "urls": {cid: list(urls.values())}}
    return Merged(merged, relations_out, changes, [row["id"] for row in rows[1:]], list(aliases), fields)


def _check_identity(conn: sa.Connection, workspace_id: int, ids: list[int], merged: dict[str, Any]) -> None:
    """The merged contact's email and mobile, and its externalId, must be no other contact's."""
    c = contact_t.c
    clashes = []
    if merged["external_id"] is not None:
        clashes.append(c.external_id == merged["external_id"])
    if pair_value(merged) is not None:
        clashes.append(sa.and_(sa.func.coalesce(c.email, "") == (merged["email"] or ""), sa.func.coalesce(c.mobile, "") == (merged["mobile"] or "")))
    other = conn.scalar(sa.select(c.id).where(c.workspace_id == workspace_id, c.id.not_in(ids), sa.or_(*clashes)).limit(1))
    if other is not None:
        raise Invalid(
            Problem(("fieldPriority",), ErrorCode.DUPLICATE_IDENTITY, f"the merged contact's identity (email and mobile, or externalId) is contact {other}'s; choose other rules")
        )


def _write(conn: sa.Connection, workspace_id: int, into: int, from_ids: list[int], merged: Merged, actor: str | None, now: dt.datetime) -> None:
    for table in (event_t, history_t, token_t, consent_t, alias_t):
        conn.execute(sa.update(table).where(table.c.workspace_id == workspace_id, table.c.contact_id.in_(from_ids)).values(contact_id=into))
    # A pending confirmation is for the address it was sent to: one the survivor does not keep
    # could never confirm it (subscribe.confirm checks the address).
    t = token_t.c
    conn.execute(sa.delete(token_t).where(t.workspace_id == workspace_id, t.contact_id == into, t.email.is_not(None), t.email != sa.func.coalesce(sa.literal(merged.contact["email"]), "")))
    c = contact_t.c
    conn.execute(sa.delete(contact_t).where(c.workspace_id == workspace_id, c.id.in_(from_ids)))  # their relations cascade
    values = {k: v for k, v in merged.contact.items() if k not in ("id", "workspace_id", "created_at", "created_by", "source")}
    conn.execute(sa.update(contact_t).where(c.workspace_id == workspace_id, c.id == into).values(**values))

    pv = property_value_t.c
    conn.execute(sa.delete(property_value_t).where(pv.workspace_id == workspace_id, pv.contact_id == into))
    props = merged.relations["properties"][into]
    if props:
        rows = [{"contact_id": into, "field_id": f, "workspace_id": workspace_id, "value": v, "value_hash": value_hash(v)} for f, v in props.items()]
        conn.execute(sa.insert(property_value_t), rows)
    if lists := merged.relations["lists"][into]:
        conn.execute(insert_ignoring_duplicates(conn.dialect.name, membership_t), [{"list_id": x.id, "contact_id": into, "created_at": now} for x in lists])
    if companies := merged.relations["companies"][into]:
        conn.execute(insert_ignoring_duplicates(conn.dialect.name, contact_company_t), [{"contact_id": into, "company_id": x.id} for x in companies])
    conn.execute(sa.delete(external_url_t).where(external_url_t.c.contact_id == into))
    if urls := merged.relations["urls"][into]:
        conn.execute(sa.insert(external_url_t), [{"contact_id": into, "ref": r, "url": u, "label": label} for r, u, label in urls])

    a = alias_t.c
    held = [(kind, str(merged.contact[column])) for column, kind in IDENTITIES if merged.contact[column] is not None]
    if (pair := pair_value(merged.contact)) is not None:
        held.append(("PAIR", pair))
    for kind, value in [*held, *merged.aliases]:  # the survivor's own identity needs no alias; a new alias replaces an old one
        conn.execute(sa.delete(alias_t).where(a.workspace_id == workspace_id, a.kind == kind, a.value == value))
    # the merged contacts' ids too, for links made for them (an unsubscribe link: survivor_of)
    ids = [("ID", str(i)) for i in from_ids]
    conn.execute(sa.insert(alias_t), [{"workspace_id": workspace_id, "kind": k, "value": v, "contact_id": into, "created_at": now} for k, v in ids])
    if merged.aliases:
        conn.execute(sa.insert(alias_t), [{"workspace_id": workspace_id, "kind": k, "value": v, "contact_id": into, "created_at": now} for k, v in merged.aliases])
        bump_catalog(conn, workspace_id)  # every process's upserts learn that the workspace has aliases (upsert/cache.py)
    entry = PendingHistory(into, [("mergedFrom", None, [str(i) for i in from_ids]), *merged.changes], Source.MERGE, actor, None)
    write_history(conn, [entry], workspace_id=workspace_id, now=now)


def any_alias(conn: sa.Connection, *, workspace_id: int) -> bool:
    return conn.scalar(sa.select(alias_t.c.contact_id).where(alias_t.c.workspace_id == workspace_id).limit(1)) is not None


ALIAS_COLUMNS = {kind: column for column, kind in IDENTITIES}


def aliases_named(conn: sa.Connection, *, workspace_id: int, items: Sequence[Mapping[str, Any]]) -> list[tuple[str, str, int]]:
    """(kind, value, survivor) of the aliases that items' values (upsert/chunk.py) name."""
    keys: set[tuple[str, str]] = set()
    for values in items:
        keys.update((kind, str(values[column])) for column, kind in IDENTITIES if values.get(column) is not None)
        if (pair := pair_value({"email": values.get("email"), "mobile": values.get("mobile")})) is not None:
            keys.add(("PAIR", pair))
    return aliases_of(conn, workspace_id=workspace_id, keys=keys)


def aliases_of(conn: sa.Connection, *, workspace_id: int, keys: set[tuple[str, str]]) -> list[tuple[str, str, int]]:
    """(kind, value, contact id) of the aliases among `keys`, (kind, value) pairs."""
    if not keys:
        return []
    a = alias_t.c
    by_kind: dict[str, list[str]] = {}
    for kind, value in keys:
        by_kind.setdefault(kind, []).append(value)
    terms = [sa.and_(a.workspace_id == workspace_id, a.kind == kind, a.value.in_(values)) for kind, values in by_kind.items()]
    return [(row.kind, row.value, row.contact_id) for row in conn.execute(sa.select(a.kind, a.value, a.contact_id).where(sa.or_(*terms)))]


def survivor_of(conn: sa.Connection, *, workspace_id: int, contact_id: int) -> int:
    """The contact a merged contact's id now names (itself when it was never merged)."""
    a = alias_t.c
    found = conn.scalar(sa.select(a.contact_id).where(a.workspace_id == workspace_id, a.kind == "ID", a.value == str(contact_id)))
    return contact_id if found is None else int(found)
