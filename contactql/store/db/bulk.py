"""Lean set-based writes for the statements that write thousands of rows per chunk.

SQLAlchemy Core's executemany does generic work for every parameter set (a dict per row,
parameter construction, per-value processing), measured here at 4–16 µs per row on top of
what SQLite needs. For the few hot statements a `Bulk` compiles the statement once per dialect
to its SQL text and parameter order, takes each column's bind processor from the column's own
SQLAlchemy type once, and hands the driver plain tuples through `exec_driver_sql`. Types are
still SQLAlchemy's (the same processors); only the generic per-row machinery is skipped.

On SQLite a statement writes many rows at once too (`VALUES (…), (…)`, up to 16 384
parameters a statement): an executemany runs a statement per row, and every statement that writes
`contact` costs the FTS5 search index's trigger a fixed ~30–70 µs (measured with bare sqlite3
on the same rows and trigger: 56 µs a row by executemany, 5.6 µs a row in one statement).

On PostgreSQL an executemany is still one statement execution per row on the server (~75 µs
for a property value, measured). There every `Bulk` sends one statement per call instead,
whatever the number of rows: a bound array per column, expanded by `unnest` (INSERT … SELECT,
UPDATE … FROM, DELETE … USING). Its text does not depend on the row count, so asyncpg
prepares it once per connection. The constructors below describe each statement once and
build both forms; none of it is SQL from a request — only identifiers from the table
definitions, and every value travels as a bound parameter.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import itertools
import operator
import re
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.sql.compiler import SQLCompiler

from contactql.store.db import dialect as dialects

Convert = Callable[[Sequence[Mapping[str, Any]]], list[tuple[Any, ...]]]


@dataclasses.dataclass(frozen=True, slots=True)
class _Plan:
    sql: str
    keys: tuple[str, ...]
    convert: Convert
    positional: bool
    many: Callable[[int], str] | None = None  # SQLite: the statement for n rows at once


def _converter(keys: Sequence[str], processors: Sequence[Callable[[Any], Any] | None]) -> Convert:
    """rows → one parameter tuple per row, in statement order, each value through its column's
    bind processor. `itemgetter` picks the values in C; only processed columns cost Python."""
    names = [k.removeprefix(PREFIX) for k in keys]
    pick = operator.itemgetter(*names) if len(names) > 1 else lambda row: (row[names[0]],)
    processed = [(i, _repeating(p)) for i, p in enumerate(processors) if p is not None]

    def convert(rows: Sequence[Mapping[str, Any]]) -> list[tuple[Any, ...]]:
        if not processed:
            return list(map(pick, rows))
        out = []
        for row in rows:
            values = list(pick(row))
            for i, process in processed:
                values[i] = process(values[i])
            out.append(tuple(values))
        return out

    return convert


def _repeating(process: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A processor that reuses its last answer for the same immutable value: a chunk stamps
    every row with one `now`, so a timestamp column is formatted once, not once per row."""
    last: tuple[Any, Any] = (_UNSET, None)  # one (value, answer) pair, replaced whole: plans are shared by threads

    def cached(value: Any) -> Any:
        nonlocal last
        seen, answer = last
        if value is seen and isinstance(value, _IMMUTABLE):
            return answer
        answer = process(value)
        last = (value, answer)
        return answer

    return cached


_UNSET = object()
_IMMUTABLE = (dt.datetime, str, int, bool, float)


@dataclasses.dataclass(frozen=True, slots=True)
class Shape:
    """What a statement writes, for its PostgreSQL form: `columns` are the row keys, in order;
    `keys` the conflict target (upsert) or the columns rows are found by (update, delete)."""

    table: sa.Table
    kind: str  # insert | upsert | ignore | update | delete
    columns: tuple[str, ...]
    keys: tuple[str, ...] = ()
    update: tuple[str, ...] = ()


PREFIX = "p_"  # bindparam names may not be column names in .values()


