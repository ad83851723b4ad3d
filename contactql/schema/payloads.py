"""Payloads of the contact mutations: nullable results plus `userErrors`."""

from __future__ import annotations

import strawberry

from contactql.schema.contacts import Contact, planned_relations
from contactql.schema.enums import MatchRule, UpsertOutcome
from contactql.schema.errors import InvalidProperty, UserError
from contactql.store.errors import Problem
from contactql.store.model import ItemResult
from contactql.store.workspace.subscribe import Confirmed

# Problems about the request rather than its contact keep their own path (["listId"], ["match", …]).
REQUEST_ROOTS = frozenset({"listId", "match", "idempotencyKey", "webhookUrl", "events", "formType"})


def item_user_errors(problems: list[Problem], prefix: tuple[str, ...]) -> list[UserError]:
    return [UserError.from_problem(p) if p.path[:1] and p.path[0] in REQUEST_ROOTS else UserError.from_problem(p, *prefix) for p in problems]


@strawberry.type(description="What upsertContact, subscribeContact or confirmContact did.")
class UpsertContactPayload:
    outcome: UpsertOutcome | None = strawberry.field(default=None, description="What happened; null when a userError stopped the write.")
    matched_by: MatchRule | None = strawberry.field(default=None, description="The rule that found the contact; null when created or not matched.")
    changed_fields: list[str] = strawberry.field(default_factory=list, description='Fields written, e.g. ["firstName", "properties.city", "lists"]; empty when UNCHANGED.')
    contact: Contact | None = strawberry.field(default=None, description="The (first) contact written or matched; null when failed, skipped unmatched, or a dry-run CREATED.")
    contacts: list[Contact] = strawberry.field(default_factory=list, description="Every contact written (several with UPDATE_ALL).")
    invalid_properties: list[InvalidProperty] = strawberry.field(default_factory=list, description="Property values that were not written, and why; the rest of the contact was written.")
    invalid_contact_ids: list[strawberry.ID] = strawberry.field(default_factory=list, description="Ids that name no contact of the workspace.")
    user_errors: list[UserError] = strawberry.field(default_factory=list, description="Problems with the input.")
    confirmation_pending: bool = strawberry.field(
        default=False,
        description="True after an accepted subscribeContact: the visitor should now confirm by email (double opt-in). The same for a new address and a known one, so a form learns nothing about who is subscribed.",
    )

    @strawberry.field(description="Whether the request was taken: true when there are no userErrors. All a website form (a publishable key) is told, with confirmationPending.")
    def accepted(self) -> bool:
        return not self.user_errors

    @classmethod
    def confirmed(cls, confirmation: Confirmed) -> UpsertContactPayload:
        """confirmContact's answer: the contact, UPDATED, or UNCHANGED when it already was confirmed."""
        contact = Contact.from_row(confirmation.row)
        return cls(outcome=UpsertOutcome("UPDATED" if confirmation.changed else "UNCHANGED"), changed_fields=confirmation.changed, contact=contact, contacts=[contact])

    @classmethod
    def from_result(cls, result: ItemResult) -> UpsertContactPayload:
        contacts = [Contact.from_row(row) for row in result.contacts if row["id"] > 0]
        for contact in contacts:  # a dry run's relations as they would be
            contact.preloaded.update(planned_relations(result.planned.get(contact.key, {})))
        return cls(
            outcome=None if result.outcome is None else UpsertOutcome(result.outcome.value),
            matched_by=None if result.matched_by is None else MatchRule(result.matched_by.value),
            changed_fields=result.changed_fields,
            contact=contacts[0] if contacts else None,
            contacts=contacts,
            invalid_properties=[InvalidProperty.from_row(p) for p in result.invalid_properties],
            invalid_contact_ids=[strawberry.ID(i) for i in result.invalid_contact_ids],
            user_errors=item_user_errors(result.errors, ("contact",)),
        )


@strawberry.type(description="The result of deleteContact.")
class DeleteContactPayload:
    deleted_id: strawberry.ID | None = strawberry.field(default=None, description="The id of the deleted contact; null when it was refused.")
    user_errors: list[UserError] = strawberry.field(default_factory=list, description="Why it was refused.")

