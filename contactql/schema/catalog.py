"""Renaming and deleting lists and property fields (issue 22), for admin keys: part of the
`Mutation` type (schema/root.py), kept here as the lifecycle of the workspace's catalog."""

from __future__ import annotations

from typing import Annotated

import strawberry

from contactql.context import Info
from contactql.resolvers import lists, properties
from contactql.schema.errors import answer
from contactql.schema.lists import ContactList, ContactListPayload, DeleteListPayload
from contactql.schema.permissions import IsAdmin
from contactql.schema.properties import DeletePropertyFieldPayload, PropertyField, PropertyFieldPayload, UpdatePropertyFieldInput


@strawberry.type
class CatalogMutation:
    @strawberry.mutation(description="Rename a static list (admin keys): its id, members and history stay.", permission_classes=[IsAdmin])
    async def rename_list(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The list's id.")],
        name: Annotated[str, strawberry.argument(description="The new name, unique in the workspace.")],
    ) -> ContactListPayload:
        return await answer(lists.rename_list(info, id, name), lambda row: ContactListPayload(list=ContactList.from_row(row)), ContactListPayload)

    @strawberry.mutation(
        description="Delete a static list (admin keys): its members leave it, each with a history entry. Refused (IN_USE) while segments or unfinished batches use it.",
        permission_classes=[IsAdmin],
    )
    async def delete_list(self, info: Info, id: Annotated[strawberry.ID, strawberry.argument(description="The list's id.")]) -> DeleteListPayload:
        def deleted(done: tuple[str, int]) -> DeleteListPayload:
            return DeleteListPayload(deleted_id=strawberry.ID(done[0]), removed_members=done[1])

        return await answer(lists.delete_list(info, id), deleted, DeleteListPayload)

    @strawberry.mutation(description="Rename a property field or change a SELECT field's options (admin keys).", permission_classes=[IsAdmin])
    async def update_property_field(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="The field's id.")],
        input: Annotated[UpdatePropertyFieldInput, strawberry.argument(description="What to change.")],
    ) -> PropertyFieldPayload:
        field = properties.update_property_field(info, id, input.name, input.options)
        return await answer(field, lambda row: PropertyFieldPayload(field=PropertyField.from_def(row)), PropertyFieldPayload)

    @strawberry.mutation(
        description="Delete a property field and every contact's value of it (admin keys), each with a history entry. Refused (IN_USE) while segments use it.",
        permission_classes=[IsAdmin],
    )
    async def delete_property_field(self, info: Info, id: Annotated[strawberry.ID, strawberry.argument(description="The field's id.")]) -> DeletePropertyFieldPayload:
        def deleted(done: tuple[str, int]) -> DeletePropertyFieldPayload:
            return DeletePropertyFieldPayload(deleted_id=strawberry.ID(done[0]), removed_values=done[1])

        return await answer(properties.delete_property_field(info, id), deleted, DeletePropertyFieldPayload)
