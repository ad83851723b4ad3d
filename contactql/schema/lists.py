"""Static lists and their connections."""

from __future__ import annotations

import builtins
import datetime as dt
from typing import Annotated

import strawberry

from contactql.context import Info
from contactql.resolvers import contacts
from contactql.schema.contacts import ContactConnection
from contactql.schema.errors import UserError
from contactql.schema.pagination import Connection, Edge, connection
from contactql.store.workspace.filters import ContactQuery
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
        query = ContactQuery(list_id=str(self.id))
        page = await contacts.page_contacts(info, first=50 if first is None else first, after=after, query=query)
        return await ContactConnection.of_page(info, page)


@connection("ContactListEdge", "A list and its cursor.", cursor="Pass as `after` to get the lists after this one.", node="The list.")
class ContactListEdge(Edge[ContactList]):
    pass


@connection(
    "ContactListConnection",
    "A page of lists, in creation order (Relay cursor connection).",
    edges="The lists of this page.",
    total_count="How many lists the workspace has (counted only when asked for).",
)
class ContactListConnection(Connection[ContactListEdge]):
    pass


@strawberry.type(description="The result of createList and renameList.")
class ContactListPayload:
    list: ContactList | None = strawberry.field(default=None, description="The new or renamed list; null when it was refused.")
    user_errors: builtins.list[UserError] = strawberry.field(default_factory=builtins.list, description="Why it was refused.")


@strawberry.type(description="The result of deleteList.")
class DeleteListPayload:
    deleted_id: strawberry.ID | None = strawberry.field(default=None, description="The deleted list's id; null when nothing was deleted.")
    removed_members: int = strawberry.field(default=0, description="Contacts that left the list (each with a history entry).")
    user_errors: builtins.list[UserError] = strawberry.field(default_factory=builtins.list, description="Why nothing was deleted (IN_USE names the segments and batches that use it).")
