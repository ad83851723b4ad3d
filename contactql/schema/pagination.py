"""Hand-written Relay-shaped connections: `PageInfo`, opaque cursors, bounded `first`.

Not `strawberry.relay`: its global ids and argument defaults would change SPEC §5's contract
(plain decimal contact ids, `first: Int = 50`). A cursor is base64url of a small JSON array
holding the row's sort key; clients must treat it as opaque.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from typing import Any

import strawberry

from contactql.schema.errors import ApiError

MAX_PAGE = 100


@strawberry.type(description="Where a page sits in its connection (Relay cursor connections).")
class PageInfo:
    has_next_page: bool = strawberry.field(description="Whether more items follow this page.")
    has_previous_page: bool = strawberry.field(description="Whether items precede this page (true after a cursor).")
    start_cursor: str | None = strawberry.field(description="Cursor of the first item of the page.")
    end_cursor: str | None = strawberry.field(description="Cursor of the last item; pass it as `after` for the next page.")


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
    except (ValueError, binascii.Error, UnicodeDecodeError):
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


def page_info(cursors: list[str], *, has_next: bool, after: str | None) -> PageInfo:
    return PageInfo(
        has_next_page=has_next,
        has_previous_page=after is not None,
        start_cursor=cursors[0] if cursors else None,
        end_cursor=cursors[-1] if cursors else None,
    )
