"""Column types and SQL helpers the tables (tables.py) and the store's queries share: a 64-bit id
that is SQLite's rowid, UTC times on both engines, foreign keys that cascade, a property value's
digest and the unary plus that keeps SQLite's planner off an index."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.operators import custom_op
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field

# A 64-bit id that is still SQLite's rowid alias (a SQLite BIGINT PRIMARY KEY is not).
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC on both engines (SQLite hands back naive datetimes)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
        if value is not None and dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value


def ts(nullable: bool = False) -> Any:
    return Field(default=None, sa_column=sa.Column(UTCDateTime(), nullable=nullable))


def fk(target: str, *, primary_key: bool = False, big: bool = True) -> Any:
    return Field(
        sa_column=sa.Column(
            BigId if big else sa.String(36),
            sa.ForeignKey(target, ondelete="CASCADE"),
            primary_key=primary_key,
            nullable=False,
        )
    )


def not_an_index_key(column: sa.ColumnElement[Any]) -> sa.ColumnElement[Any]:
    """`+column`: the same value, but no index on `column` may answer a term on it.

    SQLite's documented way to steer its planner ("Disqualifying WHERE clause terms using
    unary-'+'", sqlite.org/optoverview.html). Without ANALYZE statistics SQLite takes
    `workspace_id = ?` for a selective term, so in a join from a few contacts' link rows it
    would start from every list or company of the workspace instead. PostgreSQL reads the same
    SQL and plans from its statistics. SQLAlchemy has no unary plus of its own to call."""
    return sa.UnaryExpression(column, operator=custom_op("+"), type_=column.type)


@functools.lru_cache(maxsize=1024)  # property values repeat (cities, tiers, dates): digest each once
def value_hash(value: str) -> int:
    """A property value's 64-bit BLAKE2b digest, as a signed BIGINT: what the match index holds.
    A whole value (up to 10 000 characters) could exceed PostgreSQL's B-tree entry limit."""
    return int.from_bytes(hashlib.blake2b(value.encode(), digest_size=8).digest(), "big", signed=True)
