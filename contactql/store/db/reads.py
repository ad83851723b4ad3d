"""Hot SELECTs run on SQLite's driver, their SQL text kept: the reads of every upsert.

`conn.execute(select, params)` does generic work for each execution besides SQLite's own: it
looks the compiled statement up by the select's cache key, renders its expanding IN lists
again (`construct_expanded_state`), and builds an execution context and a result with a Row a
row. Measured on this machine for the upsert's read of candidate contacts (one row of 22
columns): ~130–155 µs through Core, ~19 µs for sqlite3 running the same text, ~34 µs for a
`Read`; a single upsert makes several such reads. A `Read` keeps, per dialect, the compiled
statement and, per shape of its IN lists (how many values each holds, up to MAX_KEPT_VALUES
in all), the rendered text and where each parameter comes from — longer lists are rendered per
call as Core renders them — and on SQLite runs the text on the driver connection of `conn`'s
transaction, each column through the result processor SQLAlchemy's own type gives it
(datetimes, booleans): the rows are the values Core returns, as plain tuples
(tests/test_reads.py runs both).

Not for: a statement whose parameters need a bind processor (it is always run by Core), a
connection outside a transaction or one with statement listeners (a test counting
statements, an instrumentation): those, and PostgreSQL, go through `conn.execute`.
Everything from a request is still a bound parameter: the kept text holds only placeholders.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.compiler import SQLCompiler

MAX_SHAPES = 256  # texts kept per statement (per count of values in its IN lists); then rendered per call
MAX_KEPT_VALUES = 64  # a text for more values than this in its IN lists is rendered per call, not kept


@dataclasses.dataclass(frozen=True, slots=True)
class _Compiled:
    compiled: SQLCompiler
    expanding: tuple[str, ...]  # the IN lists' parameter names
    defaults: dict[str, Any]  # values the statement holds itself (a literal compared with)
    processed: tuple[tuple[int, Callable[[Any], Any]], ...]  # (column, its result processor) of the columns that have one
    texts: dict[tuple[int, ...], tuple[str, tuple[tuple[str, int | None], ...]]]  # IN lengths → (sql, (name, index) a placeholder)


class Read:
    """A SELECT whose parameters are named bind parameters (IN lists `expanding=True`)."""

    def __init__(self, statement: sa.Select[Any]) -> None:
        self.statement = statement
        self._compiled: dict[str, _Compiled | None] = {}

    def rows(self, conn: sa.Connection, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """The rows as tuples, in the statement's column order (Core's Row unpacks alike)."""
        if conn.dialect.name == "sqlite" and conn.in_transaction() and not (conn.dispatch.before_cursor_execute or conn.dispatch.after_cursor_execute):
            plan = self._plan(conn.dialect)
            if plan is not None and (ready := _ready(plan, params)) is not None:
                return _on_sqlite(conn, plan, *ready)
        return [tuple(row) for row in conn.execute(self.statement, params)]

    def scalar(self, conn: sa.Connection, params: Mapping[str, Any]) -> Any:
        """The first column of the first row, or None (Core's `.scalar()`)."""
        found = self.rows(conn, params)
        return found[0][0] if found else None

    def _plan(self, dialect: sa.Dialect) -> _Compiled | None:
        if dialect.name in self._compiled:
            return self._compiled[dialect.name]
        compiled = self.statement.compile(dialect=dialect)
        plan: _Compiled | None = None
        if compiled.positiontup is not None and all(
            bind.type.dialect_impl(dialect).bind_processor(dialect) is None and not bind.literal_execute for bind in compiled.binds.values()
        ):
            processors = [column.type.dialect_impl(dialect).result_processor(dialect, None) for column in self.statement.selected_columns]
            processed = tuple((at, process) for at, process in enumerate(processors) if process is not None)
            expanding = tuple(name for name, bind in compiled.binds.items() if bind.expanding)
            defaults = {name: bind.effective_value for name, bind in compiled.binds.items() if not bind.required}
            plan = _Compiled(compiled, expanding, defaults, processed, {})
        self._compiled[dialect.name] = plan
        return plan


@dataclasses.dataclass(frozen=True, slots=True)
class _From:
    """A stand-in value naming where a placeholder's value comes from. Not a tuple: a tuple in
    an IN list would be read as a row of values (`(a, b) IN …`) and rendered as two."""

    name: str
    index: int | None


def _source(value: Any) -> tuple[str, int | None]:
    if not isinstance(value, _From):
        raise TypeError(f"a placeholder without its stand-in: {value!r}")  # a statement this module cannot keep
    return value.name, value.index


def _text(plan: _Compiled, shape: tuple[int, ...]) -> tuple[str, tuple[tuple[str, int | None], ...]]:
    """The statement rendered for these lengths of its IN lists, and where each of its
    placeholders takes its value: SQLAlchemy renders it for stand-ins that name themselves."""
    found = plan.texts.get(shape)
    if found is None:
        stand_ins: dict[str, Any] = {name: _From(name, None) for name in plan.compiled.binds}
        stand_ins.update({name: [_From(name, i) for i in range(length)] for name, length in zip(plan.expanding, shape, strict=True)})
        expanded = plan.compiled.construct_expanded_state(stand_ins)
        found = (expanded.statement, tuple(_source(expanded.parameters[key]) for key in expanded.positiontup or ()))
        if len(plan.texts) < MAX_SHAPES:  # one dict item set: threads share plans
            plan.texts[shape] = found
    return found


def _ready(plan: _Compiled, params: Mapping[str, Any]) -> tuple[str, tuple[Any, ...]] | None:
    """The text and its values, or None for parameters Core alone reads (a missing one, which
    Core refuses in its own words; an IN list given as a set or None, which Core takes)."""
    if plan.defaults:
        params = {**plan.defaults, **params}
    if not all(isinstance(params.get(name), list | tuple) for name in plan.expanding):
        return None
    try:
        shape = tuple(len(params[name]) for name in plan.expanding)
        if sum(shape) > MAX_KEPT_VALUES:
            # A chunk's hundreds of values: rendered for them as Core renders them (a kept text
            # would be one of many long ones; stand-ins cost more than the values themselves).
            expanded = plan.compiled.construct_expanded_state(params)
            return expanded.statement, tuple(expanded.parameters[key] for key in expanded.positiontup or ())
        sql, sources = _text(plan, shape)
        return sql, tuple(params[name] if index is None else params[name][index] for name, index in sources)
    except KeyError:
        return None


def _on_sqlite(conn: sa.Connection, plan: _Compiled, sql: str, values: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    driver = conn.connection.driver_connection
    assert driver is not None
    try:
        rows = driver.execute(sql, values).fetchall()
    except sqlite3.Error as error:
        raise sa.exc.DBAPIError.instance(sql, values, error, sqlite3.Error, dialect=conn.dialect) from error
    if not plan.processed:
        return rows  # sqlite3 gives tuples
    out = []
    for row in rows:  # only the columns that have a processor: a contact has 5 of 22
        cells = list(row)
        for at, process in plan.processed:
            cells[at] = process(cells[at])
        out.append(tuple(cells))
    return out
