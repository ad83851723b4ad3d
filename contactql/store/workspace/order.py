"""A page of contacts in the order a client asks for (`contacts(orderBy: …)`), paged by keyset.

A page's cursor holds the last row's sort key — its values of the order's fields, then its id,
which breaks ties — so the next page starts after that key, never at an OFFSET: rows written
between two pages neither repeat nor go missing among the rows already passed. Nulls come last
whatever the direction. A PROPERTY key is the property's value by its type: NUMBER compared
numerically, DATE and TEXT as text; a contact without a value has a null key. RELEVANCE is how
well a contact matches the search (store/workspace/search.py), the default order of a search.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa

from contactql.store.db.tables import CONTACT_COLUMNS, contact_t, property_value_t
from contactql.store.errors import Invalid
from contactql.store.model import PropertyType
from contactql.store.sorting import OrderField, SortDirection
from contactql.store.values import shown, utc
from contactql.store.workspace import search
from contactql.store.workspace.filters import ContactQuery, where_terms
from contactql.store.workspace.properties import canonical_number, load_fields

MAX_KEYS = 5
c = contact_t.c
_COLUMNS = {
    OrderField.ID: c.id,
    OrderField.CREATED_AT: c.created_at,
    OrderField.UPDATED_AT: c.updated_at,
    OrderField.EMAIL: c.email,
    OrderField.FIRST_NAME: c.first_name,
    OrderField.LAST_NAME: c.last_name,
}
_TIMES = (OrderField.CREATED_AT, OrderField.UPDATED_AT)
_NEVER_NULL = (OrderField.ID, *_TIMES)


@dataclasses.dataclass(frozen=True, slots=True)
class ContactOrder:
    field: OrderField
    direction: SortDirection = SortDirection.ASC
    property: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class _Key:
    shown: sa.ColumnElement[Any]  # what the cursor holds
    compared: Any  # what is ordered and compared: the value, or the NUMBER value as a number
    descending: bool
    bind: Callable[[Any], Any] | None = None  # a cursor's value as compared (a NUMBER's text as a number)
    number: bool = False


TEXT_KEY = 200  # characters of a property value that order it: an index entry stays small


def text_key(value: Any) -> Any:
    """How a TEXT, DATE, SELECT or BOOLEAN property orders: its first TEXT_KEY characters (the
    expression of ix_property_value_text, migration 0012; values sharing them tie, by id)."""
    # Literals, not parameters: a planner matches an expression index only on the same text.
    return sa.func.substr(value, sa.literal_column("1"), sa.literal_column(str(TEXT_KEY)))


def number_key(conn: sa.Connection, value: Any) -> Any:
    """How a NUMBER property orders: as a number — the expression of ix_property_value_number
    (migration 0012): SQLite's CAST, PostgreSQL's contactql_number(), which is NULL rather than
    an error for the text of other properties' values in the same index."""
    return sa.cast(value, sa.Numeric) if conn.dialect.name == "sqlite" else sa.func.contactql_number(value)


def default_order(query: ContactQuery, order: Sequence[ContactOrder]) -> list[ContactOrder]:
    """`order`, or for a search without one, best matches first (RELEVANCE): what a contacts
    page, an export and `contactql export` all read in."""
    if not order and query.search is not None and query.search.strip():
        return [ContactOrder(OrderField.RELEVANCE)]
    return list(order)


def check(order: Sequence[ContactOrder]) -> None:
    """Refuse an order that cannot be read, before any query (paths under orderBy)."""
    if len(order) > MAX_KEYS:
        raise Invalid.at(("orderBy",), f"at most {MAX_KEYS} sort keys")
    for i, o in enumerate(order):
        if (o.field is OrderField.PROPERTY) != (o.property is not None and bool(o.property.strip())):
            raise Invalid.at(("orderBy", str(i), "property"), "give property with field PROPERTY, and only then")


