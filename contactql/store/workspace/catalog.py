"""Renaming and deleting lists and property fields (issue 22).

Each runs in one write transaction that also raises the workspace's `catalog_version`, so every
process's cache of lists and fields (upsert/cache.py) reloads at its next lookup. A delete
writes a history entry for each contact it changes (the list left its `lists`, the property's
value went to null) before it removes anything, and is refused, naming them, while segments or
unfinished batches refer to what it would remove. Renaming a property rewrites the segments that
name it (segments keep properties by name, lists by id).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

import sqlalchemy as sa

from contactql.store.db.tables import batch_t, contact_list_t, membership_t, property_field_t, property_value_t, segment_t, workspace_t
from contactql.store.errors import ErrorCode, Invalid, NotFound
from contactql.store.model import UNFINISHED_BATCH, PropertyType, Source
from contactql.store.values import BUILTIN_PROPERTY_NAMES, MAX_NAME, reserved_column
from contactql.store.workspace import bulk_jobs
from contactql.store.workspace.history import PendingHistory, write_history
from contactql.store.workspace.lists import ListRow, checked_name, lock_list
from contactql.store.workspace.properties import MAX_SELECT_OPTIONS, FieldDef

HISTORY_SLICE = 5_000  # contacts whose history entries are written per statement


def bump_catalog(conn: sa.Connection, workspace_id: int) -> None:
    """Every process's cache of the workspace's lists, fields and suppressions reloads (upsert/cache.py)."""
    w = workspace_t.c
    conn.execute(sa.update(workspace_t).where(w.id == workspace_id).values(catalog_version=w.catalog_version + 1))


# -- who refers to a list or a property ------------------------------------------------------


def _walk(query: Any) -> Iterable[dict[str, Any]]:
    """Every query of a segment's filter JSON, nested ones included."""
    if not isinstance(query, dict):
        return
    yield query
    for key in ("all_of", "any_of"):
        for inner in query.get(key) or ():
            yield from _walk(inner)
    yield from _walk(query.get("none_of"))


def _names_list(query: dict[str, Any], list_id: str) -> bool:
    return query.get("list_id") == list_id or list_id in (query.get("list_ids") or ()) or list_id in (query.get("not_in_list_ids") or ())


def _names_property(query: dict[str, Any], key: str) -> bool:
    named = [query.get("property_name"), *(p.get("name") for p in query.get("properties") or ())]
    return any(isinstance(n, str) and n.strip().lower() == key for n in named)


def _segments_naming(conn: sa.Connection, workspace_id: int, names: Callable[[dict[str, Any]], bool]) -> list[tuple[str, str, dict[str, Any]]]:
    s = segment_t.c
    rows = conn.execute(sa.select(s.id, s.name, s.query).where(s.workspace_id == workspace_id).order_by(s.name_key))
    return [(sid, name, query) for sid, name, query in rows if any(names(q) for q in _walk(query))]


def _in_use(what: str, segments: list[tuple[str, str, dict[str, Any]]], jobs: list[str]) -> Invalid:
    """`jobs`: unfinished batches and bulk jobs, each already named ("unfinished batch …")."""
    named = [f"segment {name!r} ({sid})" for sid, name, _ in segments[:10]] + jobs[:10]
    more = len(segments) + len(jobs) - len(named)
    return Invalid.at(("id",), f"{what} is used by {', '.join(named)}{f' and {more} more' if more > 0 else ''}: change or delete segments, wait for (or cancel) jobs first", ErrorCode.IN_USE)


# -- lists -------------------------------------------------------------------------------------


def _list(conn: sa.Connection, workspace_id: int, list_id: str) -> Any:
    row = conn.execute(sa.select(contact_list_t).where(contact_list_t.c.workspace_id == workspace_id, contact_list_t.c.id == list_id)).first()
    if row is None:
        raise NotFound.at(("id",), f"no list with id {list_id}", ErrorCode.LIST_NOT_FOUND)
    return row


