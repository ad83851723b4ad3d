"""Webhook endpoints: where a workspace's events are delivered."""

from __future__ import annotations

from collections.abc import Sequence

from contactql import outbound
from contactql.context import Info
from contactql.store.errors import ErrorCode, Invalid, NotFound, Problem
from contactql.store.workspace import webhooks
from contactql.store.workspace.webhooks import EndpointRow


async def list_endpoints(info: Info) -> list[EndpointRow]:
    return await info.context.db.read(webhooks.list_endpoints, workspace_id=info.context.workspace_id)


async def create_endpoint(info: Info, url: str, event_types: Sequence[str]) -> EndpointRow:
    why = await outbound.problem_with(url, allow_private=info.context.services.settings.allow_private_webhooks)
    problems = [] if why is None else [Problem(("url",), ErrorCode.INVALID_INPUT, f"url {why}")]
    problems += webhooks.endpoint_type_problems(event_types)
    if problems:
        raise Invalid(*problems)
    return await info.context.db.write(webhooks.create_endpoint, workspace_id=info.context.workspace_id, url=url, event_types=event_types)


async def delete_endpoint(info: Info, id: str) -> str:
    """The deleted endpoint's id; NotFound when the workspace has none such."""
    if not await info.context.db.write(webhooks.delete_endpoint, workspace_id=info.context.workspace_id, endpoint_id=str(id)):
        raise NotFound.at(("id",), f"no webhook endpoint with id {id}")
    return id