class Bulk:
    def __init__(self, build: Callable[[str], sa.ClauseElement], shape: Shape | None = None, serialised: Sequence[str] = ()) -> None:
        """`build(dialect_name)` makes the statement (dialects differ for ON CONFLICT); its
        parameters are named after row keys, optionally with the `p_` prefix. With a `shape`,
        PostgreSQL gets the one-statement array form instead. Columns in `serialised` skip
        their bind processor: the caller hands over the stored form."""
        self._build = build
        self._shape = shape
        self._serialised = frozenset(serialised)
        self._plans: dict[str, _Plan] = {}

    def _plan(self, dialect: sa.Dialect) -> _Plan:
        plan = self._plans.get(dialect.name)
        if plan is None:
            if self._shape is not None and dialect.name == "postgresql":
                plan = _array_plan(self._shape, dialect, self._serialised)
            else:
                compiled = cast(SQLCompiler, self._build(dialect.name).compile(dialect=dialect))
                keys = tuple(compiled.positiontup or compiled.binds)
                # The dialect's own processor (SQLite: datetimes as SQLAlchemy's text format), as Core uses.
                processors = tuple(
                    None if k.removeprefix(PREFIX) in self._serialised else compiled.binds[k].type.dialect_impl(dialect).bind_processor(dialect)
                    for k in keys
                )
                plan = _Plan(str(compiled), keys, _converter(keys, processors), compiled.positiontup is not None)
                if dialect.name == "sqlite" and plan.positional:
                    plan = _sqlite_rows(plan, self._shape, dialect, self._serialised)
            self._plans[dialect.name] = plan
        return plan

    def execute(self, conn: sa.Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Write `rows`, each a mapping of the statement's parameter names."""
        if not rows:
            return
        plan = self._plan(conn.dialect)
        values = plan.convert(rows)
        if self._shape is not None and conn.dialect.name == "postgresql":
            conn.exec_driver_sql(plan.sql, tuple(map(list, zip(*values, strict=True))))  # one array per column
            return
        if plan.many is not None:
            for part in _parts(values, max(1, _sqlite_parameters() // len(plan.keys))):
                conn.exec_driver_sql(plan.many(len(part)), tuple(itertools.chain.from_iterable(part)))
        elif plan.positional:
            conn.exec_driver_sql(plan.sql, values)
        else:
            conn.exec_driver_sql(plan.sql, [dict(zip(plan.keys, v, strict=True)) for v in values])


_VALUES = re.compile(r"VALUES (\([?, ]+\))")
# Parameters a statement at most: half SQLite's default SQLITE_MAX_VARIABLE_NUMBER since 3.32
# (32 766; builds may allow more). A batch's chunk (CONTACTQL_BATCH_CHUNK_SIZE, 500 contacts of
# 22 columns; their property values, 5 each) is then one statement a table. SQLite's statement
# cache (128 texts a connection) keeps each row count prepared; one it has not seen costs ~3 µs
# a row to prepare, a tenth of what a statement a row costs through the trigger.
_PARAMETERS = 16384


@functools.cache
def _sqlite_parameters() -> int:
    """Parameters a statement: `_PARAMETERS`, or fewer if this SQLite library was built to allow
    fewer (a library's limit, read once a process)."""
    with contextlib.closing(sqlite3.connect(":memory:")) as probe:
        return min(_PARAMETERS, probe.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))


# UPDATE … FROM is SQLite 3.33's: older SQLite keeps an UPDATE a statement a row.
_UPDATE_FROM = sqlite3.sqlite_version_info >= (3, 33, 0)


def _sqlite_rows(plan: _Plan, shape: Shape | None, dialect: sa.Dialect, serialised: frozenset[str]) -> _Plan:
    """`plan` writing many rows a statement: INSERTs repeat their VALUES group, an UPDATE reads
    its rows from a VALUES list (`UPDATE … FROM`). DELETEs stay a statement a row."""
    group = _VALUES.search(plan.sql)
    if group is not None and group.group(1).count("?") == len(plan.keys) == plan.sql.count("?"):
        head, row, tail = plan.sql[: group.start(1)], group.group(1), plan.sql[group.end(1) :]

        def text(n: int) -> str:
            return head + ", ".join([row] * n) + tail

    elif shape is not None and shape.kind == "update" and _UPDATE_FROM:
        quote = dialect.identifier_preparer.quote
        at = {name: f"u.column{n}" for n, name in enumerate(shape.columns, 1)}  # a VALUES list's columns are column1, column2, …
        sets = ", ".join(f"{quote(c)} = {at[c]}" for c in shape.columns if c not in shape.keys)
        found = " AND ".join(f"t.{quote(k)} = {at[k]}" for k in shape.keys)
        name = dialect.identifier_preparer.format_table(shape.table)
        row = f"({', '.join('?' * len(shape.columns))})"
        plan = _Plan(plan.sql, shape.columns, _converter(shape.columns, _processors(shape, dialect, serialised)), True)

        def text(n: int) -> str:
            return f"UPDATE {name} AS t SET {sets} FROM (VALUES {', '.join([row] * n)}) AS u WHERE {found}"

    else:
        return plan
    # The text is joined on each call (~10 µs for 500 rows), not kept: kept texts of every row
    # count of every column set of an UPDATE would grow without bound.
    return dataclasses.replace(plan, many=text)


def _parts(values: list[tuple[Any, ...]], most: int) -> Iterator[list[tuple[Any, ...]]]:
    for at in range(0, len(values), most):
        yield values[at : at + most]


def _processors(shape: Shape, dialect: sa.Dialect, serialised: frozenset[str]) -> tuple[Callable[[Any], Any] | None, ...]:
    return tuple(None if c in serialised else shape.table.c[c].type.dialect_impl(dialect).bind_processor(dialect) for c in shape.columns)


def _array_plan(shape: Shape, dialect: sa.Dialect, serialised: frozenset[str]) -> _Plan:
    quote = dialect.identifier_preparer.quote
    table = shape.table
    columns = [table.c[name] for name in shape.columns]
    # JSON travels as text (SQLAlchemy's processor serialises it) and is cast back per row.
    arrays = ", ".join(
        f"${n}::{'TEXT' if isinstance(c.type, sa.JSON) else c.type.compile(dialect=dialect)}[]" for n, c in enumerate(columns, 1)
    )
    rows = f"unnest({arrays}) AS u({', '.join(quote(c.name) for c in columns)})"

    def value(c: sa.Column[Any]) -> str:
        return f"u.{quote(c.name)}::JSON" if isinstance(c.type, sa.JSON) else f"u.{quote(c.name)}"

    name = dialect.identifier_preparer.format_table(table)
    found = " AND ".join(f"t.{quote(k)} = u.{quote(k)}" for k in shape.keys)
    if shape.kind in {"insert", "upsert", "ignore"}:
        sql = f"INSERT INTO {name} ({', '.join(quote(c.name) for c in columns)}) SELECT {', '.join(value(c) for c in columns)} FROM {rows}"
        if shape.kind == "upsert":
            updates = ", ".join(f"{quote(c)} = EXCLUDED.{quote(c)}" for c in shape.update)
            sql += f" ON CONFLICT ({', '.join(quote(k) for k in shape.keys)}) DO UPDATE SET {updates}"
        elif shape.kind == "ignore":
            sql += " ON CONFLICT DO NOTHING"
    elif shape.kind == "update":
        updates = ", ".join(f"{quote(c.name)} = {value(c)}" for c in columns if c.name not in shape.keys)
        sql = f"UPDATE {name} AS t SET {updates} FROM {rows} WHERE {found}"
    elif shape.kind == "delete":
        sql = f"DELETE FROM {name} AS t USING {rows} WHERE {found}"
    else:
        raise ValueError(f"unknown bulk statement kind {shape.kind!r}")
    return _Plan(sql, shape.columns, _converter(shape.columns, _processors(shape, dialect, serialised)), True)


def _all(table: sa.Table) -> tuple[str, ...]:
    return tuple(c.name for c in table.columns)


def insert(table: sa.Table, columns: Sequence[str] | None = None, *, serialised: Sequence[str] = ()) -> Bulk:
    """INSERT of every column, or of `columns` only (the others take their defaults).
    `serialised`: JSON columns whose rows already carry the JSON text."""
    if columns is None:
        return Bulk(lambda _dialect: sa.insert(table), Shape(table, "insert", _all(table)), serialised)
    return Bulk(
        lambda _dialect: sa.insert(table).values({c: sa.bindparam(PREFIX + c) for c in columns}),
        Shape(table, "insert", tuple(columns)),
        serialised,
    )


def upsert(table: sa.Table, keys: tuple[str, ...], update: tuple[str, ...]) -> Bulk:
    """INSERT … ON CONFLICT (keys) DO UPDATE SET each of `update` (rows carry every column).
    Rows must not repeat a key: PostgreSQL refuses to update one row twice in a statement."""
    return Bulk(lambda d: dialects.upsert(d, table, keys, update), Shape(table, "upsert", _all(table), keys, update))


def insert_ignoring_duplicates(table: sa.Table) -> Bulk:
    """INSERT … ON CONFLICT DO NOTHING (rows carry every column)."""
    return Bulk(lambda d: dialects.insert_ignoring_duplicates(d, table), Shape(table, "ignore", _all(table)))


def update(table: sa.Table, key: str, columns: Sequence[str]) -> Bulk:
    """UPDATE `columns` of the row whose `key` column matches (each row at most once)."""
    statement = sa.update(table).where(table.c[key] == sa.bindparam(PREFIX + key)).values({c: sa.bindparam(PREFIX + c) for c in columns})
    return Bulk(lambda _dialect: statement, Shape(table, "update", (key, *columns), (key,)))


def delete(table: sa.Table, *keys: str) -> Bulk:
    """DELETE the rows matching each row's `keys` columns."""
    statement = sa.delete(table).where(*(table.c[k] == sa.bindparam(PREFIX + k) for k in keys))
    return Bulk(lambda _dialect: statement, Shape(table, "delete", keys, keys))
