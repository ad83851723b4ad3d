"""Events, contact history, webhook endpoints and the subscribe inputs (seeds 003, 004)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import cast

import strawberry
from strawberry import Maybe
from strawberry.scalars import JSON

from contactql.schema.enums import ContactSource
from contactql.schema.errors import UserError
from contactql.schema.inputs import ContactInput, raw_input
from contactql.schema.pagination import PageInfo
from contactql.store.upsert.effects import CONFIRMATION_TOKEN
from contactql.store.workspace.events import EndpointRow, EventRow, HistoryRow


@strawberry.type(description="Something that happened to a contact, for workflows to act on.")
class Event:
    id: strawberry.ID = strawberry.field(description="The event's id (a UUID).")
    type: str = strawberry.field(description="The event type, e.g. subscribeFromApi-newsletter or your own onCreate type.")
    key: str = strawberry.field(description="Subscribe events: the contact id; others: its email, else mobile, else id.")
    contact_id: strawberry.ID = strawberry.field(description="The contact it happened to.")
    params: JSON = strawberry.field(
        description="ContactId, EmailAddress, SMS, and formType where they apply; ConfirmationToken only for admin keys."
    )
    created_at: dt.datetime = strawberry.field(description="When it happened (with the write that caused it).")

    @classmethod
    def from_row(cls, row: EventRow, *, with_token: bool) -> Event:
        """`with_token`: keep a double opt-in ConfirmationToken in `params` (admin keys only:
        with it, anyone could confirm a subscription on the subscriber's behalf)."""
        params = row.params if with_token else {k: v for k, v in row.params.items() if k != CONFIRMATION_TOKEN}
        return cls(
            id=strawberry.ID(row.id), type=row.type, key=row.key, contact_id=strawberry.ID(str(row.contact_id)),
            params=cast(JSON, params), created_at=row.created_at,
        )  # fmt: skip


@strawberry.type(description="An event and its cursor.")
class EventEdge:
    cursor: str = strawberry.field(description="Pass as `after` to get the events after this one.")
    node: Event = strawberry.field(description="The event.")


@strawberry.type(description="A page of events, oldest first (Relay cursor connection).")
class EventConnection:
    edges: list[EventEdge] = strawberry.field(description="The events of this page.")
    page_info: PageInfo = strawberry.field(description="Where the page sits in the whole result.")
    count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="How many events match (counted only when asked for).")
    async def total_count(self) -> int:
        return await self.count()


@strawberry.input(description="Conditions every returned event meets.")
class EventFilter:
    type: str | None = strawberry.field(default=None, description="This event type, exactly.")
    contact_id: strawberry.ID | None = strawberry.field(default=None, description="Events of this contact.")
    since: dt.datetime | None = strawberry.field(default=None, description="Events at or after this time.")


@strawberry.type(description="One field a write changed, with its value before and after.")
class FieldChange:
    field: str = strawberry.field(description='The field, e.g. "emailStatus", "properties.city", "lists".')
    old: JSON | None = strawberry.field(description="The value before (null: none).")
    new: JSON | None = strawberry.field(description="The value after (null: cleared).")


@strawberry.type(description="One write of a contact: when, how, by which key, and what changed — a consent ledger.")
class HistoryEntry:
    at: dt.datetime = strawberry.field(description="When the write was committed.")
    source: ContactSource = strawberry.field(description="Which kind of operation wrote it.")
    key_name: str | None = strawberry.field(description="The name of the API key that wrote it.")
    batch_id: strawberry.ID | None = strawberry.field(description="The batch it came from, if any.")
    changes: list[FieldChange] = strawberry.field(description="Every field it changed, statuses included.")

    @classmethod
    def from_row(cls, row: HistoryRow) -> HistoryEntry:
        return cls(
            at=row.created_at,
            source=ContactSource(row.source),
            key_name=row.actor,
            batch_id=None if row.batch_id is None else strawberry.ID(row.batch_id),
            changes=[FieldChange(field=c["field"], old=c["old"], new=c["new"]) for c in row.changes],
        )


@strawberry.type(description="A history entry and its cursor.")
class HistoryEdge:
    cursor: str = strawberry.field(description="Pass as `after` to get the entries after this one.")
    node: HistoryEntry = strawberry.field(description="The entry.")


@strawberry.type(description="A page of a contact's history, oldest first (Relay cursor connection).")
class ContactHistoryConnection:
    edges: list[HistoryEdge] = strawberry.field(description="The entries of this page.")
    page_info: PageInfo = strawberry.field(description="Where the page sits in the whole history.")
    total_count: int = strawberry.field(description="How many writes the contact has had.")


@strawberry.type(description="Where events of some types are delivered, signed like batch webhooks.")
class WebhookEndpoint:
    id: strawberry.ID = strawberry.field(description="The endpoint's id (a UUID).")
    url: str = strawberry.field(description="The https URL events are POSTed to.")
    event_types: list[str] = strawberry.field(description='The event types delivered; "*" means all.')
    created_at: dt.datetime = strawberry.field(description="When it was created.")

    @classmethod
    def from_row(cls, row: EndpointRow) -> WebhookEndpoint:
        return cls(id=strawberry.ID(row.id), url=row.url, event_types=row.event_types, created_at=row.created_at)


@strawberry.type(description="The result of createWebhookEndpoint.")
class WebhookEndpointPayload:
    endpoint: WebhookEndpoint | None = strawberry.field(description="The new endpoint; null when it was refused.")
    user_errors: list[UserError] = strawberry.field(description="Why it was refused.")


@strawberry.type(description="The result of deleteWebhookEndpoint.")
class DeleteWebhookEndpointPayload:
    deleted_id: strawberry.ID | None = strawberry.field(description="The deleted endpoint's id; null when none was found.")
    user_errors: list[UserError] = strawberry.field(description="Why nothing was deleted.")


@raw_input
@strawberry.input(name="EventOptions", description="Events to write for the contacts an upsert creates or updates.")
class EventOptionsInput:
    on_create: Maybe[list[str] | None] = strawberry.field(
        description="Event types per created contact: letters, digits, - and _."
    )
    on_update: Maybe[list[str] | None] = strawberry.field(description="Event types per updated contact.")


@raw_input
@strawberry.input(description="A contact from a subscription form: double opt-in, workflow events.")
class SubscribeContactInput:
    contact: ContactInput = strawberry.field(description="The contact; its email status is set by the double opt-in, not by the form.")
    form_type: Maybe[str | None] = strawberry.field(description="Appended to the event types: subscribeFromApi-<formType>.")
    default_country: Maybe[str | None] = strawberry.field(
        description="The country (ISO 3166 alpha-2, e.g. NO) of phone numbers written without one, such as 953 45 259; default: the workspace's."
    )
