"""Candidate duplicates: groups of contacts one match rule says are one person."""

from __future__ import annotations

from contactql.context import ApiError, Info
from contactql.resolvers.pagination import Page, decode_cursor, paginate
from contactql.store.workspace import duplicates
from contactql.store.workspace.duplicates import DuplicateGroup, DuplicateRule

MAX_GROUPS = 50


async def page_duplicates(info: Info, rule: DuplicateRule, first: int, after: str | None) -> Page[DuplicateGroup]:
    workspace_id = info.context.workspace_id
    arity = 3 if rule is DuplicateRule.NAME_AND_EMAIL else 1

    def decode(cursor: str | None) -> list[str] | None:
        key = decode_cursor(cursor, arity)
        if key is not None and not all(isinstance(part, str) for part in key):
            raise ApiError("after is not a cursor of this connection", "INVALID_INPUT")
        return key

    async def fetch(limit: int, after_key: list[str] | None) -> list[DuplicateGroup]:
        return await info.context.db.read(duplicates.duplicate_groups, workspace_id=workspace_id, rule=rule, limit=limit, after=after_key)

    async def total() -> int:
        return await info.context.db.read(duplicates.count_groups, workspace_id=workspace_id, rule=rule)

    return await paginate(fetch, first=first, after=after, decode=decode, key=lambda group: group.key, total=total, limit=MAX_GROUPS)
