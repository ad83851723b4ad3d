"""A per-process cache of each workspace's property fields and lists, and of whether it
suppresses any identity (an erasure's: store/workspace/erase.py) or has aliases (a merge's).

Creating one only adds to them, so an entry created by another process (or by a transaction
of this one) is found by the first lookup that misses, which reloads from the database inside
the caller's transaction before it answers "unknown". Renaming or deleting one changes an
entry, so those raise the workspace's `catalog_version` (store/workspace/catalog.py) in their
transaction: each lookup reads the version first (one primary-key read) and drops what it
cached under another version — in every process, at its next lookup. An erasure raises the
version too: until the first one, upserts need not look for suppressed identities; so does a
merge that leaves aliases (store/workspace/merge.py): until then, none are looked for.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

import sqlalchemy as sa

from contactql.store.db.reads import Read
from contactql.store.db.tables import contact_list_t, workspace_t
from contactql.store.workspace.erase import any_suppressed
from contactql.store.workspace.lists import ListRow
from contactql.store.workspace.merge import any_alias
from contactql.store.workspace.properties import FieldSet, load_fields

_l = contact_list_t.c
_LISTS = sa.select(_l.id, _l.name, _l.created_at).where(
    sa.or_(
        sa.and_(_l.workspace_id == sa.bindparam("ws"), _l.id.in_(sa.bindparam("ids", expanding=True))),
        sa.and_(_l.workspace_id == sa.bindparam("ws"), _l.name_key.in_(sa.bindparam("names", expanding=True))),
    )
)


_CHECKED = "contactql.catalog_checked"  # ((transaction, workspace), the version it read)
_VERSION = Read(sa.select(workspace_t.c.catalog_version).where(workspace_t.c.id == sa.bindparam("ws")))


class Catalog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fields: dict[int, FieldSet] = {}
        self._lists: dict[int, tuple[dict[str, ListRow], dict[str, ListRow]]] = {}
        self._versions: dict[int, int] = {}
        self._suppressing: dict[int, tuple[int, bool]] = {}  # (the version it was read under, whether)
        self._aliasing: dict[int, tuple[int, bool]] = {}

    def _current(self, conn: sa.Connection, workspace_id: int) -> int:
        """Forget the workspace's entries if a rename or delete happened since they were read;
        once a transaction (a chunk asks for fields and lists). The version this transaction sees."""
        checked = (conn.get_transaction(), workspace_id)
        seen = conn.info.get(_CHECKED)
        if seen is not None and seen[0] == checked:
            return int(seen[1])
        version = _VERSION.scalar(conn, {"ws": workspace_id}) or 0
        conn.info[_CHECKED] = (checked, version)
        if self._versions.get(workspace_id) != version:
            with self._lock:
                self._fields.pop(workspace_id, None)
                self._lists.pop(workspace_id, None)
                self._suppressing.pop(workspace_id, None)
                self._aliasing.pop(workspace_id, None)
                self._versions[workspace_id] = version
        return version

    def fields(self, conn: sa.Connection, workspace_id: int, wanted: Iterable[tuple[str | None, str | None]] = ()) -> FieldSet:
        """The workspace's fields, fresh from the database when a wanted (id, name) is not cached."""
        self._current(conn, workspace_id)
        cached = self._fields.get(workspace_id)
        if cached is None or any(cached.find(field_id, name) is None for field_id, name in set(wanted)):
            cached = load_fields(conn, workspace_id=workspace_id)
            with self._lock:
                self._fields[workspace_id] = cached
        return cached

    def lists(
        self, conn: sa.Connection, workspace_id: int, ids: Iterable[str], names: Iterable[str]
    ) -> tuple[dict[str, ListRow], dict[str, ListRow]]:
        """(by id, by lower-case name) holding at least the wanted lists that exist; the ones not
        cached yet are read from the database."""
        self._current(conn, workspace_id)
        by_id, by_name = self._lists.get(workspace_id) or ({}, {})
        missing_ids = [i for i in ids if i not in by_id]
        missing_names = [n for n in names if n not in by_name]
        if missing_ids or missing_names:
            rows = [ListRow(*row) for row in conn.execute(_LISTS, {"ws": workspace_id, "ids": missing_ids, "names": missing_names})]
            with self._lock:
                by_id, by_name = self._lists.setdefault(workspace_id, ({}, {}))
                by_id.update((r.id, r) for r in rows)
                by_name.update((r.name.lower(), r) for r in rows)
        return by_id, by_name

    def suppressing(self, conn: sa.Connection, workspace_id: int) -> bool:
        """Whether the workspace suppresses any identity (it has erased a contact). Kept with the
        version it was read under: a reader of an older snapshot never answers a newer writer."""
        return self._flag(conn, workspace_id, self._suppressing, any_suppressed)

    def aliasing(self, conn: sa.Connection, workspace_id: int) -> bool:
        """Whether the workspace has aliases (it has merged contacts: store/workspace/merge.py)."""
        return self._flag(conn, workspace_id, self._aliasing, any_alias)

    def _flag(self, conn: sa.Connection, workspace_id: int, cache: dict[int, tuple[int, bool]], probe: Callable[..., bool]) -> bool:
        version = self._current(conn, workspace_id)
        cached = cache.get(workspace_id)
        if cached is None or cached[0] != version:
            cached = (version, probe(conn, workspace_id=workspace_id))
            with self._lock:
                cache[workspace_id] = cached
        return cached[1]
