"""Static lists and their connections."""

from __future__ import annotations

import builtins
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Annotated

import strawberry

from contactql.context import Info
from contactql.schema.contact import ContactConnection
from contactql.schema.errors import UserError
from contactql.schema.pagination import PageInfo
from contactql.store.workspace.lists import ListRow


@strawberry.type(description="A static list of contacts (a group or static segment).")
class ContactList:
    id: strawberry.ID = strawberry.field(description="The list's id (a UUID).")
    name: str = strawberry.field(description="The list's name, unique in the workspace (case-insensitive).")
    created_at: dt.datetime = strawberry.field(description="When the list was created.")

    @classmethod
    def from_row(cls, row: ListRow) -> ContactList:
        return cls(id=strawberry.ID(row.id), name=row.name, created_at=row.created_at)

    @strawberry.field(description="How many contacts (not deleted) are in the list.")
    async def size(self, info: Info) -> int:
        return await info.context.loaders.list_sizes.load(str(self.id))

    @strawberry.field(description="The contacts in the list, by id.")
    async def contacts(
        self,
        info: Info,
        first: Annotated[int | None, strawberry.argument(description="How many contacts (at most 100; null: 50).")] = 50,
        after: Annotated[str | None, strawberry.argument(description="The cursor to continue after.")] = None,
    ) -> ContactConnection:
        from contactql.resolvers.contacts import page_contacts
        from contactql.store.workspace.contacts import ContactQuery

        return await page_contacts(info, first=50 if first is None else first, after=after, query=ContactQuery(list_id=str(self.id)))


@strawberry.type(description="A list and its cursor.")
class ContactListEdge:
    cursor: str = strawberry.field(description="Pass as `after` to get the lists after this one.")
    node: ContactList = strawberry.field(description="The list.")


@strawberry.type(description="A page of lists, in creation order (Relay cursor connection).")
class ContactListConnection:
    edges: list[ContactListEdge] = strawberry.field(description="The lists of this page.")
    page_info: PageInfo = strawberry.field(description="Where the page sits in the whole result.")
    count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="How many lists the workspace has (counted only when asked for).")
    async def total_count(self) -> int:
        return await self.count()


@strawberry.type(description="The result of addContactsToList and removeContactsFromList.")
class ListMembershipPayload:
    list: ContactList | None = strawberry.field(description="The list; null when it was not found.")
    changed: int = strawberry.field(description="Memberships added or removed.")
    unknown_ids: builtins.list[str] = strawberry.field(description="Given contact ids or externalIds that name no contact of the workspace.")
    user_errors: builtins.list[UserError] = strawberry.field(description="Why nothing was changed.")


@strawberry.type(description="The result of createList.")
class ContactListPayload:
    list: ContactList | None = strawberry.field(description="The new list; null when it was refused.")
    user_errors: builtins.list[UserError] = strawberry.field(description="Why it was refused.")
