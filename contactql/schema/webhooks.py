"""Webhook endpoints: where a workspace's events are delivered, signed like batch webhooks."""

from __future__ import annotations

import datetime as dt

import strawberry

from contactql.schema.errors import UserError
from contactql.store.workspace.events import EndpointRow


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

    @classmethod
    def of(cls, row: EndpointRow) -> WebhookEndpointPayload:
        return cls(endpoint=WebhookEndpoint.from_row(row), user_errors=[])

    @classmethod
    def refused(cls, errors: list[UserError]) -> WebhookEndpointPayload:
        return cls(endpoint=None, user_errors=errors)


@strawberry.type(description="The result of deleteWebhookEndpoint.")
class DeleteWebhookEndpointPayload:
    deleted_id: strawberry.ID | None = strawberry.field(description="The deleted endpoint's id; null when none was found.")
    user_errors: list[UserError] = strawberry.field(description="Why nothing was deleted.")

    @classmethod
    def of(cls, endpoint_id: str) -> DeleteWebhookEndpointPayload:
        return cls(deleted_id=strawberry.ID(endpoint_id), user_errors=[])

    @classmethod
    def refused(cls, errors: list[UserError]) -> DeleteWebhookEndpointPayload:
        return cls(deleted_id=None, user_errors=errors)
