"""Erasing a contact on request, and the suppression list it leaves (store/workspace/erase.py)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from contactql.context import Info
from contactql.resolvers.pagination import Page, decode_time_cursor, paginate
from contactql.store.errors import ErrorCode, Problem
from contactql.store.values import contact_id_at
from contactql.store.workspace import erase
from contactql.store.workspace.erase import ErasureRow, SuppressionRow

log = logging.getLogger("contactql.erase")


def override_problems(info: Info, raw: Mapping[str, Any]) -> list[Problem]:
    """overrideSuppression is an admin key's: it brings back identities erased on request."""
    if raw.get("overrideSuppression") and not info.context.principal.is_admin:
        return [Problem(("overrideSuppression",), ErrorCode.FORBIDDEN, "only an admin key may override the suppression of erased identities")]
    return []


async def erase_contact(info: Info, id: str, reason: str) -> ErasureRow:
    """Erase the contact, then empty SQLite's WAL of the pages it overwrote."""
    contact_id = contact_id_at(id, "id")
    db = info.context.db
    erased = await db.write(erase.erase_contact, workspace_id=info.context.workspace_id, contact_id=contact_id, actor=info.context.principal.key_name, reason=reason)
    info.context.services.forget_documents(info.context.workspace_id)  # other processes' memory: docs/operations.md, "Erasure"
    if not await db.truncate_log():
        log.warning("erasure %s: the WAL could not be emptied yet (readers hold it); it is emptied as soon as they finish", erased.id)
    return erased


async def page_suppressions(info: Info, first: int, after: str | None) -> Page[SuppressionRow]:
    workspace_id = info.context.workspace_id

    async def fetch(limit: int, after_key: Any) -> list[SuppressionRow]:
        return await info.context.db.read(erase.page_suppressions, workspace_id=workspace_id, limit=limit, after=after_key)

    async def total() -> int:
        return await info.context.db.read(erase.count_suppressions, workspace_id=workspace_id)

    return await paginate(fetch, first=first, after=after, decode=decode_time_cursor, key=lambda row: (row.created_at.isoformat(), row.digest), total=total)