def rename_list(conn: sa.Connection, *, workspace_id: int, list_id: str, name: str) -> ListRow:
    row = _list(conn, workspace_id, list_id)
    name = checked_name(name)
    l = contact_list_t.c  # noqa: E741 - the table's columns, as elsewhere
    taken = conn.scalar(sa.select(l.id).where(l.workspace_id == workspace_id, l.name_key == name.lower(), l.id != list_id))
    if taken is not None:
        raise Invalid.at(("name",), f"a list named {name!r} already exists (id {taken})")
    if name != row.name:
        conn.execute(sa.update(contact_list_t).where(l.id == list_id).values(name=name, name_key=name.lower()))
        bump_catalog(conn, workspace_id)
    return ListRow(list_id, name, row.created_at)


def delete_list(conn: sa.Connection, *, workspace_id: int, list_id: str, actor: str | None) -> int:
    """Delete a list; its members (deleted contacts too) each get a history entry. Returns how
    many contacts left it. The list's row is locked first, so a batch being stored with it is
    either seen below or finds no list (lists.lock_list)."""
    if lock_list(conn, workspace_id=workspace_id, list_id=list_id) is None:
        raise NotFound.at(("id",), f"no list with id {list_id}", ErrorCode.LIST_NOT_FOUND)
    segments = _segments_naming(conn, workspace_id, lambda q: _names_list(q, list_id))
    b = batch_t.c
    unfinished = conn.execute(
        sa.select(b.id, b.options).where(b.workspace_id == workspace_id, b.status.in_(UNFINISHED_BATCH))
    ).all()
    waiting = [f"unfinished batch {bid}" for bid, options in unfinished if (options or {}).get("list_id") == list_id]
    waiting += [
        f"unfinished bulk job {jid}"
        for jid, target, query in bulk_jobs.unfinished(conn, workspace_id=workspace_id)
        if target == list_id or any(_names_list(q, list_id) for q in _walk(query))
    ]
    if segments or waiting:
        raise _in_use("this list", segments, waiting)
    m = membership_t.c
    members = list(conn.scalars(sa.select(m.contact_id).where(m.list_id == list_id)))
    now = dt.datetime.now(dt.UTC)
    for start in range(0, len(members), HISTORY_SLICE):
        chunk = members[start : start + HISTORY_SLICE]
        lists_of: dict[int, set[str]] = defaultdict(set)
        for cid, other in conn.execute(sa.select(m.contact_id, m.list_id).where(m.contact_id.in_(chunk))):
            lists_of[cid].add(other)
        entries = [PendingHistory(cid, [("lists", sorted(lists_of[cid]), sorted(lists_of[cid] - {list_id}))], Source.API, actor, None) for cid in chunk]
        write_history(conn, entries, workspace_id=workspace_id, now=now)
    conn.execute(sa.delete(membership_t).where(m.list_id == list_id))
    conn.execute(sa.delete(contact_list_t).where(contact_list_t.c.id == list_id))
    bump_catalog(conn, workspace_id)
    return len(members)


# -- property fields ---------------------------------------------------------------------------


def _field(conn: sa.Connection, workspace_id: int, field_id: str) -> FieldDef:
    p = property_field_t.c
    row = conn.execute(sa.select(property_field_t).where(p.workspace_id == workspace_id, p.id == field_id)).first()
    if row is None:
        raise NotFound.at(("id",), f"no property field with id {field_id}")
    return FieldDef.from_row(row)


def _rename_in(query: dict[str, Any], old_key: str, new: str) -> dict[str, Any]:
    """A segment's filter JSON naming the property `new` where it named `old_key`."""
    out = dict(query)
    if isinstance(out.get("property_name"), str) and out["property_name"].strip().lower() == old_key:
        out["property_name"] = new
    if out.get("properties"):
        out["properties"] = [{**p, "name": new} if str(p.get("name", "")).strip().lower() == old_key else p for p in out["properties"]]
    for key in ("all_of", "any_of"):
        if out.get(key):
            out[key] = [_rename_in(inner, old_key, new) for inner in out[key]]
    if isinstance(out.get("none_of"), dict):
        out["none_of"] = _rename_in(out["none_of"], old_key, new)
    return out


