"""What `contacts(filter: …)` asks for, as SQL terms: a `ContactQuery` is one node of a filter
tree (its own conditions, all of which apply, plus `and`, `or` and `not` of other nodes).

Every value from a request reaches SQL as a bound parameter. Identities are compared in their
canonical form (an email lower-cased and validated, a mobile in E.164 read in the workspace's
country), property values in their field's canonical spelling and by its type: NUMBER
numerically, DATE as ISO days, TEXT and SELECT as text (`contains` ignores case). A negation
counts a condition that is unknown (a contact without an email, for `not: {email: …}`) as
false, so `not` returns those contacts too.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from contactql.store.db.columns import not_an_index_key, value_hash
from contactql.store.db.tables import contact_t, membership_t, property_value_t
from contactql.store.errors import Invalid
from contactql.store.model import PropertyType
from contactql.store.values import fold, normalise_email, normalise_mobile, shown, utc
from contactql.store.workspace import search, segments
from contactql.store.workspace.keys import default_country
from contactql.store.workspace.properties import FieldDef, FieldSet, load_fields

MAX_VALUES = 100  # in an `…In` list, `listIds`, `notInListIds`, a property's `in`
MAX_BRANCHES = 20  # in an `and` or an `or`
MAX_DEPTH = 5  # `and`, `or` and `not` nested in one another
MAX_PROPERTIES = 20  # property conditions in one node
MAX_CONDITIONS = 100  # nodes and property conditions in the whole filter
MAX_TOTAL_VALUES = 1_000  # values in all its lists: the statement's parameters stay few
MAX_CONTAINS = 1_000  # characters of a `contains` (SQLite refuses LIKE patterns over 50 000 bytes)

c = contact_t.c
pv = property_value_t.c
m = membership_t.c
Path = tuple[str, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class PropertyCondition:
    """Conditions on one property's value; all given apply. `is_null`: true, contacts without a
    value; false, contacts with one."""

    name: str
    eq: str | None = None
    in_: tuple[str, ...] | None = None
    gt: str | None = None
    gte: str | None = None
    lt: str | None = None
    lte: str | None = None
    contains: str | None = None
    is_null: bool | None = None
    problem: tuple[str, str] | None = None  # (key, why) the request's condition is refused, raised where its path is known
    legacy: bool = False  # sent as the older `property: {…}`: its problems are reported there


@dataclasses.dataclass(frozen=True, slots=True)
class ContactQuery:
    email: str | None = None
    mobile: str | None = None
    external_id: str | None = None
    list_id: str | None = None
    email_status: str | None = None
    sms_status: str | None = None
    updated_since: dt.datetime | None = None
    include_deleted: bool = False  # the top node's: nested nodes never bring deleted contacts back
    search: str | None = None  # the top node's: `contacts(search:)` (store/workspace/search.py)
    segment_id: str | None = None  # a member of this segment (its filter and search apply)
    property_name: str | None = None
    property_value: str | None = None
    email_in: tuple[str, ...] | None = None
    mobile_in: tuple[str, ...] | None = None
    external_id_in: tuple[str, ...] | None = None
    email_status_in: tuple[str, ...] | None = None
    sms_status_in: tuple[str, ...] | None = None
    list_ids: tuple[str, ...] | None = None  # a member of any of them
    not_in_list_ids: tuple[str, ...] | None = None  # a member of none of them
    created_after: dt.datetime | None = None
    created_before: dt.datetime | None = None
    updated_after: dt.datetime | None = None
    updated_before: dt.datetime | None = None
    has_email: bool | None = None
    has_mobile: bool | None = None
    properties: tuple[PropertyCondition, ...] = ()
    all_of: tuple[ContactQuery, ...] | None = None
    any_of: tuple[ContactQuery, ...] | None = None
    none_of: ContactQuery | None = None


class _Terms:
    """Builds one request's terms: the workspace's fields and country are read once."""

    def __init__(self, conn: sa.Connection, workspace_id: int) -> None:
        self.conn = conn
        self.workspace_id = workspace_id
        self._fields: FieldSet | None = None
        self._country: tuple[str | None] | None = None
        self._icu: bool | None = None

    def fields(self) -> FieldSet:
        if self._fields is None:
            self._fields = load_fields(self.conn, workspace_id=self.workspace_id)
        return self._fields

    def icu(self) -> bool:
        """Whether PostgreSQL has ICU's root collation (Debian's, Ubuntu's and the official images do)."""
        if self._icu is None:
            self._icu = self.conn.scalar(sa.text("SELECT count(*) FROM pg_collation WHERE collname = 'und-x-icu'")) == 1
        return self._icu

    def country(self) -> str | None:
        if self._country is None:
            self._country = (default_country(self.conn, workspace_id=self.workspace_id),)
        return self._country[0]

    def of(self, query: ContactQuery, path: Path, depth: int = 0, *, joined: sa.Table | None = None) -> list[sa.ColumnElement[bool]]:
        if depth > MAX_DEPTH:
            raise Invalid.at(path, f"and, or and not may be nested at most {MAX_DEPTH} deep")
        terms = self._identities(query, path) + self._statuses_and_times(query, path)
        if query.segment_id is not None:
            terms += self._segment(query.segment_id, (*path, "segmentId"), depth)
        terms += self._lists(query, path, joined=joined if depth == 0 else None)
        if query.property_name is not None:
            legacy = PropertyCondition(query.property_name, eq=query.property_value, is_null=True if query.property_value is None else None)
            terms += self._property(legacy, (*path, "property"), joined=joined if depth == 0 else None)
        if len(query.properties) > MAX_PROPERTIES:
            raise Invalid.at((*path, "properties"), f"at most {MAX_PROPERTIES} property conditions")
        for i, condition in enumerate(query.properties):
            terms += self._property(condition, (*path, "property") if condition.legacy else (*path, "properties", str(i)))
        for key, nodes in (("and", query.all_of), ("or", query.any_of)):
            if nodes is None:
                continue
            if not 0 < len(nodes) <= MAX_BRANCHES:
                raise Invalid.at((*path, key), f"give 1 to {MAX_BRANCHES} filters")
            branches = [_all(self.of(node, (*path, key, str(i)), depth + 1)) for i, node in enumerate(nodes)]
            terms.append(sa.and_(*branches) if key == "and" else sa.or_(*branches))
        if query.none_of is not None:
            # coalesce: an unknown (NULL) condition counts as false, so its negation holds.
            terms.append(sa.not_(sa.func.coalesce(_all(self.of(query.none_of, (*path, "not"), depth + 1)), sa.false())))
        return terms

    def _segment(self, segment_id: str, path: Path, depth: int) -> list[sa.ColumnElement[bool]]:
        found = segments.get_segment(self.conn, workspace_id=self.workspace_id, segment_id=segment_id)
        if found is None:
            raise Invalid.at(path, f"no segment with id {shown(segment_id)}")
        query = decode(found.query)
        # Its own paths would point into a filter the request does not hold: a segment's problem
        # (a property deleted since) is reported at segmentId, naming the segment.
        try:
            terms = self.of(query, ())
            return terms + (search.matches(self.conn, found.search) if found.search is not None else [])
        except Invalid as error:
            raise Invalid.at(path, f"segment {shown(found.name)}: {error.problems[0].message}") from None

    def _identities(self, query: ContactQuery, path: Path) -> list[sa.ColumnElement[bool]]:
        terms: list[sa.ColumnElement[bool]] = []
        for key, column, one, many, canonical in (
            ("email", c.email, query.email, query.email_in, self._email),
            ("mobile", c.mobile, query.mobile, query.mobile_in, self._mobile),
            ("externalId", c.external_id, query.external_id, query.external_id_in, str.strip),
        ):
            if one is not None:
                terms.append(column == canonical(one))
            if many is not None:
                terms.append(column.in_([canonical(v) for v in _bounded(many, (*path, f"{key}In"))]))
        return terms

    def _email(self, raw: str) -> str:
        try:
            return normalise_email(raw.strip())
        except ValueError:
            return raw.strip().lower()  # matches nothing: no stored email is invalid

    def _mobile(self, raw: str) -> str:
        # A national number is read in the workspace's default country, as when it was written.
        international = raw.strip().startswith(("+", "00"))
        try:
            return normalise_mobile(raw, None, None if international else self.country())[0]
        except ValueError:
            return raw.strip()  # matches nothing: no stored mobile is invalid

    def _statuses_and_times(self, query: ContactQuery, path: Path) -> list[sa.ColumnElement[bool]]:
        terms: list[sa.ColumnElement[bool]] = []
        for key, column, one, many in (
            ("emailStatus", c.email_status, query.email_status, query.email_status_in),
            ("smsStatus", c.sms_status, query.sms_status, query.sms_status_in),
        ):
            if one is not None:
                terms.append(column == one)
            if many is not None:
                terms.append(column.in_(_bounded(many, (*path, f"{key}In"))))
        for key, column, moment, after in (
            ("updatedSince", c.updated_at, query.updated_since, True),
            ("createdAfter", c.created_at, query.created_after, True),
            ("createdBefore", c.created_at, query.created_before, False),
            ("updatedAfter", c.updated_at, query.updated_after, True),
            ("updatedBefore", c.updated_at, query.updated_before, False),
        ):
            if moment is not None:
                try:
                    moment = utc(moment)
                except ValueError as error:
                    raise Invalid.at((*path, key), str(error)) from None
                terms.append(column >= moment if after else column < moment)
        for column, wanted in ((c.email, query.has_email), (c.mobile, query.has_mobile)):
            if wanted is not None:
                terms.append(column.is_not(None) if wanted else column.is_(None))
        return terms

    def _lists(self, query: ContactQuery, path: Path, *, joined: sa.Table | None) -> list[sa.ColumnElement[bool]]:
        terms: list[sa.ColumnElement[bool]] = []
        if query.list_id is not None:
            if joined is membership_t:  # the page reads the list's memberships in contact order
                terms.append(m.list_id == query.list_id)
            else:
                terms.append(c.id.in_(sa.select(m.contact_id).where(m.list_id == query.list_id)))
        # Memberships name lists by id, and list ids are UUIDs unique across workspaces; the
        # contact's own workspace term keeps another workspace's list from matching anyone here.
        if query.list_ids is not None:
            ids = list(_bounded(query.list_ids, (*path, "listIds")))
            terms.append(c.id.in_(sa.select(m.contact_id).where(m.list_id.in_(ids))))
        if query.not_in_list_ids is not None:
            ids = list(_bounded(query.not_in_list_ids, (*path, "notInListIds")))
            terms.append(c.id.not_in(sa.select(m.contact_id).where(m.list_id.in_(ids))))
        return terms

    def _property(self, condition: PropertyCondition, path: Path, *, joined: sa.Table | None = None) -> list[sa.ColumnElement[bool]]:
        if condition.problem is not None:
            key, why = condition.problem
            raise Invalid.at((*path, key) if key else path, why)
        field = self.fields().by_name.get(condition.name.strip().lower())
        if field is None:
            raise Invalid.at((*path, "name"), f"no property named {shown(condition.name)}")
        of_field = (pv.workspace_id == self.workspace_id, pv.field_id == field.id)
        terms: list[sa.ColumnElement[bool]] = []
        if condition.is_null is not None:
            having = c.id.in_(sa.select(pv.contact_id).where(*of_field))
            terms.append(sa.not_(having) if condition.is_null else having)
        values = self._value_terms(field, condition, path)
        if values:
            if joined is property_value_t:  # the page reads this property's values in contact order
                terms += [*of_field, *values]
            else:
                terms.append(c.id.in_(sa.select(pv.contact_id).where(*of_field, *values)))
        return terms

    def _value_terms(self, field: FieldDef, condition: PropertyCondition, path: Path) -> list[sa.ColumnElement[bool]]:
        def canonical(raw: str, key: str) -> str:
            try:
                return field.canonical(raw)
            except ValueError as error:
                raise Invalid.at((*path, key), str(error)) from None

        terms: list[sa.ColumnElement[bool]] = []
        if condition.eq is not None:
            value = canonical(condition.eq, "eq")
            terms += [pv.value_hash == value_hash(value), pv.value == value]  # the digest finds it in the index
        if condition.in_ is not None:
            values = [canonical(v, "in") for v in _bounded(condition.in_, (*path, "in"))]
            terms += [pv.value_hash.in_([value_hash(v) for v in values]), pv.value.in_(values)]
        bounds = (("gt", condition.gt, sa.sql.operators.gt), ("gte", condition.gte, sa.sql.operators.ge),
                  ("lt", condition.lt, sa.sql.operators.lt), ("lte", condition.lte, sa.sql.operators.le))  # fmt: skip
        for key, raw, compare in bounds:
            if raw is None:
                continue
            if field.type in (PropertyType.BOOLEAN, PropertyType.SELECT):
                raise Invalid.at((*path, key), f"{key} compares NUMBER, DATE and TEXT properties; {field.name} is {field.type.value}")
            value = canonical(raw, key)
            if field.type is PropertyType.NUMBER:
                terms.append(compare(sa.cast(pv.value, sa.Numeric), sa.cast(sa.literal(value), sa.Numeric)))
            else:  # ISO days and text compare as text
                terms.append(compare(pv.value, value))
        if condition.contains is not None:
            if field.type not in (PropertyType.TEXT, PropertyType.SELECT):
                raise Invalid.at((*path, "contains"), f"contains applies to TEXT and SELECT properties; {field.name} is {field.type.value}")
            if len(condition.contains) > MAX_CONTAINS:
                raise Invalid.at((*path, "contains"), f"at most {MAX_CONTAINS} characters")
            if self.conn.dialect.name == "sqlite":  # SQLite's lower() folds ASCII only: Python's casefold, registered per connection
                terms.append(sa.func.contactql_fold(pv.value).contains(fold(condition.contains), autoescape=True))
            else:  # PostgreSQL's lower() folds by the database's locale (ASCII only in C): ICU's, when there
                stored = pv.value.collate("und-x-icu") if self.icu() else pv.value
                terms.append(sa.func.lower(stored).contains(condition.contains.lower(), autoescape=True))
        return terms


