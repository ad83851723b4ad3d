"""Merging duplicates (store/workspace/merge.py)."""

from __future__ import annotations

from collections.abc import Sequence

from contactql.context import Info
from contactql.store.errors import Invalid
from contactql.store.values import contact_id_at
from contactql.store.workspace import merge


async def merge_contacts(info: Info, *, into: str, from_: Sequence[str], rules: Sequence[tuple[str, str]], dry_run: bool) -> merge.Merged:
    """Merge (or, with dryRun, decide the merge in a read transaction)."""
    if len(from_) > merge.MAX_FROM:  # before reading thousands of ids
        raise Invalid.at(("from",), f"at most {merge.MAX_FROM} contacts a merge, got {len(from_)}")
    survivor = contact_id_at(into, "into")
    from_ids = [contact_id_at(raw, "from", str(i)) for i, raw in enumerate(from_)]
    chosen = [(name, merge.MergeRule(rule)) for name, rule in rules]
    db, workspace_id, actor = info.context.db, info.context.workspace_id, info.context.principal.key_name
    run = db.read if dry_run else db.write
    return await run(merge.merge_contacts, workspace_id=workspace_id, into=survivor, from_ids=from_ids, rules=chosen, dry_run=dry_run, actor=actor)
