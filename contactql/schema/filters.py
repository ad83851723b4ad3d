"""Filters of the `contacts` query."""

from __future__ import annotations

import datetime as dt

import strawberry

from contactql.schema.enums import EmailStatus, SmsStatus
from contactql.store.workspace.contacts import ContactQuery


@strawberry.input(description="A custom property equal to a value (null: contacts without a value).")
class PropertyFilter:
    name: str = strawberry.field(description="The property's name, case-insensitive.")
    value: str | None = strawberry.field(default=None, description="The value, compared in canonical form.")


@strawberry.input(description="Conditions every returned contact meets; all of them apply together.")
class ContactFilter:
    email: str | None = strawberry.field(default=None, description="Equal email (case-insensitive).")
    mobile: str | None = strawberry.field(default=None, description="Equal mobile, in any accepted form.")
    external_id: str | None = strawberry.field(default=None, description="Equal externalId.")
    list_id: strawberry.ID | None = strawberry.field(default=None, description="Members of this list.")
    email_status: EmailStatus | None = strawberry.field(default=None, description="This email status.")
    sms_status: SmsStatus | None = strawberry.field(default=None, description="This SMS status.")
    updated_since: dt.datetime | None = strawberry.field(default=None, description="Changed at or after this time.")
    include_deleted: bool | None = strawberry.field(default=False, description="Also return deleted contacts.")
    property: PropertyFilter | None = strawberry.field(default=None, description="A custom property's value.")

    def to_query(self) -> ContactQuery:
        return ContactQuery(
            email=self.email,
            mobile=self.mobile,
            external_id=self.external_id,
            list_id=None if self.list_id is None else str(self.list_id),
            email_status=None if self.email_status is None else self.email_status.value,
            sms_status=None if self.sms_status is None else self.sms_status.value,
            updated_since=self.updated_since,
            include_deleted=bool(self.include_deleted),
            property_name=None if self.property is None else self.property.name,
            property_value=None if self.property is None else self.property.value,
        )
