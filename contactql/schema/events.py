"""Events: what happened to contacts, for workflows to act on (seeds 003, 004)."""

from __future__ import annotations

import datetime as dt
from typing import cast

import strawberry
from strawberry.scalars import JSON

from contactql.schema.pagination import Connection, Edge, connection
from contactql.store.upsert.effects import CONFIRMATION_TOKEN, UNSUBSCRIBE_TOKEN
from contactql.store.workspace.events import EventRow


@strawberry.type(description="Something that happened to a contact, for workflows to act on.")
class Event:
    id: strawberry.ID = strawberry.field(description="The event's id (a UUID).")
    type: str = strawberry.field(description="The event type, e.g. subscribeFromApi-newsletter or your own onCreate type.")
    key: str = strawberry.field(description="Subscribe events: the contact id; others: its email, else mobile, else id.")
    contact_id: strawberry.ID = strawberry.field(description="The contact it happened to.")
    params: JSON = strawberry.field(description="ContactId, EmailAddress, SMS, and formType where they apply; ConfirmationToken and UnsubscribeToken (for GET /confirm and GET /unsubscribe links) only for admin keys.")
    created_at: dt.datetime = strawberry.field(description="When it happened (with the write that caused it).")

    @classmethod
    def from_row(cls, row: EventRow, *, with_token: bool) -> Event:
        """`with_token`: keep a double opt-in ConfirmationToken and the UnsubscribeToken in `params`
        (admin keys only: with them, anyone could confirm or end a subscription on the
        subscriber's behalf)."""
        params = row.params if with_token else {k: v for k, v in row.params.items() if k not in (CONFIRMATION_TOKEN, UNSUBSCRIBE_TOKEN)}
        return cls(
            id=strawberry.ID(row.id), type=row.type, key=row.key, contact_id=strawberry.ID(str(row.contact_id)),
            params=cast(JSON, params), created_at=row.created_at,
        )  # fmt: skip


@connection("EventEdge", "An event and its cursor.", cursor="Pass as `after` to get the events after this one.", node="The event.")
class EventEdge(Edge[Event]):
    pass


@connection(
    "EventConnection",
    "A page of events, oldest first (Relay cursor connection).",
    edges="The events of this page.",
    total_count="How many events match (counted only when asked for).",
)
class EventConnection(Connection[EventEdge]):
    pass


@strawberry.input(description="Conditions every returned event meets.")
class EventFilter:
    type: str | None = strawberry.field(default=None, description="This event type, exactly.")
    contact_id: strawberry.ID | None = strawberry.field(default=None, description="Events of this contact.")
    since: dt.datetime | None = strawberry.field(default=None, description="Events at or after this time.")
