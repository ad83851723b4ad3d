"""The working state of one chunk of upserts.

`load_chunk` reads, in a handful of statements, every contact the chunk's items could match or
collide with (by id, externalId, email, mobile and PROPERTIES conditions), with the property
values, list memberships, companies and URLs the items touch. Items are then decided one after
another against this state in memory, so items that share an identity see each other's
writes (one contact, not two), and `flush.py` writes the difference between the loaded and the
final state in a few `executemany` statements.

Completeness: a collision or a match can only involve a value some item names (its own
email, mobile, externalId, condition values) or a contact already loaded, so the in-memory
indexes are exact for every question the chunk asks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from contactql.store.companies import existing_company_ids
from contactql.store.errors import Problem
from contactql.store.lists import ListRow
from contactql.store.matching import Condition, property_conditions
from contactql.store.model import ContactItem, MatchRule, UpsertOptions
from contactql.store.properties import FieldSet, load_fields
from contactql.store.tables import (
    contact_company_t,
    contact_list_t,
    contact_t,
    external_url_t,
    membership_t,
    property_value_t,
)

CONTACT_COLUMNS = tuple(c.name for c in contact_t.columns)
INDEXED_COLUMNS = ("external_id", "email", "mobile", "first_name", "last_name")
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
    def __init__(self, workspace_id: int, fields: FieldSet) -> None:
        self.workspace_id = workspace_id
        self.fields = fields
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
        self.index: dict[str, dict[Any, set[int]]] = {c: {} for c in INDEXED_COLUMNS}
        self.pairs: dict[tuple[str, str], int] = {}
        self.prop_index: dict[tuple[str, str], set[int]] = {}
        self.lists_by_id: dict[str, ListRow] = {}
        self.lists_by_name: dict[str, ListRow] = {}
        self.new_lists: dict[str, dict[str, Any]] = {}
        self.known_companies: set[str] = set()
        self.touched: set[int] = set()
        self._placeholder = 0

    def new_placeholder(self) -> int:
        """A negative stand-in id for a contact created in this chunk, replaced at flush."""
        self._placeholder -= 1
        return self._placeholder

    # -- the in-memory indexes follow every row change ---------------------------------------

    def set_row(self, cid: int, row: dict[str, Any]) -> None:
        old = self.rows.get(cid)
        for column in INDEXED_COLUMNS:
            old_key = index_key(column, old[column]) if old else None
            new_key = index_key(column, row[column])
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
        for key in old.items() - props.items():
            self.prop_index.get(key, set()).discard(cid)
        for key in props.items() - old.items():
            self.prop_index.setdefault(key, set()).add(cid)
        self.props[cid] = props

    def with_column(self, column: str, value: Any) -> set[int]:
        return self.index[column].get(index_key(column, value), set())

    def _add_loaded(self, row: Any) -> None:
        data = dict(zip(CONTACT_COLUMNS, row, strict=True))
        cid = data["id"]
        if cid in self.rows:
            return
        self.original[cid] = data
        self.set_row(cid, dict(data))
        self.touched.discard(cid)


async def load_chunk(conn: AsyncConnection, *, workspace_id: int, work: Sequence[Work]) -> ChunkState:
    wants_props = any(w.item.properties or MatchRule.PROPERTIES in w.options.match.rules for w in work)
    fields = await load_fields(conn, workspace_id=workspace_id) if wants_props else FieldSet({}, {})
    state = ChunkState(workspace_id, fields)

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

    c = contact_t.c
    found = [c.id.in_(ids)] if ids else []
    found += [c[column].in_(seen) for column, seen in values.items() if seen]
    found += [sa.func.lower(c[column]).in_(seen) for column, seen in name_values.items() if seen]
    if prop_pairs:
        pv = property_value_t.c
        found.append(
            c.id.in_(
                sa.select(pv.contact_id).where(
                    pv.workspace_id == workspace_id,
                    pv.field_id.in_({k for k, _ in prop_pairs}),
                    pv.value.in_({v for _, v in prop_pairs}),
                )
            )
        )
    if found:
        for row in await conn.execute(sa.select(contact_t).where(c.workspace_id == workspace_id, sa.or_(*found))):
            state._add_loaded(row)

    loaded = list(state.rows)
    if loaded and wants_props:
        await _load_props(conn, state, loaded)
    if any(w.item.lists is not None or w.options.list_id for w in work):
        if loaded:
            await _load_pairs(conn, state, loaded, membership_t.c.list_id, state.lists_of, state.original_lists)
        await _load_lists(conn, state, work)
    if any(w.item.companies is not None for w in work):
        if loaded:
            await _load_pairs(
                conn, state, loaded, contact_company_t.c.company_id, state.companies_of, state.original_companies
            )
        wanted = {cid for w in work for cid in w.item.companies or ()}
        state.known_companies = await existing_company_ids(conn, workspace_id=workspace_id, ids=list(wanted))
    if loaded and any(w.item.urls is not None for w in work):
        await _load_urls(conn, state, loaded)
    return state


async def _load_props(conn: AsyncConnection, state: ChunkState, contact_ids: list[int]) -> None:
    pv = property_value_t.c
    found: dict[int, dict[str, str]] = {cid: {} for cid in contact_ids}
    rows = await conn.execute(
        sa.select(pv.contact_id, pv.field_id, pv.value).where(
            pv.workspace_id == state.workspace_id, pv.contact_id.in_(contact_ids)
        )
    )
    for cid, field_id, value in rows:
        found[cid][field_id] = value
    for cid, props in found.items():
        state.original_props[cid] = dict(props)
        state.set_props(cid, props)


async def _load_pairs(
    conn: AsyncConnection,
    state: ChunkState,
    contact_ids: list[int],
    column: sa.ColumnElement[Any],
    current: dict[int, set[str]],
    original: dict[int, set[str]],
) -> None:
    table = column.table
    found: dict[int, set[str]] = {cid: set() for cid in contact_ids}
    for cid, other in await conn.execute(sa.select(table.c.contact_id, column).where(table.c.contact_id.in_(contact_ids))):
        found[cid].add(other)
    for cid, others in found.items():
        original[cid] = set(others)
        current[cid] = others


async def _load_urls(conn: AsyncConnection, state: ChunkState, contact_ids: list[int]) -> None:
    u = external_url_t.c
    found: dict[int, dict[str, tuple[str, str | None]]] = {cid: {} for cid in contact_ids}
    for cid, ref, url, label in await conn.execute(
        sa.select(u.contact_id, u.ref, u.url, u.label).where(u.contact_id.in_(contact_ids))
    ):
        found[cid][ref] = (url, label)
    for cid, urls in found.items():
        state.original_urls[cid] = dict(urls)
        state.urls_of[cid] = urls


async def _load_lists(conn: AsyncConnection, state: ChunkState, work: Sequence[Work]) -> None:
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
    l = contact_list_t.c
    wanted = ([l.id.in_(ids)] if ids else []) + ([l.name_key.in_(names)] if names else [])
    if not wanted:
        return
    for row in await conn.execute(sa.select(contact_list_t).where(l.workspace_id == state.workspace_id, sa.or_(*wanted))):
        found = ListRow.from_row(row)
        state.lists_by_id[found.id] = found
        state.lists_by_name[found.name.lower()] = found
