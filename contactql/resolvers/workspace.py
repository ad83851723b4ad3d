"""The calling key's workspace: reading it, its settings, and the country national phone
numbers are read in."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from contactql.context import Info
from contactql.store.errors import ErrorCode, Invalid, Problem
from contactql.store.values import country_code_problem, needs_country
from contactql.store.workspace import keys
from contactql.store.workspace.keys import WorkspaceRow


async def get_workspace(info: Info) -> WorkspaceRow:
    return await info.context.db.read(keys.get_workspace, workspace_id=info.context.workspace_id)


async def update_workspace(info: Info, raw: Mapping[str, Any]) -> WorkspaceRow:
    workspace_id = info.context.workspace_id
    if "defaultCountry" not in raw:
        return await info.context.db.read(keys.get_workspace, workspace_id=workspace_id)
    country, problems = _country(raw["defaultCountry"])
    if problems:
        raise Invalid(*problems)
    return await info.context.db.write(keys.set_default_country, workspace_id=workspace_id, country=country)


async def country_for(info: Info, raw: Mapping[str, Any], contacts: list[Mapping[str, Any]] | None = None) -> tuple[str | None, list[Problem]]:
    """The country a request's national phone numbers are read in: its `defaultCountry`, else
    the workspace's. With `contacts` given, the workspace is only asked when one of them has
    a number without its country (most single upserts need no read for it)."""
    if raw.get("defaultCountry") is not None:
        return _country(raw["defaultCountry"])
    if contacts is not None and not any(needs_country(c) for c in contacts):
        return None, []
    return await info.context.db.read(keys.default_country, workspace_id=info.context.workspace_id), []


def _country(raw: str | None) -> tuple[str | None, list[Problem]]:
    if raw is None or not raw.strip():
        return None, []
    if (why := country_code_problem(raw)) is not None:
        return None, [Problem(("defaultCountry",), ErrorCode.INVALID_INPUT, why)]
    return raw.strip().upper(), []