def where_terms(
    conn: sa.Connection, workspace_id: int, query: ContactQuery, *, joined: sa.Table | None = None, from_values: bool = False
) -> list[sa.ColumnElement[bool]]:
    """The filter's terms. `joined`: the page joins contacts to the memberships of `list_id`, or
    to the values of the `property` filter, and the terms name its columns. `from_values`: the
    read starts from a property's values (a page ordered by it), so the workspace term must
    not draw SQLite to the workspace's contacts instead (columns.not_an_index_key)."""
    conditions, values = _size(query)
    if conditions > MAX_CONDITIONS or values > MAX_TOTAL_VALUES:
        # Checked before any term is built: a filter of thousands of branches fits in a body and
        # would cost seconds of CPU to build, compile and run, twice (page and totalCount).
        raise Invalid.at(("filter",), too_big(conditions, values))
    terms: list[sa.ColumnElement[bool]] = [(not_an_index_key(c.workspace_id) if from_values else c.workspace_id) == workspace_id]
    if not query.include_deleted:
        terms.append(c.deleted_at.is_(None))
    if query.search is not None:
        terms += search.matches(conn, query.search)
    return terms + _Terms(conn, workspace_id).of(query, ("filter",), joined=joined)


def too_big(conditions: int, values: int) -> str:
    return f"a filter has at most {MAX_CONDITIONS} filters and property conditions and {MAX_TOTAL_VALUES} listed values in all; this one has {conditions} and {values}"


