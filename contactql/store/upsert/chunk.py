"""The working state of one chunk of upserts.

`load_chunk` reads, in a handful of statements, every contact the chunk's items could match or
collide with (by id, externalId, email, mobile and PROPERTIES conditions), with the property
values, list memberships, companies and URLs the items touch. Items are then decided one after
another against this state in memory, so items that share an identity see each other's
writes (one contact, not two), and `flush.py` writes the difference between the loaded and the
final state in a few set-based statements (store/db/bulk.py).

Completeness: a collision or a match can only involve a value some item names (its own
email, mobile, externalId, condition values) or a contact already loaded, so the in-memory
indexes are exact for every question the chunk asks.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from contactql.store.db.columns import value_hash
from contactql.store.db.dialect import serialize
from contactql.store.db.reads import Read
from contactql.store.db.tables import CONTACT_COLUMNS, contact_t
from contactql.store.errors import Problem
from contactql.store.model import ContactItem, MatchRule, UpsertOptions
from contactql.store.upsert import candidates
from contactql.store.upsert.cache import Catalog
from contactql.store.upsert.effects import Effects
from contactql.store.upsert.matching import Condition, property_conditions
from contactql.store.workspace import consents, erase, merge
from contactql.store.workspace.companies import existing_company_ids
from contactql.store.workspace.lists import ListRow
from contactql.store.workspace.properties import FieldSet

IDENTITY_INDEXED = ("external_id", "email", "mobile")
INDEXED_COLUMNS = (*IDENTITY_INDEXED, "first_name", "last_name")
_CASELESS = {"first_name", "last_name"}


def index_key(column: str, value: Any) -> Any:
    if value is None:
        return None
    return value.strip().lower() if column in _CASELESS else value


def pair_key(row: dict[str, Any]) -> tuple[str, str] | None:
    """The key of `uq_contact_identity`, or None when the row falls outside the partial index."""
    email, mobile = row["email"], row["mobile"]
    if email is None and mobile is None:
        return None
    return (email or "", mobile or "")


@dataclasses.dataclass(slots=True)
class Work:
    """One item with the options of the request it came from."""

    item: ContactItem
    options: UpsertOptions
    conditions: list[Condition] | Problem | None = None  # PROPERTIES rule; None: it does not apply


class ChunkState:
    def __init__(self, workspace_id: int, fields: FieldSet, *, by_properties: bool = True) -> None:
        """`by_properties`: some item matches by the PROPERTIES rule, so names and property
        values are indexed too (kept up to date on every write, so only when asked)."""
        self.workspace_id = workspace_id
        self.fields = fields
        self.by_properties = by_properties
        self.indexed = INDEXED_COLUMNS if by_properties else IDENTITY_INDEXED
        self.rows: dict[int, dict[str, Any]] = {}
        self.original: dict[int, dict[str, Any]] = {}
        self.props: dict[int, dict[str, str]] = {}
        self.original_props: dict[int, dict[str, str]] = {}
        self.lists_of: dict[int, set[str]] = {}
        self.original_lists: dict[int, set[str]] = {}
        self.companies_of: dict[int, set[str]] = {}
        self.original_companies: dict[int, set[str]] = {}
        self.urls_of: dict[int, dict[str, tuple[str, str | None]]] = {}
        self.original_urls: dict[int, dict[str, tuple[str, str | None]]] = {}
        self.index: dict[str, dict[Any, set[int]]] = {c: {} for c in self.indexed}
        self.pairs: dict[tuple[str, str], int] = {}
        self.prop_index: dict[tuple[str, str], set[int]] = {}
        # The shared cache's own maps (store/upsert/cache.py), read only, until the chunk makes a
        # list (add_list); a dict's lookup is ~0.05 µs, a ChainMap's in front of them ~2 µs.
        self.lists_by_id: dict[str, ListRow] = {}
        self.lists_by_name: dict[str, ListRow] = {}
        self._lists_shared = False
        self.new_lists: dict[str, dict[str, Any]] = {}
        self.known_companies: set[str] = set()
        self.touched: set[int] = set()
        self.suppressed: set[str] = set()  # digests of erased identities the chunk's items name (store/workspace/erase.py)
        self.lifted: set[str] = set()  # of those, the ones an admin's overrideSuppression brings back
        self.aliases: set[tuple[str, Any, int]] = set()  # (column, value, contact): a merged contact's identity (workspace/merge.py)
        self.alias_of: dict[tuple[str, Any], int] = {}  # (column, index key) → the survivor it finds
        self.alias_pairs: dict[tuple[str, str], int] = {}  # (email, mobile) as `pairs` → the survivor
        self.subscribes: dict[int, int] = {}  # a limited subscription's: requests in SUBSCRIBE_WINDOW, with this chunk's
        self.effects = Effects()
        self._placeholder = 0

    def new_placeholder(self) -> int:
        """A negative stand-in id for a contact created in this chunk, replaced at flush."""
        self._placeholder -= 1
        return self._placeholder

    # -- the in-memory indexes follow every row change ---------------------------------------

    def set_row(self, cid: int, row: dict[str, Any]) -> None:
        old = self.rows.get(cid)
        for column in self.indexed:
            new_key = row[column]
            old_key = old[column] if old else None
            if old_key == new_key:
                continue
            if column in _CASELESS:
                old_key, new_key = index_key(column, old_key), index_key(column, new_key)
            if old_key != new_key:
                if old_key is not None:
                    self.index[column].get(old_key, set()).discard(cid)
                if new_key is not None:
                    self.index[column].setdefault(new_key, set()).add(cid)
        old_pair = pair_key(old) if old else None
        new_pair = pair_key(row)
        if old_pair != new_pair:
            if old_pair is not None and self.pairs.get(old_pair) == cid:
                del self.pairs[old_pair]
            if new_pair is not None:
                self.pairs[new_pair] = cid
        self.rows[cid] = row
        self.touched.add(cid)

    def set_props(self, cid: int, props: dict[str, str]) -> None:
        old = self.props.get(cid, {})
        self.props[cid] = props
        if not self.by_properties:
            return
        for key in old.items() - props.items():
            self.prop_index.get(key, set()).discard(cid)
        for key in props.items() - old.items():
            self.prop_index.setdefault(key, set()).add(cid)

    def with_column(self, column: str, value: Any) -> set[int]:
        return self.index[column].get(index_key(column, value), set())

    def alias(self, kind: str, value: str, cid: int) -> None:
        """An identity of a contact merged into `cid`: a match rule finds `cid` by it when no
        contact holds it itself (`finding`, `pair_match`); the identity checks ignore it."""
        if kind == "PAIR":
            email, _, mobile = value.partition("\n")
            self.alias_pairs[(email, mobile)] = cid
            self.aliases.update({("email", email or None, cid), ("mobile", mobile or None, cid)})
            return
        column = merge.ALIAS_COLUMNS[kind]
        self.alias_of[(column, index_key(column, value))] = cid
        self.aliases.add((column, value, cid))

    def add_list(self, key: str, row: ListRow) -> None:
        """A list this chunk makes (`key`: its name in lower case). The shared cache sees it once
        committed: the chunk's first list copies the cache's maps instead of writing to them."""
        if self._lists_shared:
            self.lists_by_id, self.lists_by_name = dict(self.lists_by_id), dict(self.lists_by_name)
            self._lists_shared = False
        self.lists_by_name[key] = self.lists_by_id[row.id] = row

    def finding(self, column: str, value: Any) -> set[int]:
        """The contacts a match rule finds by a column's value: those that hold it, or else the
        survivor of a merged contact that held it."""
        found = self.with_column(column, value)
        if found or not self.alias_of:
            return found
        cid = self.alias_of.get((column, index_key(column, value)))
        return found if cid is None else {cid}

    def pair_match(self, email: str | None, mobile: str | None) -> int | None:
        """The contact with this email and mobile (the EMAIL_AND_MOBILE rule), or the survivor of one."""
        key = (email or "", mobile or "")
        cid = self.pairs.get(key)
        return cid if cid is not None else self.alias_pairs.get(key)

    def unaliased(self, cid: int, values: dict[str, Any]) -> dict[str, Any]:
        """An item's values without the identities that are `cid`'s aliases: an old identity
        finds the survivor of a merge, and does not replace the survivor's own."""
        if not self.aliases:
            return values
        dropped = {column for column, value in values.items() if (column, value, cid) in self.aliases}
        if "mobile" in dropped:
            dropped.add("mobile_country_code")
        return {column: value for column, value in values.items() if column not in dropped} if dropped else values

    def add_loaded(self, row: Any) -> None:
        """A contact row as read from the database (a row in CONTACT_COLUMNS order)."""
        data = dict(zip(CONTACT_COLUMNS, row, strict=True))
        cid = data["id"]
        if cid in self.rows:
            return
        self.original[cid] = data
        self.set_row(cid, dict(data))
        self.touched.discard(cid)


