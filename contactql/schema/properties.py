"""Custom property fields and values (seed 000's propertyfields, seed 002's customFields)."""

from __future__ import annotations

import strawberry

from contactql.schema.enums import PropertyType
from contactql.schema.errors import UserError
from contactql.store.workspace.properties import FieldDef


@strawberry.type(description="A custom property defined in the workspace.")
class PropertyField:
    id: strawberry.ID = strawberry.field(description="The field's id (a UUID).")
    name: str = strawberry.field(description="The field's name; inputs may name it in any case.")
    type: PropertyType = strawberry.field(description="The type values are checked against.")
    options: list[str] | None = strawberry.field(description="The allowed values of a SELECT field.")

    @classmethod
    def from_def(cls, field: FieldDef) -> PropertyField:
        return cls(
            id=strawberry.ID(field.id),
            name=field.name,
            type=PropertyType(field.type.value),
            options=list(field.options) if field.options is not None else None,
        )


@strawberry.type(description="A contact's value of one custom property.")
class PropertyValue:
    field: PropertyField = strawberry.field(description="The property field.")
    value: str | None = strawberry.field(description="The value in its canonical form.")


@strawberry.input(description="A new custom property field.")
class PropertyFieldInput:
    name: str = strawberry.field(description="The name, unique in the workspace (case-insensitive).")
    type: PropertyType = strawberry.field(description="The type of its values.")
    options: list[str] | None = strawberry.field(default=None, description="For SELECT: the allowed values.")


@strawberry.input(description="What to change of a property field; what is left out stays.")
class UpdatePropertyFieldInput:
    name: str | None = strawberry.field(default=None, description="A new name, unique in the workspace; segments naming the field follow it.")
    options: list[str] | None = strawberry.field(
        default=None, description="For SELECT: the allowed values, in order. An option contacts still hold cannot be removed (IN_USE, with the counts)."
    )


@strawberry.type(description="The result of createPropertyField and updatePropertyField.")
class PropertyFieldPayload:
    field: PropertyField | None = strawberry.field(default=None, description="The new or changed field; null when it was refused.")
    user_errors: list[UserError] = strawberry.field(default_factory=list, description="Why it was refused.")


@strawberry.type(description="The result of deletePropertyField.")
class DeletePropertyFieldPayload:
    deleted_id: strawberry.ID | None = strawberry.field(default=None, description="The deleted field's id; null when nothing was deleted.")
    removed_values: int = strawberry.field(default=0, description="Contacts whose value of it was removed (each with a history entry).")
    user_errors: list[UserError] = strawberry.field(default_factory=list, description="Why nothing was deleted (IN_USE names the segments that use it).")
