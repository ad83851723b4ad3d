"""Paging, once for every connection: a bounded `first`, opaque cursors, and `paginate`.

A resolver hands `paginate` the store call for one page and the sort key of a row; it gets a
`Page` of rows back. GraphQL types are not made here: schema/pagination.py maps a Page to its
Connection. Not `strawberry.relay`: its global ids and argument defaults would change SPEC §5's
contract (plain decimal contact ids, `first: Int = 50`). A cursor is base64url of a small JSON
array holding the row's sort key; clients must treat it as opaque.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

from contactql.context import ApiError

MAX_PAGE = 100

R = TypeVar("R")
S = TypeVar("S")
K = TypeVar("K")


@dataclasses.dataclass(frozen=True, slots=True)
class Page(Generic[R]):
    """One page of rows in their connection's order, each with its cursor."""

    rows: list[R]
    cursors: list[str]
    has_next: bool
    has_previous: bool
    total: Callable[[], Awaitable[int]]  # counted only when a client asks for totalCount

    def with_rows(self, rows: list[S]) -> Page[S]:
        """The same page holding other rows, one per cursor (e.g. the rows without their sort keys)."""
        return Page(rows, self.cursors, self.has_next, self.has_previous, self.total)


async def paginate(
    fetch: Callable[[int, K | None], Awaitable[Sequence[R]]],
    *,
    first: int,
    after: str | None,
    decode: Callable[[str | None], K | None],
    key: Callable[[R], tuple[Any, ...]],
    total: Callable[[], Awaitable[int]],
    limit: int = MAX_PAGE,
) -> Page[R]:
    """`fetch(n, after_key)` reads up to n rows after the decoded cursor; one more than the page
    is read to learn whether another page follows."""
    size = check_first(first, limit)
    rows = list(await fetch(size + 1, decode(after)))[: size + 1]
    shown = rows[:size]
    return Page(shown, [encode_cursor(*key(row)) for row in shown], len(rows) > size, after is not None, total)


def counted(
    fetch: Callable[[int, K | None], Awaitable[tuple[Sequence[R], int]]],
) -> tuple[Callable[[int, K | None], Awaitable[Sequence[R]]], Callable[[], Awaitable[int]]]:
    """The `fetch` and `total` of `paginate` for a store call that counts with its page,
    returning (rows, total)."""
    totals: list[int] = []

    async def rows(limit: int, after_key: K | None) -> Sequence[R]:
        found, total = await fetch(limit, after_key)
        totals.append(total)
        return found

    async def total() -> int:
        return totals[-1]

    return rows, total


def empty_page(after: str | None) -> Page[Any]:
    return Page([], [], False, after is not None, known(0))


def known(count: int) -> Callable[[], Awaitable[int]]:
    """A total the page's query already counted."""

    async def total() -> int:
        return count

    return total


def check_first(first: int, limit: int = MAX_PAGE) -> int:
    if first < 0 or first > limit:
        raise ApiError(f"first must be between 0 and {limit}, got {first}", "INVALID_INPUT")
    return first


def encode_cursor(*key: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, arity: int) -> list[Any] | None:
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError):  # RecursionError: "[[[[…"
        key = None
    if not isinstance(key, list) or len(key) != arity:
        raise ApiError("after is not a cursor of this connection", "INVALID_INPUT")
    return key


def decode_id_cursor(cursor: str | None) -> int | None:
    """The integer key of a connection ordered by an integer (contacts, results, events, history)."""
    key = decode_cursor(cursor, 1)
    if key is not None and (type(key[0]) is not int or not 0 <= key[0] < 2**63):
        raise ApiError("after is not a cursor of this connection")
    return None if key is None else key[0]


def decode_time_cursor(cursor: str | None) -> tuple[dt.datetime, str] | None:
    """The (created_at, id) key of a connection ordered by creation (lists, batches)."""
    key = decode_cursor(cursor, 2)
    try:
        return None if key is None else (dt.datetime.fromisoformat(key[0]), str(key[1]))
    except (TypeError, ValueError):
        raise ApiError("after is not a cursor of this connection") from None


def by_creation(row: Any) -> tuple[str, str]:
    """The cursor key of a row ordered by (created_at, id)."""
    return (row.created_at.isoformat(), row.id)
