"""Saved segments (dynamic lists): a named filter and search, its members read live."""

from __future__ import annotations

import builtins
import datetime as dt
from typing import Annotated, Any

import strawberry
from strawberry.scalars import JSON
from strawberry.utils.str_converters import to_camel_case

from contactql.context import Info
from contactql.resolvers import contacts
from contactql.schema.contacts import ContactConnection
from contactql.schema.errors import UserError
from contactql.schema.filters import ContactOrder
from contactql.schema.pagination import Connection, Edge, connection
from contactql.store.sorting import OrderField
from contactql.store.workspace.filters import ContactQuery
from contactql.store.workspace.order import ContactOrder as StoreContactOrder
from contactql.store.workspace.segments import SegmentRow


@strawberry.type(description="A saved filter and search: its members are the contacts that match when it is read, never a stale copy.")
class Segment:
    id: strawberry.ID = strawberry.field(description="The segment's id (a UUID); use it as filter: {segmentId}.")
    name: str = strawberry.field(description="The segment's name, unique in the workspace (case-insensitive).")
    search: str | None = strawberry.field(description="The search it applies with its filter, if any.")
    filter: JSON = strawberry.field(description="Its filter, as a ContactFilter input (what createSegment was given, in canonical form).")
    created_at: dt.datetime = strawberry.field(description="When the segment was made.")

    @classmethod
    def from_row(cls, row: SegmentRow) -> Segment:
        return cls(id=strawberry.ID(row.id), name=row.name, search=row.search, filter=filter_input(row.query), created_at=row.created_at)

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


_NODES = {"all_of": "and", "any_of": "or", "none_of": "not"}
_CONDITION_NAMES = {"in_": "in", "is_null": "isNull"}


def filter_input(stored: dict[str, Any]) -> Any:
    """A segment's stored filter (filters.encode: the store's names) as the ContactFilter input
    that makes it: names in camelCase, and/or/not, the older `property: {name, value}`."""
    out: dict[str, Any] = {}
    for key, value in stored.items():
        if key in ("all_of", "any_of"):
            out[_NODES[key]] = [filter_input(v) for v in value]
        elif key == "none_of":
            out["not"] = filter_input(value)
        elif key == "properties":
            shown = [({_CONDITION_NAMES.get(k, to_camel_case(k)): v for k, v in c.items() if k != "legacy"}, bool(c.get("legacy"))) for c in value]
            for c, legacy in shown:
                if legacy:
                    out["property"] = c  # sent as `property: {…}`, given back so
            if plain := [c for c, legacy in shown if not legacy]:
                out["properties"] = plain
        elif key in ("property_name", "property_value"):
            out.setdefault("property", {})["name" if key == "property_name" else "value"] = value
            out["property"].setdefault("value", None)  # no value stored: "without a value", said out loud
        else:
            out[to_camel_case(key)] = value
    return out


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
