"""`contactsChanged`: a live list — contacts pushed as they are created, updated or deleted."""

from __future__ import annotations

import datetime as dt
import enum

import strawberry

from contactql.resolvers.changes import Change
from contactql.schema.contacts import Contact


@strawberry.enum(description="What happened to a contact.")
class ContactChangeType(enum.Enum):
    CREATED = strawberry.enum_value("CREATED", description="It was created.")
    UPDATED = strawberry.enum_value("UPDATED", description="It changed (fields, properties, lists, companies, a confirmation or a restore).")
    DELETED = strawberry.enum_value("DELETED", description="It was deleted; contact shows its deletedAt.")


@strawberry.type(description="A contact as a write left it, and whether it matches the subscription's filter and search now.")
class ContactChange:
    type: ContactChangeType = strawberry.field(description="What happened.")
    matches: bool = strawberry.field(description="Whether the contact matches the filter and search after the change: a table shows it if true, drops it if false.")
    contact: Contact = strawberry.field(description="The contact after the change.")
    at: dt.datetime = strawberry.field(description="When the change was written.")

    @classmethod
    def of(cls, change: Change) -> ContactChange:
        return cls(type=ContactChangeType(change.kind), matches=change.matches, contact=Contact.from_row(change.contact), at=change.at)
