"""Custom property fields: listing, creating, changing and deleting them."""

from __future__ import annotations

from contactql.context import Info
from contactql.store.model import PropertyType
from contactql.store.workspace import catalog, properties
from contactql.store.workspace.properties import FieldDef


async def get_properties(info: Info) -> list[FieldDef]:
    # From the database, never the catalog: a listing shows a field created a moment ago, by
    # this process or another.
    return await info.context.db.read(properties.list_fields, workspace_id=info.context.workspace_id)


async def create_property_field(info: Info, name: str, type: PropertyType, options: list[str] | None) -> FieldDef:
    return await info.context.db.write(properties.create_field, workspace_id=info.context.workspace_id, name=name, type=type, options=options)


async def update_property_field(info: Info, field_id: str, name: str | None, options: list[str] | None) -> FieldDef:
    return await info.context.db.write(catalog.update_field, workspace_id=info.context.workspace_id, field_id=str(field_id), name=name, options=options)


async def delete_property_field(info: Info, field_id: str) -> tuple[str, int]:
    removed = await info.context.db.write(catalog.delete_field, workspace_id=info.context.workspace_id, field_id=str(field_id), actor=info.context.principal.key_name)
    return str(field_id), removed
