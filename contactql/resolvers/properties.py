"""Custom property fields: listing and creating them."""

from __future__ import annotations

from contactql.context import Info
from contactql.schema.errors import user_errors
from contactql.schema.properties import PropertyField, PropertyFieldPayload
from contactql.store.errors import StoreError
from contactql.store.model import PropertyType
from contactql.store.workspace import properties


async def get_properties(info: Info) -> list[PropertyField]:
    # From the database, never the catalog: a listing shows a field created a moment ago, by
    # this process or another.
    fields = await info.context.db.read(properties.list_fields, workspace_id=info.context.workspace_id)
    return [PropertyField.from_def(f) for f in fields]


async def create_property_field(info: Info, name: str, type: str, options: list[str] | None) -> PropertyFieldPayload:
    try:
        field = await info.context.db.write(
            properties.create_field, workspace_id=info.context.workspace_id, name=name, type=PropertyType(type), options=options
        )
    except StoreError as error:
        return PropertyFieldPayload(field=None, user_errors=user_errors(error.problems, "input"))
    return PropertyFieldPayload(field=PropertyField.from_def(field), user_errors=[])
