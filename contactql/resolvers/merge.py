"""Merging duplicates (store/workspace/merge.py)."""

from __future__ import annotations

from collections.abc import Sequence

from contactql.context import Info
from contactql.store.errors import Invalid, NotFound
from contactql.store.values import parse_contact_id
from contactql.store.workspace import merge
from contactql.store.workspace.properties import FieldSet, load_fields


def _id(raw: str, *path: str) -> int:
    cid = parse_contact_id(raw)
    if cid is None:
        raise NotFound.at(path, f"no contact with id {raw}")
    return cid


async def merge_contacts(
    info: Info, *, into: str, from_: Sequence[str], rules: Sequence[tuple[str, str]], dry_run: bool
) -> tuple[merge.Merged, FieldSet]:
    """Merge (or, with dryRun, decide the merge in a read transaction), and the workspace's
    property fields for showing the survivor's properties."""
    if len(from_) > merge.MAX_FROM:  # before reading thousands of ids
        raise Invalid.at(("from",), f"at most {merge.MAX_FROM} contacts a merge, got {len(from_)}")
    survivor = _id(into, "into")
    from_ids = [_id(raw, "from", str(i)) for i, raw in enumerate(from_)]
    chosen = [(name, merge.MergeRule(rule)) for name, rule in rules]
    db, workspace_id, actor = info.context.db, info.context.workspace_id, info.context.principal.key_name
    run = db.read if dry_run else db.write
    done = await run(merge.merge_contacts, workspace_id=workspace_id, into=survivor, from_ids=from_ids, rules=chosen, dry_run=dry_run, actor=actor)
    return done, await db.read(load_fields, workspace_id=workspace_id)
