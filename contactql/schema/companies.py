"""Companies contacts can be linked to (seed 002)."""

from __future__ import annotations

import strawberry

from contactql.schema.errors import UserError
from contactql.store.workspace.companies import CompanyRow


@strawberry.type(description="A company contacts can be linked to.")
class Company:
    id: strawberry.ID = strawberry.field(description="The company's id (a UUID).")
    name: str = strawberry.field(description="The company's name.")

    @classmethod
    def from_row(cls, row: CompanyRow) -> Company:
        return cls(id=strawberry.ID(row.id), name=row.name)


@strawberry.type(description="The result of createCompany.")
class CompanyPayload:
    company: Company | None = strawberry.field(default=None, description="The new company; null when it was refused.")
    user_errors: list[UserError] = strawberry.field(default_factory=list, description="Why it was refused.")

