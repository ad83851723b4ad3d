"""Filters of the `contacts` query: one node's conditions all apply, and `and`, `or` and `not`
combine nodes (store/workspace/filters.py turns them into SQL)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Annotated, Any

import strawberry

from contactql.schema.enums import ContactOrderField, EmailStatus, SmsStatus, SortDirection
from contactql.store.sorting import OrderField
from contactql.store.sorting import SortDirection as StoreSortDirection
from contactql.store.workspace.filters import ContactQuery, PropertyCondition
from contactql.store.workspace.order import ContactOrder as StoreContactOrder


@strawberry.input(
    description="Conditions on a custom property's value, compared by the property's type (NUMBER numerically, DATE by date); all given apply."
)
class PropertyFilter:
    name: str = strawberry.field(description="The property's name, case-insensitive.")
    value: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="Equal to this value (as eq); with no other condition, null means contacts without a value (as isNull: true). A filter with no condition at all is refused.",
    )
    eq: str | None = strawberry.field(default=None, description="Equal to this value, compared in canonical form.")
    in_: list[str] | None = strawberry.field(default=None, name="in", description="Equal to one of these values (at most 100).")
    gt: str | None = strawberry.field(default=None, description="Greater than (NUMBER, DATE, TEXT).")
    gte: str | None = strawberry.field(default=None, description="Greater than or equal (NUMBER, DATE, TEXT).")
    lt: str | None = strawberry.field(default=None, description="Less than (NUMBER, DATE, TEXT).")
    lte: str | None = strawberry.field(default=None, description="Less than or equal (NUMBER, DATE, TEXT).")
    contains: str | None = strawberry.field(default=None, description="Contains this text, ignoring case (TEXT, SELECT).")
    is_null: bool | None = strawberry.field(default=None, description="true: contacts without a value; false: contacts with one.")

    def to_condition(self) -> PropertyCondition:
        # What is wrong here is reported by the store, which knows the condition's path.
        value = None if self.value is strawberry.UNSET else self.value
        operators = (self.eq, self.in_, self.gt, self.gte, self.lt, self.lte, self.contains, self.is_null)
        if self.value is strawberry.UNSET and all(o is None for o in operators):
            # Not "contacts without a value": an `eq: $v` sent with $v unset would then find
            # everyone without the property — and a deleteContacts would delete them.
            return PropertyCondition(name=self.name, problem=("", "give a condition: eq, in, gt, gte, lt, lte, contains or isNull (value: null for no value)"))
        if self.value is not strawberry.UNSET and (self.eq is not None or self.is_null is not None):
            return PropertyCondition(name=self.name, problem=("value", "give one of value, eq and isNull, not more"))
        if self.contains == "":
            return PropertyCondition(name=self.name, problem=("contains", "give at least one character (every value contains the empty text)"))
        legacy_null = value is None and all(o is None for o in operators)  # { name, value: null }, as before
        return PropertyCondition(
            name=self.name,
            eq=self.eq if value is None else value,
            in_=_tuple(self.in_),
            gt=self.gt,
            gte=self.gte,
            lt=self.lt,
            lte=self.lte,
            contains=self.contains,
            is_null=True if legacy_null else self.is_null,
        )


@strawberry.input(description="Conditions every returned contact meets; all of them apply together, with `and`, `or` and `not` of other filters.")
class ContactFilter:
    email: str | None = strawberry.field(default=None, description="Equal email (case-insensitive).")
    mobile: str | None = strawberry.field(default=None, description="Equal mobile, in any accepted form.")
    external_id: str | None = strawberry.field(default=None, description="Equal externalId.")
    list_id: strawberry.ID | None = strawberry.field(default=None, description="Members of this list.")
    email_status: EmailStatus | None = strawberry.field(default=None, description="This email status.")
    sms_status: SmsStatus | None = strawberry.field(default=None, description="This SMS status.")
    updated_since: dt.datetime | None = strawberry.field(default=None, description="Changed at or after this time.")
    include_deleted: bool | None = strawberry.field(default=False, description="Also return deleted contacts (of the top filter only).")
    property: PropertyFilter | None = strawberry.field(default=None, description="A custom property's value.")
    email_in: list[str] | None = strawberry.field(default=None, description="One of these emails (at most 100).")
    mobile_in: list[str] | None = strawberry.field(default=None, description="One of these mobiles, in any accepted form (at most 100).")
    external_id_in: list[str] | None = strawberry.field(default=None, description="One of these externalIds (at most 100).")
    email_status_in: list[EmailStatus] | None = strawberry.field(default=None, description="One of these email statuses.")
    sms_status_in: list[SmsStatus] | None = strawberry.field(default=None, description="One of these SMS statuses.")
    list_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="Members of any of these lists (at most 100).")
    not_in_list_ids: list[strawberry.ID] | None = strawberry.field(default=None, description="Members of none of these lists (at most 100).")
    created_after: dt.datetime | None = strawberry.field(default=None, description="Created at or after this time.")
    created_before: dt.datetime | None = strawberry.field(default=None, description="Created before this time.")
    updated_after: dt.datetime | None = strawberry.field(default=None, description="Changed at or after this time.")
    updated_before: dt.datetime | None = strawberry.field(default=None, description="Last changed before this time.")
    has_email: bool | None = strawberry.field(default=None, description="true: contacts with an email; false: without one.")
    has_mobile: bool | None = strawberry.field(default=None, description="true: contacts with a mobile; false: without one.")
    properties: list[PropertyFilter] | None = strawberry.field(default=None, description="Conditions on custom properties, all of which apply (at most 20).")
    segment_id: strawberry.ID | None = strawberry.field(default=None, description="A member of this saved segment: its filter and search apply.")
    and_: list[ContactFilter] | None = strawberry.field(default=None, name="and", description="Filters that all apply (1 to 20; nested at most 5 deep).")
    or_: list[ContactFilter] | None = strawberry.field(default=None, name="or", description="Filters of which at least one applies (1 to 20).")
    not_: ContactFilter | None = strawberry.field(default=None, name="not", description="A filter that must not apply (an unknown condition counts as not applying).")

    def to_query(self) -> ContactQuery:
        # `property` as it always was — equal to a value, or no value — keeps its own path (its
        # page reads the property's index in contact order); any other condition joins `properties`.
        condition = None if self.property is None else self.property.to_condition()
        plain = condition is not None and _equal_or_none(condition)
        legacy = condition if plain else None
        more = () if condition is None or plain else (dataclasses.replace(condition, legacy=True),)
        return ContactQuery(
            email=self.email,
            mobile=self.mobile,
            external_id=self.external_id,
            list_id=None if self.list_id is None else str(self.list_id),
            email_status=_value(self.email_status),
            sms_status=_value(self.sms_status),
            updated_since=self.updated_since,
            include_deleted=bool(self.include_deleted),
            property_name=None if legacy is None else legacy.name,
            property_value=None if legacy is None else legacy.eq,
            email_in=_tuple(self.email_in),
            mobile_in=_tuple(self.mobile_in),
            external_id_in=_tuple(self.external_id_in),
            email_status_in=None if self.email_status_in is None else tuple(str(s.value) for s in self.email_status_in),
            sms_status_in=None if self.sms_status_in is None else tuple(str(s.value) for s in self.sms_status_in),
            list_ids=_tuple(self.list_ids),
            not_in_list_ids=_tuple(self.not_in_list_ids),
            created_after=self.created_after,
            created_before=self.created_before,
            updated_after=self.updated_after,
            updated_before=self.updated_before,
            has_email=self.has_email,
            has_mobile=self.has_mobile,
            properties=(*(p.to_condition() for p in self.properties or ()), *more),
            segment_id=None if self.segment_id is None else str(self.segment_id),
            all_of=None if self.and_ is None else tuple(f.to_query() for f in self.and_),
            any_of=None if self.or_ is None else tuple(f.to_query() for f in self.or_),
            none_of=None if self.not_ is None else self.not_.to_query(),
        )


@strawberry.input(description="One sort key of a contacts page; the contact id breaks ties.")
class ContactOrder:
    field: ContactOrderField = strawberry.field(description="What to order by.")
    direction: SortDirection | None = strawberry.field(default=SortDirection("ASC"), description="Smallest or largest first; nulls last either way.")
    property: str | None = strawberry.field(default=None, description="With field PROPERTY: the property's name, case-insensitive.")

    def to_order(self) -> StoreContactOrder:
        direction = StoreSortDirection.ASC if self.direction is None else StoreSortDirection(self.direction.value)
        return StoreContactOrder(OrderField(self.field.value), direction, self.property)


Search = Annotated[
    str | None,
    strawberry.argument(
        description="Any part of a first name, last name, email, mobile (its digits, however formatted) or externalId; case and accents ignored; every word must appear (at most 200 characters, 10 words)."
    ),
]


def contact_query(filter: ContactFilter | None, search: str | None) -> ContactQuery:
    """The query of a `filter` and a `search` argument (a blank search finds everyone)."""
    query = filter.to_query() if filter is not None else ContactQuery()
    return query if search is None else dataclasses.replace(query, search=search)


def _equal_or_none(condition: PropertyCondition) -> bool:
    """Whether the condition is {name, eq} or {name, isNull: true} and nothing else."""
    others = (condition.in_, condition.gt, condition.gte, condition.lt, condition.lte, condition.contains)
    alone = (condition.eq is None) != (condition.is_null is None)
    return all(o is None for o in others) and alone and condition.is_null is not False


def _tuple(values: Sequence[Any] | None) -> tuple[str, ...] | None:
    return None if values is None else tuple(str(v) for v in values)


def _value(status: Any) -> str | None:
    return None if status is None else str(status.value)
