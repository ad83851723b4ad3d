"""The workspace of the calling key, and its settings."""

from __future__ import annotations

import strawberry
from strawberry import Maybe

from contactql.schema.errors import UserError
from contactql.schema.inputs import raw_input
from contactql.schema.permissions import IsAdmin
from contactql.store.workspace.keys import WorkspaceRow


@strawberry.type(description="The workspace of the calling API key: every contact it sees lives here.")
class Workspace:
    name: str = strawberry.field(description="The workspace's name.")
    default_country: str | None = strawberry.field(description="The country (ISO 3166 alpha-2, e.g. NO) national phone numbers are read in when a request gives none.")
    secret: strawberry.Private[str]

    @classmethod
    def from_row(cls, row: WorkspaceRow) -> Workspace:
        return cls(name=row.name, default_country=row.default_country, secret=row.webhook_secret)

    @strawberry.field(
        description="The secret (whsec_…) that signs this workspace's webhooks (Standard Webhooks); admin keys only.",
        permission_classes=[IsAdmin],
    )
    def webhook_secret(self) -> str | None:
        return self.secret


@raw_input
@strawberry.input(description="Workspace settings to change; omitted ones stay as they are.")
class UpdateWorkspaceInput:
    default_country: Maybe[str | None] = strawberry.field(description="ISO 3166 alpha-2 country (e.g. NO, GB, US) for national phone numbers such as 953 45 259 or (646) 755-1998; null: none.")


@strawberry.type(description="The result of updateWorkspace.")
class WorkspacePayload:
    workspace: Workspace | None = strawberry.field(default=None, description="The workspace after the change; null when it was refused.")
    user_errors: list[UserError] = strawberry.field(default_factory=list, description="Why it was refused.")