def _size(query: ContactQuery, depth: int = 0) -> tuple[int, int]:
    """(filters and property conditions, listed values) in the tree; stops counting past the bound."""
    lists = (query.email_in, query.mobile_in, query.external_id_in, query.email_status_in, query.sms_status_in, query.list_ids, query.not_in_list_ids)
    conditions = 1 + len(query.properties)
    values = sum(len(v) for v in lists if v is not None) + sum(len(p.in_ or ()) for p in query.properties)
    children = [*(query.all_of or ()), *(query.any_of or ()), *([query.none_of] if query.none_of is not None else [])]
    for child in children:
        if conditions > MAX_CONDITIONS or depth > MAX_DEPTH:
            break
        more, more_values = _size(child, depth + 1)
        conditions, values = conditions + more, values + more_values
    return conditions, values


def _all(terms: Sequence[sa.ColumnElement[bool]]) -> sa.ColumnElement[bool]:
    return sa.and_(*terms) if terms else sa.true()


def _bounded(values: Sequence[str], path: Path) -> Sequence[str]:
    if len(values) > MAX_VALUES:
        raise Invalid.at(path, f"at most {MAX_VALUES} values")
    return values


_TIMES = {"updated_since", "created_after", "created_before", "updated_after", "updated_before"}


def encode(query: ContactQuery | PropertyCondition) -> dict[str, Any]:
    """A query (or a property condition) as JSON, for a segment: its fields by their names here,
    those at their default left out, times in ISO 8601; `search` is kept beside it."""
    out: dict[str, Any] = {}
    for field in dataclasses.fields(query):
        value = getattr(query, field.name)
        if value == field.default or field.name == "search":
            continue
        if isinstance(value, dt.datetime):
            value = value.isoformat()
        elif isinstance(value, ContactQuery | PropertyCondition):
            value = encode(value)
        elif isinstance(value, tuple):
            value = [encode(v) if isinstance(v, ContactQuery | PropertyCondition) else v for v in value]
        out[field.name] = value
    return out


