"""Lists, property fields, companies and the workspace: small reads and creates."""

from __future__ import annotations

import strawberry

from contactql.context import Info
from contactql.schema.contact import Company
from contactql.schema.errors import user_errors
from contactql.schema.lists import ContactList, ContactListConnection, ContactListEdge, ContactListPayload
from contactql.schema.pagination import check_first, decode_time_cursor, encode_cursor, page_info
from contactql.schema.payloads import CompanyPayload
from contactql.schema.properties import PropertyField, PropertyFieldPayload
from contactql.store.errors import StoreError
from contactql.store.model import PropertyType
from contactql.store.workspace import companies, lists, properties


async def get_list(info: Info, id: strawberry.ID) -> ContactList | None:
    row = await info.context.db.read(lists.get_list, workspace_id=info.context.workspace_id, list_id=str(id))
    return None if row is None else ContactList.from_row(row)


async def page_lists(info: Info, first: int, after: str | None) -> ContactListConnection:
    limit = check_first(first)
    workspace_id = info.context.workspace_id
    rows = await info.context.db.read(lists.page_lists, workspace_id=workspace_id, limit=limit + 1, after=decode_time_cursor(after))

    async def count() -> int:
        return await info.context.db.read(lists.count_lists, workspace_id=workspace_id)

    edges = [
        ContactListEdge(cursor=encode_cursor(row.created_at.isoformat(), row.id), node=ContactList.from_row(row))
        for row in rows[:limit]
    ]
    return ContactListConnection(
        edges=edges,
        page_info=page_info([e.cursor for e in edges], has_next=len(rows) > limit, after=after),
        count=count,
    )


async def create_list(info: Info, name: str) -> ContactListPayload:
    try:
        row = await info.context.db.write(lists.create_list, workspace_id=info.context.workspace_id, name=name)
    except StoreError as error:
        return ContactListPayload(list=None, user_errors=user_errors(error.problems))
    return ContactListPayload(list=ContactList.from_row(row), user_errors=[])


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


async def create_company(info: Info, name: str) -> CompanyPayload:
    try:
        row = await info.context.db.write(companies.create_company, workspace_id=info.context.workspace_id, name=name)
    except StoreError as error:
        return CompanyPayload(company=None, user_errors=user_errors(error.problems))
    return CompanyPayload(company=Company(id=strawberry.ID(row.id), name=row.name), user_errors=[])