def load_chunk(conn: sa.Connection, *, workspace_id: int, work: Sequence[Work], catalog: Catalog, now: dt.datetime) -> ChunkState:
    by_properties = any(MatchRule.PROPERTIES in w.options.match.rules for w in work)
    wants_props = by_properties or any(w.item.properties for w in work)
    fields = FieldSet({}, {})
    if wants_props:
        fields = catalog.fields(conn, workspace_id, ((p.id, p.name) for w in work for p in w.item.properties))
    state = ChunkState(workspace_id, fields, by_properties=by_properties)

    ids: set[int] = set()
    values: dict[str, set[Any]] = {"external_id": set(), "email": set(), "mobile": set()}
    name_values: dict[str, set[str]] = {"first_name": set(), "last_name": set()}
    prop_pairs: set[tuple[str, str]] = set()
    for w in work:
        if w.item.contact_id is not None:
            ids.add(w.item.contact_id)
        for column, seen in values.items():
            if (value := w.item.values.get(column)) is not None:
                seen.add(value)
        if MatchRule.PROPERTIES in w.options.match.rules:
            w.conditions = property_conditions(w.item, w.options.match, fields)
            for kind, key, value in w.conditions if isinstance(w.conditions, list) else ():
                if kind == "prop":
                    prop_pairs.add((key, value))
                elif key in values:
                    values[key].add(value)
                else:
                    name_values[key].add(value)

    serialize(conn, workspace_id=workspace_id, keys=_lock_keys(work))
    if ids or any(values.values()):
        _add_rows(state, candidates.BY_KEYS.rows(conn, {"ws": workspace_id, "ids": list(ids), **{k: list(v) for k, v in values.items()}}))
    if any(name_values.values()):
        _add_rows(state, candidates.BY_NAMES.rows(conn, {"ws": workspace_id, **{k: list(v) for k, v in name_values.items()}}))
    if prop_pairs:
        found = list({v for _, v in prop_pairs})
        params = {"ws": workspace_id, "fields": list({k for k, _ in prop_pairs}), "values": found, "hashes": [value_hash(v) for v in found]}
        _add_rows(state, candidates.BY_PROPS.rows(conn, params))

    if catalog.aliasing(conn, workspace_id):
        _add_aliases(conn, state, work)
    # After the keys are locked: on PostgreSQL an erasure of the same person has committed or waits.
    if catalog.suppressing(conn, workspace_id):
        # the items' identities, and the candidates' own (a pending re-subscription: upsert/suppress.py)
        digests = [digest for values in [*(w.item.values for w in work), *state.rows.values()] for digest in erase.digests_of(values)]
        state.suppressed = erase.suppressed(conn, workspace_id=workspace_id, digests=digests)

    loaded = list(state.rows)
    if loaded and wants_props:
        _load_props(conn, state, loaded)
    if any(w.item.lists is not None or w.options.list_id for w in work):
        if loaded:
            _load_pairs(conn, candidates.MEMBERSHIPS, loaded, state.lists_of, state.original_lists)
        _load_lists(conn, state, work, catalog)
    if any(w.item.companies is not None for w in work):
        if loaded:
            _load_pairs(conn, candidates.COMPANIES, loaded, state.companies_of, state.original_companies)
        wanted = {cid for w in work for cid in w.item.companies or ()}
        state.known_companies = existing_company_ids(conn, workspace_id=workspace_id, ids=list(wanted))
    if loaded and any(w.item.urls is not None for w in work):
        _load_urls(conn, state, loaded)
    if loaded and any(w.options.subscription is not None and w.options.subscription.limit is not None for w in work):
        # Read after the keys are locked (serialize) and written in this transaction: a limit
        # that concurrent requests cannot all pass.
        state.subscribes = consents.subscribes_since(conn, contact_ids=loaded, since=now - consents.SUBSCRIBE_WINDOW)
    return state