def update_field(conn: sa.Connection, *, workspace_id: int, field_id: str, name: str | None, options: list[str] | None) -> FieldDef:
    """Rename a property field (segments naming it follow) and/or set a SELECT field's options:
    options may be added, reordered or removed, but not one a contact still holds."""
    field = _field(conn, workspace_id, field_id)
    p = property_field_t.c
    values: dict[str, Any] = {}
    if name is not None:
        name = name.strip()
        if not name or len(name) > MAX_NAME:
            raise Invalid.at(("input", "name"), f"must be 1 to {MAX_NAME} characters")
        if name.lower() in BUILTIN_PROPERTY_NAMES:
            raise Invalid.at(("input", "name"), f"{name!r} is a built-in contact field, not a custom property")
        if (why := reserved_column(name)) is not None:
            raise Invalid.at(("input", "name"), f"{why}: choose another name for the property")
        taken = conn.scalar(sa.select(p.id).where(p.workspace_id == workspace_id, p.name_key == name.lower(), p.id != field_id))
        if taken is not None:
            raise Invalid.at(("input", "name"), f"a property named {name!r} already exists (id {taken})")
        if name != field.name:
            values.update(name=name, name_key=name.lower())
    if options is not None:
        if field.type is not PropertyType.SELECT:
            raise Invalid.at(("input", "options"), "only SELECT fields take options")
        clean = list(dict.fromkeys(o.strip() for o in options if o.strip()))
        if not clean or len(clean) > MAX_SELECT_OPTIONS or any(len(o) > MAX_NAME for o in clean):
            raise Invalid.at(("input", "options"), f"a SELECT field needs 1 to {MAX_SELECT_OPTIONS} options of at most {MAX_NAME} characters")
        removed = sorted(set(field.options or ()) - set(clean))
        if removed:
            v = property_value_t.c
            held = conn.execute(sa.select(v.value, sa.func.count()).where(v.field_id == field_id, v.value.in_(removed)).group_by(v.value)).all()
            if held:
                said = ", ".join(f"{value!r} ({count} contacts)" for value, count in sorted(held))
                raise Invalid.at(("input", "options"), f"contacts still hold {said}: change their values first", ErrorCode.IN_USE)
        if tuple(clean) != field.options:
            values["options"] = clean
    if not values:
        return field
    conn.execute(sa.update(property_field_t).where(p.id == field_id).values(values))
    if "name" in values:
        old_key = field.name.lower()
        for sid, _, query in _segments_naming(conn, workspace_id, lambda q: _names_property(q, old_key)):
            conn.execute(sa.update(segment_t).where(segment_t.c.id == sid).values(query=_rename_in(query, old_key, values["name"])))
    bump_catalog(conn, workspace_id)
    return FieldDef(field.id, values.get("name", field.name), field.type, tuple(values["options"]) if "options" in values else field.options, field.created_at)


def delete_field(conn: sa.Connection, *, workspace_id: int, field_id: str, actor: str | None) -> int:
    """Delete a property field and every value of it; each contact that had one gets a history
    entry. Returns how many contacts had a value."""
    field = _field(conn, workspace_id, field_id)
    segments = _segments_naming(conn, workspace_id, lambda q: _names_property(q, field.name.lower()))
    if segments:
        raise _in_use(f"the property {field.name!r}", segments, [])
    v = property_value_t.c
    held = conn.execute(sa.select(v.contact_id, v.value).where(v.field_id == field_id).order_by(v.contact_id)).all()
    now = dt.datetime.now(dt.UTC)
    for start in range(0, len(held), HISTORY_SLICE):
        entries = [PendingHistory(cid, [(f"properties.{field.name}", value, None)], Source.API, actor, None) for cid, value in held[start : start + HISTORY_SLICE]]
        write_history(conn, entries, workspace_id=workspace_id, now=now)
    conn.execute(sa.delete(property_value_t).where(v.field_id == field_id))
    conn.execute(sa.delete(property_field_t).where(property_field_t.c.id == field_id))
    bump_catalog(conn, workspace_id)
    return len(held)
