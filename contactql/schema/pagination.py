"""One generic Relay-shaped connection: `Connection[E]` of `Edge[N]`, with `PageInfo`.

Each connection of the API is a named subclass carrying only its words (the SDL keeps its
per-connection descriptions): `@connection("ContactConnection", "A page of contacts …",
edges="The contacts of this page, by id.", …)`. `Connection.of(page, node)` maps a resolver's
`Page` of rows (resolvers/pagination.py) to the type; paging itself lives there.
"""

from __future__ import annotations

import copy
import typing
from collections.abc import Awaitable, Callable
from typing import Any, Generic, Self, TypeVar

import strawberry

from contactql.resolvers.pagination import Page

N = TypeVar("N")
E = TypeVar("E", bound="Edge[Any]")
C = TypeVar("C")


@strawberry.type(description="Where a page sits in its connection (Relay cursor connections).")
class PageInfo:
    has_next_page: bool = strawberry.field(description="Whether more items follow this page.")
    has_previous_page: bool = strawberry.field(description="Whether items precede this page (true after a cursor).")
    start_cursor: str | None = strawberry.field(description="Cursor of the first item of the page.")
    end_cursor: str | None = strawberry.field(description="Cursor of the last item; pass it as `after` for the next page.")

    @classmethod
    def of(cls, page: Page[Any]) -> PageInfo:
        return cls(
            has_next_page=page.has_next,
            has_previous_page=page.has_previous,
            start_cursor=page.cursors[0] if page.cursors else None,
            end_cursor=page.cursors[-1] if page.cursors else None,
        )


@strawberry.type
class Edge(Generic[N]):
    cursor: str = strawberry.field(description="Pass as `after` to get the items after this one.")
    node: N = strawberry.field(description="The item.")


@strawberry.type
class Connection(Generic[E]):
    edges: list[E] = strawberry.field(description="The items of this page.")
    page_info: PageInfo = strawberry.field(description="Where the page sits in the whole result.")
    total: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="How many items the whole result has (counted only when asked for).")
    async def total_count(self) -> int:
        return await self.total()

    @classmethod
    def of(cls, page: Page[Any], node: Callable[[Any], Any]) -> Self:
        edge: Any = typing.get_args(cls.__orig_bases__[0])[0]  # type: ignore[attr-defined]  # E of Connection[E]
        edges = [edge(cursor=cursor, node=node(row)) for cursor, row in zip(page.cursors, page.rows, strict=True)]
        return cls(edges=edges, page_info=PageInfo.of(page), total=page.total)


def connection(name: str, description: str, **docs: str) -> Callable[[type[C]], type[C]]:
    """A named Strawberry type with its own field descriptions (`docs` by Python field name).

    Strawberry copies a generic's fields, descriptions included, into every subclass and shares
    the field objects between them; each is copied here before its words change."""

    def define(cls: type[C]) -> type[C]:
        typed = strawberry.type(cls, name=name, description=description)
        definition = typed.__strawberry_definition__  # type: ignore[attr-defined]
        fields = []
        for field in definition.fields:
            if field.python_name in docs:
                field = copy.copy(field)
                field.description = docs[field.python_name]
            fields.append(field)
        definition.fields = fields
        return typed

    return define