def decode(data: dict[str, Any]) -> ContactQuery:
    """The query `encode` made."""
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key in _TIMES:
            values[key] = dt.datetime.fromisoformat(value)
        elif key in ("all_of", "any_of"):
            values[key] = tuple(decode(v) for v in value)
        elif key == "none_of":
            values[key] = decode(value)
        elif key == "properties":
            values[key] = tuple(_condition(p) for p in value)
        else:
            values[key] = tuple(value) if isinstance(value, list) else value
    return ContactQuery(**values)


def _condition(data: dict[str, Any]) -> PropertyCondition:
    fields: dict[str, Any] = {k: tuple(v) if k == "in_" else v for k, v in data.items()}
    return PropertyCondition(**fields)


def check_segment(conn: sa.Connection, workspace_id: int, query: ContactQuery) -> None:
    """Refuse a filter that cannot be a segment's: one naming a segment (a segment never
    evaluates another), one asking for deleted contacts, one that cannot be read."""
    if _names_a_segment(query):
        raise Invalid.at(("filter", "segmentId"), "a segment's filter cannot name a segment: give that segment's conditions")
    if query.include_deleted:
        raise Invalid.at(("filter", "includeDeleted"), "a segment holds contacts that are not deleted")
    where_terms(conn, workspace_id, query)


def _names_a_segment(query: ContactQuery) -> bool:
    children = [*(query.all_of or ()), *(query.any_of or ()), *([query.none_of] if query.none_of is not None else [])]
    return query.segment_id is not None or any(_names_a_segment(child) for child in children)
