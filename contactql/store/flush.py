"""Write what a chunk decided: the difference between the loaded and the final state.

A statement per kind of change, each an `executemany`: new lists, new contacts (one multi-row
INSERT … RETURNING id, in parameter order), changed contacts, property values (upsert with
`on_conflict_do_update`, delete), memberships, companies, external URLs. Contacts created in the
chunk carry negative stand-in ids until their INSERT returns the real ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from contactql.store.chunk import CONTACT_COLUMNS, ChunkState
from contactql.store.dialect import insert
from contactql.store.model import ItemResult
from contactql.store.tables import (
    contact_company_t,
    contact_list_t,
    contact_t,
    external_url_t,
    membership_t,
    property_value_t,
)

_INSERT_COLUMNS = tuple(c for c in CONTACT_COLUMNS if c != "id")
_UPDATE_COLUMNS = tuple(c for c in CONTACT_COLUMNS if c not in {"id", "workspace_id", "created_at", "created_by", "source"})
_UPDATE = (
    sa.update(contact_t)
    .where(contact_t.c.id == sa.bindparam("b_id"))
    .values({c: sa.bindparam(f"b_{c}") for c in _UPDATE_COLUMNS})
)


async def flush(conn: AsyncConnection, state: ChunkState, results: Sequence[ItemResult]) -> None:
    if state.new_lists:
        await conn.execute(sa.insert(contact_list_t), list(state.new_lists.values()))
    touched = sorted(state.touched)
    # Updates first: an update that moves a contact off an identity frees it for an insert.
    updates = [
        {"b_id": cid, **{f"b_{c}": state.rows[cid][c] for c in _UPDATE_COLUMNS}}
        for cid in touched
        if cid > 0 and state.rows[cid] != state.original[cid]
    ]
    if updates:
        await conn.execute(_UPDATE, updates)
    real = await _insert_contacts(conn, state)
    if real:
        for result in results:
            result.contact_ids = [real.get(cid, cid) for cid in result.contact_ids]
            for row in result.contacts:
                row["id"] = real.get(row["id"], row["id"])

    def rid(cid: int) -> int:
        return real.get(cid, cid)

    await _write_props(conn, state, touched, rid)
    await _write_pairs(conn, membership_t, "list_id", state.lists_of, state.original_lists, touched, rid, state)
    await _write_pairs(conn, contact_company_t, "company_id", state.companies_of, state.original_companies, touched, rid, None)
    await _write_urls(conn, state, touched, rid)


async def _insert_contacts(conn: AsyncConnection, state: ChunkState) -> dict[int, int]:
    placeholders = sorted((cid for cid in state.rows if cid < 0), reverse=True)  # creation order
    if not placeholders:
        return {}
    rows = [{c: state.rows[cid][c] for c in _INSERT_COLUMNS} for cid in placeholders]
    statement = sa.insert(contact_t).returning(contact_t.c.id, sort_by_parameter_order=True)
    ids = [row[0] for row in await conn.execute(statement, rows)]
    real = dict(zip(placeholders, ids, strict=True))
    for placeholder, cid in real.items():
        state.rows[placeholder]["id"] = cid
    return real


async def _write_props(conn: AsyncConnection, state: ChunkState, touched: Iterable[int], rid: Any) -> None:
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
        statement = insert(conn, property_value_t)
        statement = statement.on_conflict_do_update(
            index_elements=[property_value_t.c.contact_id, property_value_t.c.field_id],
            set_={"value": statement.excluded.value},
        )
        await conn.execute(statement, upserts)
    if deletes:
        pv = property_value_t.c
        await conn.execute(
            sa.delete(property_value_t).where(pv.contact_id == sa.bindparam("b_cid"), pv.field_id == sa.bindparam("b_fid")),
            deletes,
        )


async def _write_pairs(
    conn: AsyncConnection,
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
        await conn.execute(insert(conn, table).on_conflict_do_nothing(), adds)
    if removes:
        await conn.execute(
            sa.delete(table).where(table.c.contact_id == sa.bindparam("b_cid"), table.c[other] == sa.bindparam("b_other")),
            removes,
        )


async def _write_urls(conn: AsyncConnection, state: ChunkState, touched: Iterable[int], rid: Any) -> None:
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
        statement = insert(conn, external_url_t)
        statement = statement.on_conflict_do_update(
            index_elements=[external_url_t.c.contact_id, external_url_t.c.ref],
            set_={"url": statement.excluded.url, "label": statement.excluded.label},
        )
        await conn.execute(statement, upserts)
    if deletes:
        u = external_url_t.c
        await conn.execute(
            sa.delete(external_url_t).where(u.contact_id == sa.bindparam("b_cid"), u.ref == sa.bindparam("b_ref")),
            deletes,
        )
