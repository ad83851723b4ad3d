"""Write what a chunk decided: the difference between the loaded and the final state.

A statement per kind of change, each one set-based write (store/db/bulk.py): new lists, changed
contacts, new contacts (ids allocated first, see dialect.allocate_ids), property values
(upsert with `on_conflict_do_update`, delete), memberships, companies, external URLs, then the
history, events and tokens of store/upsert/effects.py. Contacts created in the chunk carry negative
stand-in ids until their ids are allocated.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from contactql.store.db import bulk
from contactql.store.db.columns import value_hash
from contactql.store.db.dialect import allocate_ids
from contactql.store.db.tables import (
    CONTACT_COLUMNS,
    contact_company_t,
    contact_list_t,
    contact_t,
    external_url_t,
    membership_t,
    property_value_t,
)
from contactql.store.model import ItemResult
from contactql.store.upsert import effects
from contactql.store.upsert.chunk import ChunkState
from contactql.store.workspace import erase
from contactql.store.workspace.search import search_text

_UPDATE_COLUMNS = tuple(c for c in CONTACT_COLUMNS if c not in {"id", "workspace_id", "created_at", "created_by", "source"})


@functools.lru_cache(maxsize=256)
def _update_contacts(columns: tuple[str, ...]) -> bulk.Bulk:
    """UPDATE of just these columns: SQLite rewrites the entries of every index whose column is
    SET, changed or not, so a name change must not touch the email, mobile and identity indexes."""
    return bulk.update(contact_t, "id", columns)


_INSERT_CONTACTS = bulk.insert(contact_t)
_INSERT_LISTS = bulk.insert(contact_list_t)
_UPSERT_PROPS = bulk.upsert(property_value_t, ("contact_id", "field_id"), ("value", "value_hash"))
_UPSERT_URLS = bulk.upsert(external_url_t, ("contact_id", "ref"), ("url", "label"))
_DELETE_PROPS = bulk.delete(property_value_t, "contact_id", "field_id")
_DELETE_URLS = bulk.delete(external_url_t, "contact_id", "ref")
_LINKS = {
    membership_t: (bulk.insert_ignoring_duplicates(membership_t), bulk.delete(membership_t, "contact_id", "list_id")),
    contact_company_t: (bulk.insert_ignoring_duplicates(contact_company_t), bulk.delete(contact_company_t, "contact_id", "company_id")),
}


def flush(conn: sa.Connection, state: ChunkState, results: Sequence[ItemResult], now: dt.datetime) -> None:
    _INSERT_LISTS.execute(conn, list(state.new_lists.values()))
    touched = sorted(state.touched)
    for cid in touched:  # what the contact is found by, written with what it is found by
        row = state.rows[cid]
        row["search_text"] = search_text(row)
    # Updates first: an update that moves a contact off an identity frees it for an insert.
    _update_changed(conn, state, touched)
    real = _insert_contacts(conn, state)
    if real:
        for result in results:
            result.contact_ids = [real.get(cid, cid) for cid in result.contact_ids]
            for row in result.contacts:
                row["id"] = real.get(row["id"], row["id"])

    def rid(cid: int) -> int:
        return real.get(cid, cid)

    _write_props(conn, state, touched, rid)
    _write_links(conn, membership_t, "list_id", state.lists_of, state.original_lists, touched, rid, state)
    _write_links(conn, contact_company_t, "company_id", state.companies_of, state.original_companies, touched, rid, None)
    _write_urls(conn, state, touched, rid)
    effects.write(conn, state.effects, workspace_id=state.workspace_id, rid=rid, now=now)
    erase.lift(conn, workspace_id=state.workspace_id, digests=state.lifted)


def _update_changed(conn: sa.Connection, state: ChunkState, touched: Iterable[int]) -> None:
    """Changed contacts, one UPDATE per set of changed columns (few per chunk: items alike).

    Rows are written in id order, items were decided in item order: a contact may take the
    email, mobile or externalId another contact gives up later in id order but earlier in the
    items, and a unique index checks each row as it is written. So every identity that changes
    is let go first (NULL: the pair index holds only rows with an email or a mobile); the
    chunk then fails only on a conflict it really has, not on its order."""
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    freed: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for cid in touched:
        if cid < 0:
            continue
        row, old = state.rows[cid], state.original[cid]
        columns = tuple(c for c in _UPDATE_COLUMNS if row[c] != old[c])
        if columns:
            if letting_go := _identities_of(columns):
                freed.setdefault(letting_go, []).append({"id": row["id"], **dict.fromkeys(letting_go)})
                columns = _with(columns, letting_go)  # written back, changed or not
            by_columns.setdefault(columns, []).append(row)
    for columns, rows in [*freed.items(), *by_columns.items()]:
        _update_contacts(columns).execute(conn, rows)


@functools.lru_cache(maxsize=64)
def _identities_of(columns: tuple[str, ...]) -> tuple[str, ...]:
    """The identity columns to let go of when `columns` change: both of the pair, or neither."""
    pair = ("email", "mobile") if {"email", "mobile"} & set(columns) else ()
    return (*pair, *(("external_id",) if "external_id" in columns else ()))


@functools.lru_cache(maxsize=64)
def _with(columns: tuple[str, ...], more: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(c for c in _UPDATE_COLUMNS if c in columns or c in more)


def _insert_contacts(conn: sa.Connection, state: ChunkState) -> dict[int, int]:
    placeholders = sorted((cid for cid in state.rows if cid < 0), reverse=True)  # creation order
    if not placeholders:
        return {}
    real = dict(zip(placeholders, allocate_ids(conn, contact_t, len(placeholders)), strict=True))
    for placeholder, cid in real.items():
        state.rows[placeholder]["id"] = cid
    _INSERT_CONTACTS.execute(conn, [state.rows[cid] for cid in placeholders])
    return real


def _write_props(conn: sa.Connection, state: ChunkState, touched: Iterable[int], rid: Any) -> None:
    upserts: list[dict[str, Any]] = []
    deletes: list[dict[str, Any]] = []
    workspace_id, current, original = state.workspace_id, state.props, state.original_props
    for cid in touched:
        if (new := current.get(cid)) is None:
            continue
        old = original.get(cid) or {}
        contact_id = rid(cid)
        upserts += [
            {"contact_id": contact_id, "field_id": field_id, "workspace_id": workspace_id, "value": value, "value_hash": value_hash(value)}
            for field_id, value in new.items()
            if old.get(field_id) != value
        ]
        if old:
            deletes += [{"contact_id": cid, "field_id": field_id} for field_id in old.keys() - new.keys()]
    _UPSERT_PROPS.execute(conn, upserts)
    _DELETE_PROPS.execute(conn, deletes)


def _write_links(
    conn: sa.Connection,
    table: sa.Table,
    other: str,
    current: dict[int, set[str]],
    original: dict[int, set[str]],
    touched: Iterable[int],
    rid: Any,
    stamped: ChunkState | None,
) -> None:
    """Link rows (contact, other): list memberships or contact companies."""
    adds: list[dict[str, Any]] = []
    removes: list[dict[str, Any]] = []
    for cid in touched:
        if cid not in current:
            continue
        old, new = original.get(cid, set()), current[cid]
        extra = {"created_at": stamped.rows[cid]["updated_at"]} if stamped is not None else {}
        adds += [{"contact_id": rid(cid), other: o, **extra} for o in sorted(new - old)]
        removes += [{"contact_id": cid, other: o} for o in sorted(old - new)]
    add, remove = _LINKS[table]
    add.execute(conn, adds)
    remove.execute(conn, removes)


def _write_urls(conn: sa.Connection, state: ChunkState, touched: Iterable[int], rid: Any) -> None:
    upserts: list[dict[str, Any]] = []
    deletes: list[dict[str, Any]] = []
    for cid in touched:
        if cid not in state.urls_of:
            continue
        old, new = state.original_urls.get(cid, {}), state.urls_of[cid]
        upserts += [
            {"contact_id": rid(cid), "ref": ref, "url": url, "label": label}
            for ref, (url, label) in new.items()
            if old.get(ref) != (url, label)
        ]
        deletes += [{"contact_id": cid, "ref": ref} for ref in old.keys() - new.keys()]
    _UPSERT_URLS.execute(conn, upserts)
    _DELETE_URLS.execute(conn, deletes)
