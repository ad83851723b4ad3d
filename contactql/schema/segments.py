"""Saved segments (dynamic lists): a named filter and search, its members read live."""

from __future__ import annotations

import builtins
import datetime as dt
from typing import Annotated

import strawberry

from contactql.context import Info
from contactql.resolvers import contacts
from contactql.schema.contacts import ContactConnection
from contactql.schema.errors import UserError
from contactql.schema.filters import ContactOrder
from contactql.schema.pagination import Connection, Edge, connection
from contactql.store.model import OrderField
from contactql.store.workspace.filters import ContactQuery
from contactql.store.workspace.order import ContactOrder as StoreContactOrder
from contactql.store.workspace.segments import SegmentRow


@strawberry.type(description="A saved filter and search: its members are the contacts that match when it is read, never a stale copy.")
class Segment:
    id: strawberry.ID = strawberry.field(description="The segment's id (a UUID); use it as filter: {segmentId}.")
    name: str = strawberry.field(description="The segment's name, unique in the workspace (case-insensitive).")
    search: str | None = strawberry.field(description="The search it applies with its filter, if any.")
    created_at: dt.datetime = strawberry.field(description="When the segment was made.")

    @classmethod
    def from_row(cls, row: SegmentRow) -> Segment:
        return cls(id=strawberry.ID(row.id), name=row.name, search=row.search, created_at=row.created_at)

    @strawberry.field(description="How many contacts match it now (a count of them).")
    async def size(self, info: Info) -> int:
        return await contacts.count_contacts(info, ContactQuery(segment_id=str(self.id)))

    @strawberry.field(description="The contacts that match it now, by id or in orderBy's order.")
    async def contacts(
        self,
        info: Info,
        first: Annotated[int | None, strawberry.argument(description="How many contacts (at most 100; null: 50).")] = 50,
        after: Annotated[str | None, strawberry.argument(description="The cursor to continue after.")] = None,
        order_by: Annotated[builtins.list[ContactOrder] | None, strawberry.argument(description="Sort keys, first to last (at most 5); default: by id.")] = None,
    ) -> ContactConnection:
        # The segment's search again at the top, so RELEVANCE can order by it (it finds the same contacts).
        query = ContactQuery(segment_id=str(self.id), search=self.search)
        order = [o.to_order() for o in order_by or ()] or [StoreContactOrder(OrderField.ID)]  # by id unless asked
        page = await contacts.page_contacts(info, first=50 if first is None else first, after=after, query=query, order=order)
        return await ContactConnection.of_page(info, page)


@connection("SegmentEdge", "A segment and its cursor.", cursor="Pass as `after` to get the segments after this one.", node="The segment.")
class SegmentEdge(Edge[Segment]):
    pass


@connection(
    "SegmentConnection",
    "A page of segments, in creation order (Relay cursor connection).",
    edges="The segments of this page.",
    total_count="How many segments the workspace has (counted only when asked for).",
)
class SegmentConnection(Connection[SegmentEdge]):
    pass


@strawberry.type(description="The result of createSegment.")
class SegmentPayload:
    segment: Segment | None = strawberry.field(default=None, description="The new segment; null when it was refused.")
    user_errors: builtins.list[UserError] = strawberry.field(default_factory=builtins.list, description="Why it was refused.")


@strawberry.type(description="The result of deleteSegment.")
class DeleteSegmentPayload:
    deleted_id: strawberry.ID | None = strawberry.field(default=None, description="The deleted segment's id; null when none was found.")
    user_errors: builtins.list[UserError] = strawberry.field(default_factory=builtins.list, description="Why nothing was deleted.")