def page(
    conn: sa.Connection,
    *,
    workspace_id: int,
    query: ContactQuery,
    order: Sequence[ContactOrder],
    limit: int,
    after: Sequence[Any] | None,
    columns: Sequence[str] = CONTACT_COLUMNS,
) -> list[tuple[dict[str, Any], tuple[Any, ...]]]:
    """(row, its sort key) of the page after the sort key `after` (as a cursor holds it); a row
    holds `columns` (all of a contact's; an export reads only those it writes), id first."""
    assert columns[0] == "id"
    selected = [contact_t.c[name] for name in columns]
    check(order)
    source: sa.FromClause = contact_t
    keys: list[_Key] = []
    fields = load_fields(conn, workspace_id=workspace_id) if any(o.field is OrderField.PROPERTY for o in order) else None
    for i, o in enumerate(order):
        descending = o.direction is SortDirection.DESC
        if o.field is OrderField.RELEVANCE:
            if query.search is None:
                raise Invalid.at(("orderBy", str(i), "field"), "RELEVANCE orders the contacts a search finds: give search")
            rank = search.relevance(query.search)
            keys.append(_Key(rank, rank, descending))
            continue
        if o.field is not OrderField.PROPERTY:
            keys.append(_Key(_COLUMNS[o.field], _COLUMNS[o.field], descending))
            continue
        field = fields.by_name.get(str(o.property).strip().lower()) if fields is not None else None
        if field is None:
            raise Invalid.at(("orderBy", str(i), "property"), f"no property named {shown(str(o.property))}")
        value = property_value_t.alias(f"order_{i}")
        joined = sa.and_(value.c.contact_id == c.id, value.c.workspace_id == workspace_id, value.c.field_id == field.id)
        if i == 0:  # the values first, then their contacts: the page follows the property's index
            from_values: sa.FromClause = value.join(contact_t, joined)
        source = source.outerjoin(value, joined)
        from_values = from_values.outerjoin(value, joined) if i > 0 else from_values
        if field.type is PropertyType.NUMBER:
            keys.append(_Key(value.c.value, number_key(conn, value.c.value), descending, lambda bound: number_key(conn, sa.literal(bound)), number=True))
        else:
            key = text_key(value.c.value)
            keys.append(_Key(key, key, descending))
    values = None if after is None else _decoded(order, [k.number for k in keys], after)
    beyond = [] if values is None else [_after(keys, values)]
    where = where_terms(conn, workspace_id, query) + beyond
    select = sa.select(*selected, *(k.shown for k in keys)).select_from(source)
    first, rest = keys[0], [term for k in keys[1:] for term in (k.compared.is_(None), k.compared.desc() if k.descending else k.compared.asc())]
    if order[0].field in _COLUMNS or order[0].field is OrderField.PROPERTY:
        # Two reads, each in the order of an index — (workspace_id, the column, id) (migration
        # 0011), or the property's (field_id, key, contact_id) (0012) — so a page stops after its
        # rows: the contacts with a value, then those without. One read ordered by
        # `key IS NULL, key` would sort every matching contact first.
        found: list[Any] = []
        if values is None or values[0] is not None:
            # By a property: read from its values, in its index's order, not from the workspace's contacts.
            reading = select
            present = where
            if order[0].field is OrderField.PROPERTY:
                reading = sa.select(*selected, *(k.shown for k in keys)).select_from(from_values)
                present = where_terms(conn, workspace_id, query, from_values=True) + beyond
            present = [*present, first.compared.is_not(None)]
            if values is not None:  # the index's own range, beside the keyset's OR
                bound = _bound(first, values[0])
                present.append(first.compared <= bound if first.descending else first.compared >= bound)
            direction = first.compared.desc() if first.descending else first.compared.asc()
            found = list(conn.execute(reading.where(*present).order_by(direction, *rest, c.id).limit(limit)).all())
        if len(found) < limit and order[0].field not in _NEVER_NULL:
            found += conn.execute(select.where(*where, first.compared.is_(None)).order_by(*rest, c.id).limit(limit - len(found))).all()
        rows: Any = found
    else:
        ordering = [term for k in keys for term in (k.compared.is_(None), k.compared.desc() if k.descending else k.compared.asc())]
        rows = conn.execute(select.where(*where).order_by(*ordering, c.id).limit(limit)).all()
    width = len(columns)
    return [(dict(zip(columns, row[:width], strict=True)), (*row[width:], row[0])) for row in rows]


def _decoded(order: Sequence[ContactOrder], number_keys: Sequence[bool], after: Sequence[Any]) -> list[Any]:
    """A cursor's key as values to compare with; Invalid when it is not one this order made
    (a cursor is the client's to send back, so it is checked like any input)."""
    if len(after) != len(order) + 1 or not _an_id(after[-1]):
        raise _not_a_cursor()
    values = list(after)
    for i, o in enumerate(order):
        value = values[i]
        if value is None:
            continue
        if o.field is OrderField.RELEVANCE:
            if value not in (0, 1, 2) or type(value) is not int:
                raise _not_a_cursor()
            continue
        if o.field is OrderField.ID:
            if not _an_id(value):
                raise _not_a_cursor()
            continue
        if type(value) is not str or "\x00" in value or not value.isascii() and not _utf8(value):
            raise _not_a_cursor()
        try:
            if o.field in _TIMES:
                values[i] = utc(dt.datetime.fromisoformat(value))
            elif number_keys[i]:
                canonical_number(value)
        except ValueError:
            raise _not_a_cursor() from None
    return values


def _an_id(value: Any) -> bool:
    return type(value) is int and 0 <= value < 2**63


def _utf8(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:  # a lone surrogate, which JSON can carry
        return False
    return True


def _bound(key: _Key, value: Any) -> Any:
    return key.bind(value) if key.bind is not None else value


def _not_a_cursor() -> Invalid:
    return Invalid.at(("after",), "after is not a cursor of this connection")


def _after(keys: Sequence[_Key], values: Sequence[Any]) -> sa.ColumnElement[bool]:
    """Rows after the key `values` in the order (nulls last in each direction; id ascending).

    Keyset on several keys: equal on the first i keys and after on key i, for some i; or
    equal on all and a greater id."""
    branches = []
    equal: list[sa.ColumnElement[bool]] = []
    for key, value in zip(keys, values, strict=False):
        bound = None if value is None else _bound(key, value)
        if bound is not None:  # a null key has nothing after it but other nulls, which are equal
            beyond = key.compared < bound if key.descending else key.compared > bound
            branches.append(sa.and_(*equal, sa.or_(beyond, key.compared.is_(None))))
        equal.append(key.compared.is_(None) if bound is None else key.compared == bound)
    branches.append(sa.and_(*equal, c.id > values[-1]))
    return sa.or_(*branches)