# Rules no unique index covers: their match-or-create is serialised on the keys they read.
_UNINDEXED = {
    MatchRule.EMAIL: ("email",),
    MatchRule.MOBILE: ("mobile",),
    MatchRule.EMAIL_OR_MOBILE: ("email", "mobile"),
    MatchRule.NAME_AND_EMAIL: ("email",),
}


def _lock_keys(work: Sequence[Work]) -> set[str]:
    keys: set[str] = set()
    for w in work:
        for rule in w.options.match.rules:
            for column in _UNINDEXED.get(rule, ()):
                if (value := w.item.values.get(column)) is not None:
                    keys.add(f"{column}:{value}")
            if rule is MatchRule.PROPERTIES and isinstance(w.conditions, list) and w.conditions:
                keys.add("properties:" + "|".join(f"{k}={v}" for _, k, v in sorted(w.conditions)))
    return keys


def _add_aliases(conn: sa.Connection, state: ChunkState, work: Sequence[Work]) -> None:
    """The merged contacts' identities the items name find the survivors (workspace/merge.py)."""
    found = merge.aliases_named(conn, workspace_id=state.workspace_id, items=[w.item.values for w in work])
    if missing := sorted({cid for _, _, cid in found if cid not in state.rows}):
        _add_rows(state, conn.execute(sa.select(contact_t).where(contact_t.c.workspace_id == state.workspace_id, contact_t.c.id.in_(missing))))
    for kind, value, cid in found:
        if cid in state.rows:
            state.alias(kind, value, cid)


