"""Custom property fields: listing and creating them."""

from __future__ import annotations

from contactql.context import Info
from contactql.store.model import PropertyType
from contactql.store.workspace import properties
from contactql.store.workspace.properties import FieldDef


async def get_properties(info: Info) -> list[FieldDef]:
    # From the database, never the catalog: a listing shows a field created a moment ago, by
    # this process or another.
    return await info.context.db.read(properties.list_fields, workspace_id=info.context.workspace_id)


async def create_property_field(info: Info, name: str, type: PropertyType, options: list[str] | None) -> FieldDef:
    return await info.context.db.write(properties.create_field, workspace_id=info.context.workspace_id, name=name, type=type, options=options)
