"""Merging duplicates (`mergeContacts`): a part of `Mutation` (schema/root.py)."""

from __future__ import annotations

import builtins
import functools
from typing import Annotated

import strawberry

from contactql.context import Info
from contactql.resolvers import merge
from contactql.schema.companies import Company
from contactql.schema.contacts import Contact, list_types, property_values, url_types
from contactql.schema.enums import publish
from contactql.schema.errors import UserError, answer
from contactql.schema.permissions import CanWrite
from contactql.store.workspace import merge as store
from contactql.store.workspace.merge import MAX_FROM

MergeRule = publish(
    store.MergeRule,
    "Which contact a merged field's value comes from.",
    {
        "NON_EMPTY": "The survivor's (into), or else the first of `from`, in the order given, that has one (the default).",
        "TARGET": "The survivor's, even when it has none.",
        "NEWEST": "The most recently updated contact's that has one.",
    },
)


@strawberry.input(description="The rule for one field of a merge.")
class MergeFieldRule:
    field: str = strawberry.field(
        description=(
            f"A field ({', '.join(store.FIELDS)}) or a property as properties.<name>. emailStatus goes with the email chosen, "
            "smsStatus with the mobile; an UNSUBSCRIBED status on any contact wins whatever the rule."
        )
    )
    rule: MergeRule = strawberry.field(description="Where its value comes from.")  # type: ignore[valid-type]


@strawberry.input(description="Contacts that are one person, merged into one of them.")
class MergeContactsInput:
    into: strawberry.ID = strawberry.field(description="The contact that stays (the survivor): its id, createdAt and source are kept.")
    from_: builtins.list[strawberry.ID] = strawberry.field(
        name="from", description=f"The contacts merged into it and then removed (1 to {MAX_FROM}); their identities keep finding the survivor."
    )
    dry_run: bool = strawberry.field(default=False, description="Only show the merged contact and what would change; nothing is written.")
    field_priority: builtins.list[MergeFieldRule] | None = strawberry.field(
        default=None, description="Rules for some fields; every other field is NON_EMPTY."
    )


@strawberry.type(description="The result of mergeContacts.")
class MergeContactsPayload:
    contact: Contact | None = strawberry.field(default=None, description="The survivor as merged (with dryRun: as it would be).")
    merged_ids: builtins.list[strawberry.ID] = strawberry.field(default_factory=builtins.list, description="The contacts merged into it (removed, unless dryRun).")
    changed_fields: builtins.list[str] = strawberry.field(default_factory=builtins.list, description="The survivor's fields the merge changes.")
    aliases: builtins.list[str] = strawberry.field(
        default_factory=builtins.list, description="The identities (email, mobile, externalId) of the merged contacts that now find the survivor."
    )
    dry_run: bool = strawberry.field(default=False, description="Whether nothing was written.")
    user_errors: builtins.list[UserError] = strawberry.field(default_factory=builtins.list, description="Why nothing was merged.")


@strawberry.type
class MergeMutation:
    @strawberry.mutation(
        description=(
            "Merge duplicates into one contact: fields and properties by rule, lists and companies together, external URLs, events, "
            "history and consent evidence moved to the survivor; the others are removed, and their email, mobile and externalId "
            "become aliases of the survivor, so a later upsert naming one updates it instead of recreating the duplicate."
        ),
        permission_classes=[CanWrite],
    )
    async def merge_contacts(self, info: Info, input: Annotated[MergeContactsInput, strawberry.argument(description="Who is merged into whom, and how.")]) -> MergeContactsPayload:
        async def merged() -> MergeContactsPayload:
            rules = [(r.field, str(r.rule.value)) for r in input.field_priority or ()]  # type: ignore[attr-defined]
            done = await merge.merge_contacts(info, into=input.into, from_=input.from_, rules=rules, dry_run=input.dry_run)
            cid = done.contact["id"]
            contact = Contact.from_row(done.contact)
            contact.preloaded = {
                "properties": property_values(done.relations["properties"][cid], done.fields),
                "lists": list_types(done.relations["lists"][cid]),
                "companies": [Company.from_row(row) for row in done.relations["companies"][cid]],
                "externalUrls": url_types(done.relations["urls"][cid]),
            }
            return MergeContactsPayload(
                contact=contact,
                merged_ids=[strawberry.ID(str(i)) for i in done.merged_ids],
                changed_fields=[name for name, _, _ in done.changes],
                aliases=[value for kind, value in done.aliases if kind != "PAIR"],
                dry_run=input.dry_run,
            )

        refused = functools.partial(MergeContactsPayload, dry_run=input.dry_run)  # a refused dry run is one still
        return await answer(merged(), lambda payload: payload, refused, "input")
