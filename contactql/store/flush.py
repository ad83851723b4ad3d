"""Write what a chunk decided: the difference between the loaded and the final state.

A statement per kind of change, each an `executemany`: new lists, new contacts (one multi-row
INSERT … RETURNING id, in parameter order), changed contacts, property values (upsert with
`on_conflict_do_update`, delete), memberships, companies, external URLs. Contacts created in the
chunk carry negative stand-in ids until their INSERT returns the real ones.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from contactql.store import effects
from contactql.store.chunk import CONTACT_COLUMNS, ChunkState
from contactql.store.dialect import allocate_ids, insert_ignoring_duplicates, upsert
from contactql.store.model import ItemResult
from contactql.store.tables import (
    contact_company_t,
    contact_list_t,
    contact_t,
    external_url_t,
    membership_t,
    property_value_t,
)

_INSERT = sa.insert(contact_t)
_UPDATE_COLUMNS = tuple(c for c in CONTACT_COLUMNS if c not in {"id", "workspace_id", "created_at", "created_by", "source"})
_UPDATE = (
    sa.update(contact_t)
    .where(contact_t.c.id == sa.bindparam("b_id"))
    .values({c: sa.bindparam(f"b_{c}") for c in _UPDATE_COLUMNS})
)
_DELETE_PROP = sa.delete(property_value_t).where(
    property_value_t.c.contact_id == sa.bindparam("b_cid"), property_value_t.c.field_id == sa.bindparam("b_fid")
)
_DELETE_URL = sa.delete(external_url_t).where(
    external_url_t.c.contact_id == sa.bindparam("b_cid"), external_url_t.c.ref == sa.bindparam("b_ref")
)
_INSERT_LISTS = sa.insert(contact_list_t)


@functools.cache
def _delete_link(table: sa.Table, other: str) -> sa.Delete:
    return sa.delete(table).where(table.c.contact_id == sa.bindparam("b_cid"), table.c[other] == sa.bindparam("b_other"))


def flush(conn: sa.Connection, state: ChunkState, results: Sequence[ItemResult], now: dt.datetime) -> None:
    if state.new_lists:
        conn.execute(_INSERT_LISTS, list(state.new_lists.values()))
    touched = sorted(state.touched)
    # Updates first: an update that moves a contact off an identity frees it for an insert.
    updates = [
        {"b_id": cid, **{f"b_{c}": state.rows[cid][c] for c in _UPDATE_COLUMNS}}
        for cid in touched
        if cid > 0 and state.rows[cid] != state.original[cid]
    ]
    if updates:
        conn.execute(_UPDATE, updates)
    real = _insert_contacts(conn, state)
    if real:
        for result in results:
            result.contact_ids = [real.get(cid, cid) for cid in result.contact_ids]
            for row in result.contacts:
                row["id"] = real.get(row["id"], row["id"])

    def rid(cid: int) -> int:
        return real.get(cid, cid)

    _write_props(conn, state, touched, rid)
    _write_pairs(conn, membership_t, "list_id", state.lists_of, state.original_lists, touched, rid, state)
    _write_pairs(conn, contact_company_t, "company_id", state.companies_of, state.original_companies, touched, rid, None)
    _write_urls(conn, state, touched, rid)
    effects.write(conn, state.effects, workspace_id=state.workspace_id, rid=rid, now=now)


def _insert_contacts(conn: sa.Connection, state: ChunkState) -> dict[int, int]:
    placeholders = sorted((cid for cid in state.rows if cid < 0), reverse=True)  # creation order
    if not placeholders:
        return {}
    real = dict(zip(placeholders, allocate_ids(conn, contact_t, len(placeholders)), strict=True))
    for placeholder, cid in real.items():
        state.rows[placeholder]["id"] = cid
    conn.execute(_INSERT, [state.rows[cid] for cid in placeholders])
    return real


def _write_props(conn: sa.Connection, state: ChunkState, touched: Iterable[int], rid: Any) -> None:
    upserts: list[dict[str, Any]] = []
    deletes: list[dict[str, Any]] = []
    for cid in touched:
        if cid not in state.props:
            continue
        old, new = state.original_props.get(cid, {}), state.props[cid]
        for field_id, value in new.items():
            if old.get(field_id) != value:
                upserts.append({"contact_id": rid(cid), "field_id": field_id, "workspace_id": state.workspace_id, "value": value})
        deletes += [{"b_cid": cid, "b_fid": field_id} for field_id in old.keys() - new.keys()]
    if upserts:
        conn.execute(upsert(conn.dialect.name, property_value_t, ("contact_id", "field_id"), ("value",)), upserts)
    if deletes:
        conn.execute(_DELETE_PROP, deletes)


def _write_pairs(
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
        removes += [{"b_cid": cid, "b_other": o} for o in sorted(old - new)]
    if adds:
        conn.execute(insert_ignoring_duplicates(conn.dialect.name, table), adds)
    if removes:
        conn.execute(_delete_link(table, other), removes)


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
        deletes += [{"b_cid": cid, "b_ref": ref} for ref in old.keys() - new.keys()]
    if upserts:
        conn.execute(upsert(conn.dialect.name, external_url_t, ("contact_id", "ref"), ("url", "label")), upserts)
    if deletes:
        conn.execute(_DELETE_URL, deletes)
