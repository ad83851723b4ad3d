"""Static lists: reading, creating, and their members."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from contactql.context import Info
from contactql.resolvers.pagination import Page, by_creation, decode_time_cursor, paginate
from contactql.store.workspace import catalog, lists
from contactql.store.workspace.lists import ListRow


async def get_list(info: Info, id: str) -> ListRow | None:
    return await info.context.db.read(lists.get_list, workspace_id=info.context.workspace_id, list_id=str(id))


async def page_lists(info: Info, first: int, after: str | None) -> Page[ListRow]:
    workspace_id = info.context.workspace_id

    async def fetch(limit: int, after_key: tuple[dt.datetime, str] | None) -> list[ListRow]:
        return await info.context.db.read(lists.page_lists, workspace_id=workspace_id, limit=limit, after=after_key)

    async def total() -> int:
        return await info.context.db.read(lists.count_lists, workspace_id=workspace_id)

    return await paginate(fetch, first=first, after=after, decode=decode_time_cursor, key=by_creation, total=total)


async def create_list(info: Info, name: str) -> ListRow:
    return await info.context.db.write(lists.create_list, workspace_id=info.context.workspace_id, name=name)


async def change_members(info: Info, list_id: str, contact_ids: Sequence[str] | None, external_ids: Sequence[str] | None, *, add: bool) -> tuple[ListRow, int, list[str]]:
    """The list, how many memberships changed, and the given ids that name no contact."""
    return await info.context.db.write(
        lists.change_members,
        workspace_id=info.context.workspace_id,
        list_id=str(list_id),
        contact_ids=None if contact_ids is None else [str(c) for c in contact_ids],
        external_ids=None if external_ids is None else list(external_ids),
        add=add,
        actor=info.context.principal.key_name,
    )


async def rename_list(info: Info, list_id: str, name: str) -> ListRow:
    return await info.context.db.write(catalog.rename_list, workspace_id=info.context.workspace_id, list_id=str(list_id), name=name)


async def delete_list(info: Info, list_id: str) -> tuple[str, int]:
    removed = await info.context.db.write(catalog.delete_list, workspace_id=info.context.workspace_id, list_id=str(list_id), actor=info.context.principal.key_name)
    return str(list_id), removed
