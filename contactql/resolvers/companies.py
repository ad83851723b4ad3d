"""Companies contacts can be linked to."""

from __future__ import annotations

import strawberry

from contactql.context import Info
from contactql.schema.contact import Company
from contactql.schema.errors import user_errors
from contactql.schema.payloads import CompanyPayload
from contactql.store.errors import StoreError
from contactql.store.workspace import companies


async def create_company(info: Info, name: str) -> CompanyPayload:
    try:
        row = await info.context.db.write(companies.create_company, workspace_id=info.context.workspace_id, name=name)
    except StoreError as error:
        return CompanyPayload(company=None, user_errors=user_errors(error.problems))
    return CompanyPayload(company=Company(id=strawberry.ID(row.id), name=row.name), user_errors=[])
