"""`contactStats`: a dashboard's counts of the contacts a filter and search find."""

from __future__ import annotations

import strawberry

from contactql.context import Info
from contactql.resolvers import contacts
from contactql.schema.enums import EmailStatus, SmsStatus
from contactql.schema.lists import ContactList
from contactql.store.workspace.filters import ContactQuery


@strawberry.type(description="How many of the contacts have this email status.")
class EmailStatusCount:
    status: EmailStatus = strawberry.field(description="The status.")
    count: int = strawberry.field(description="Contacts with it.")


@strawberry.type(description="How many of the contacts have this SMS status.")
class SmsStatusCount:
    status: SmsStatus = strawberry.field(description="The status.")
    count: int = strawberry.field(description="Contacts with it.")


@strawberry.type(description="How many of the contacts are in this list.")
class ListCount:
    list: ContactList = strawberry.field(description="The list.")
    count: int = strawberry.field(description="Contacts of the filter in it.")


@strawberry.type(description="Counts of the contacts a filter and search find; each field is one count, run only when asked for.")
class ContactStats:
    query: strawberry.Private[ContactQuery]

    @strawberry.field(description="How many contacts the filter and search find.")
    async def total(self, info: Info) -> int:
        return await contacts.count_contacts(info, self.query)

    @strawberry.field(description="Those contacts by email status, most first; statuses no one has are left out.")
    async def by_email_status(self, info: Info) -> list[EmailStatusCount]:
        return [EmailStatusCount(status=EmailStatus(s), count=n) for s, n in await contacts.count_by_status(info, self.query, "email")]

    @strawberry.field(description="Those contacts by SMS status, most first; statuses no one has are left out.")
    async def by_sms_status(self, info: Info) -> list[SmsStatusCount]:
        return [SmsStatusCount(status=SmsStatus(s), count=n) for s, n in await contacts.count_by_status(info, self.query, "sms")]

    @strawberry.field(description="Those contacts by static list, most first; lists none of them are in are left out.")
    async def by_list(self, info: Info) -> list[ListCount]:
        return [ListCount(list=ContactList.from_row(row), count=n) for row, n in await contacts.count_by_list(info, self.query)]
