"""Static lists: reading, creating, and their members."""

from __future__ import annotations

from collections.abc import Sequence

import strawberry

from contactql.context import Info
from contactql.schema.errors import user_errors
from contactql.schema.lists import ContactList, ContactListConnection, ContactListEdge, ContactListPayload, ListMembershipPayload
from contactql.schema.pagination import check_first, decode_time_cursor, encode_cursor, page_info
from contactql.store.errors import StoreError
from contactql.store.workspace import lists


async def get_list(info: Info, id: strawberry.ID) -> ContactList | None:
    row = await info.context.db.read(lists.get_list, workspace_id=info.context.workspace_id, list_id=str(id))
    return None if row is None else ContactList.from_row(row)


async def page_lists(info: Info, first: int, after: str | None) -> ContactListConnection:
    limit = check_first(first)
    workspace_id = info.context.workspace_id
    rows = await info.context.db.read(lists.page_lists, workspace_id=workspace_id, limit=limit + 1, after=decode_time_cursor(after))

    async def count() -> int:
        return await info.context.db.read(lists.count_lists, workspace_id=workspace_id)

    edges = [
        ContactListEdge(cursor=encode_cursor(row.created_at.isoformat(), row.id), node=ContactList.from_row(row))
        for row in rows[:limit]
    ]
    return ContactListConnection(
        edges=edges,
        page_info=page_info([e.cursor for e in edges], has_next=len(rows) > limit, after=after),
        count=count,
    )


async def create_list(info: Info, name: str) -> ContactListPayload:
    try:
        row = await info.context.db.write(lists.create_list, workspace_id=info.context.workspace_id, name=name)
    except StoreError as error:
        return ContactListPayload(list=None, user_errors=user_errors(error.problems))
    return ContactListPayload(list=ContactList.from_row(row), user_errors=[])


async def change_members(
    info: Info, list_id: strawberry.ID, contact_ids: Sequence[strawberry.ID] | None, external_ids: Sequence[str] | None, *, add: bool
) -> ListMembershipPayload:
    try:
        row, changed, unknown = await info.context.db.write(
            lists.change_members,
            workspace_id=info.context.workspace_id,
            list_id=str(list_id),
            contact_ids=None if contact_ids is None else [str(c) for c in contact_ids],
            external_ids=None if external_ids is None else list(external_ids),
            add=add,
            actor=info.context.principal.key_name,
        )
    except StoreError as refused:
        return ListMembershipPayload(list=None, changed=0, unknown_ids=[], user_errors=user_errors(refused.problems))
    return ListMembershipPayload(list=ContactList.from_row(row), changed=changed, unknown_ids=unknown, user_errors=[])
