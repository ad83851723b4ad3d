"""Webhook endpoints: where a workspace's events are delivered."""

from __future__ import annotations

from collections.abc import Sequence

import strawberry

from contactql import outbound
from contactql.context import Info
from contactql.schema.errors import user_errors
from contactql.schema.events import (
    DeleteWebhookEndpointPayload,
    WebhookEndpoint,
    WebhookEndpointPayload,
)
from contactql.store.errors import ErrorCode, Problem, StoreError
from contactql.store.workspace import events


async def list_endpoints(info: Info) -> list[WebhookEndpoint]:
    rows = await info.context.db.read(events.list_endpoints, workspace_id=info.context.workspace_id)
    return [WebhookEndpoint.from_row(r) for r in rows]


async def create_endpoint(info: Info, url: str, event_types: Sequence[str]) -> WebhookEndpointPayload:
    why = await outbound.problem_with(url, allow_private=info.context.services.settings.allow_private_webhooks)
    problems = [] if why is None else [Problem(("url",), ErrorCode.INVALID_INPUT, f"url {why}")]
    problems += events.endpoint_type_problems(event_types)
    if problems:
        return WebhookEndpointPayload(endpoint=None, user_errors=user_errors(problems))
    try:
        row = await info.context.db.write(events.create_endpoint, workspace_id=info.context.workspace_id, url=url, event_types=event_types)
    except StoreError as refused:
        return WebhookEndpointPayload(endpoint=None, user_errors=user_errors(refused.problems))
    return WebhookEndpointPayload(endpoint=WebhookEndpoint.from_row(row), user_errors=[])


async def delete_endpoint(info: Info, id: strawberry.ID) -> DeleteWebhookEndpointPayload:
    if await info.context.db.write(events.delete_endpoint, workspace_id=info.context.workspace_id, endpoint_id=str(id)):
        return DeleteWebhookEndpointPayload(deleted_id=id, user_errors=[])
    problem = Problem(("id",), ErrorCode.NOT_FOUND, f"no webhook endpoint with id {id}")
    return DeleteWebhookEndpointPayload(deleted_id=None, user_errors=user_errors([problem]))
