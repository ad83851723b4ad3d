"""Companies contacts can be linked to."""

from __future__ import annotations

from contactql.context import Info
from contactql.store.workspace import companies
from contactql.store.workspace.companies import CompanyRow


async def create_company(info: Info, name: str) -> CompanyRow:
    return await info.context.db.write(companies.create_company, workspace_id=info.context.workspace_id, name=name)
