"""Webhook endpoints: where a workspace's events are delivered, signed like batch webhooks."""

from __future__ import annotations

import datetime as dt

import strawberry

from contactql.schema.errors import UserError
from contactql.store.workspace.webhooks import EndpointRow


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
    endpoint: WebhookEndpoint | None = strawberry.field(default=None, description="The new endpoint; null when it was refused.")
    user_errors: list[UserError] = strawberry.field(default_factory=list, description="Why it was refused.")



@strawberry.type(description="The result of deleteWebhookEndpoint.")
class DeleteWebhookEndpointPayload:
    deleted_id: strawberry.ID | None = strawberry.field(default=None, description="The deleted endpoint's id; null when none was found.")
    user_errors: list[UserError] = strawberry.field(default_factory=list, description="Why nothing was deleted.")