def _add_rows(state: ChunkState, rows: Iterable[Any]) -> None:
    for row in rows:
        state.add_loaded(row)


def _load_props(conn: sa.Connection, state: ChunkState, contact_ids: list[int]) -> None:
    found: dict[int, dict[str, str]] = {cid: {} for cid in contact_ids}
    for cid, field_id, value in candidates.PROPS.rows(conn, {"ws": state.workspace_id, "ids": contact_ids}):
        found[cid][field_id] = value
    for cid, props in found.items():
        state.original_props[cid] = dict(props)
        state.set_props(cid, props)


def _load_pairs(
    conn: sa.Connection, query: Read, contact_ids: list[int], current: dict[int, set[str]], original: dict[int, set[str]]
) -> None:
    """Link rows (contact, other) of loaded contacts: list memberships or companies."""
    found: dict[int, set[str]] = {cid: set() for cid in contact_ids}
    for cid, other in query.rows(conn, {"ids": contact_ids}):
        found[cid].add(other)
    for cid, others in found.items():
        original[cid] = set(others)
        current[cid] = others


def _load_urls(conn: sa.Connection, state: ChunkState, contact_ids: list[int]) -> None:
    found: dict[int, dict[str, tuple[str, str | None]]] = {cid: {} for cid in contact_ids}
    for cid, ref, url, label in candidates.URLS.rows(conn, {"ids": contact_ids}):
        found[cid][ref] = (url, label)
    for cid, urls in found.items():
        state.original_urls[cid] = dict(urls)
        state.urls_of[cid] = urls


def _load_lists(conn: sa.Connection, state: ChunkState, work: Sequence[Work], catalog: Catalog) -> None:
    ids: set[str] = set()
    names: set[str] = set()
    for w in work:
        if w.options.list_id:
            ids.add(w.options.list_id)
        changes = w.item.lists
        for ref in (changes.add + changes.remove + (changes.set or ())) if changes else ():
            if ref.id is not None:
                ids.add(ref.id)
            else:
                names.add(ref.name.lower())  # type: ignore[union-attr]
    by_id, by_name = catalog.lists(conn, state.workspace_id, ids, names)
    state.lists_by_id, state.lists_by_name = by_id, by_name
    state._lists_shared = True
