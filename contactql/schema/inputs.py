"""Input types of the upsert mutations.

These inputs arrive in resolvers as the mapping graphql-core coerced (GraphQL field names as
keys, an omitted field absent, an explicit null as None) — see `raw_input`. That mapping is
exactly what `store/upsert/validate.py: validate_contact` takes, and it skips Strawberry's generic per-field conversion,
which costs ~170 µs per contact (issue 4's measurement) and would be paid again for every
item of a batch. The schema keeps its typed, documented inputs; only the Python value differs.
Fields are `Maybe[...]`: omitted means "leave as it is", null means "clear".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import strawberry
from graphql import GraphQLInputObjectType, GraphQLInputType
from strawberry import Maybe

from contactql.schema.enums import ContactField, EmailStatus, MatchAction, MatchRule, MultipleMatchAction, NoMatchAction, SmsStatus
from contactql.store.model import DEFAULT_RULES

T = TypeVar("T")


def default_country() -> Any:
    """The `defaultCountry` field of every input that carries phone numbers."""
    return strawberry.field(
        description="The country (ISO 3166 alpha-2, e.g. NO) of phone numbers written without one, such as 953 45 259; default: the workspace's."
    )


def raw_input(cls: type[T]) -> type[T]:
    """Make Strawberry hand this input over as graphql-core's coerced mapping, unconverted."""

    def keep_mapping(_cls: type, value: Mapping[str, Any], _context: object) -> Mapping[str, Any]:
        return value

    cls.__strawberry_definition__.from_input = keep_mapping  # type: ignore[attr-defined]
    return cls


@raw_input
@strawberry.input(description="A custom property value, by the field's id or name.")
class PropertyValueInput:
    id: Maybe[strawberry.ID | None] = strawberry.field(description="The property field's id.")
    name: Maybe[str | None] = strawberry.field(description="The property name, case-insensitive; firstName/lastName/email/mobile/externalId write those fields.")
    value: Maybe[str | None] = strawberry.field(description="The value; null clears it.")


@raw_input
@strawberry.input(name="ListRef", one_of=True, description="A static list, by id (must exist) or by name (created on first use): exactly one of the two.")
class ListRefInput:
    id: Maybe[strawberry.ID | None] = strawberry.field(description="The list's id.")
    name: Maybe[str | None] = strawberry.field(description="The list's name, case-insensitive.")


@raw_input
@strawberry.input(description="Changes to a contact's list memberships: `set` replaces them all.")
class ListChangesInput:
    add: Maybe[list[ListRefInput] | None] = strawberry.field(description="Lists to add the contact to.")
    remove: Maybe[list[ListRefInput] | None] = strawberry.field(description="Lists to remove the contact from.")
    set: Maybe[list[ListRefInput] | None] = strawberry.field(description="The only lists the contact should be in.")


@raw_input
@strawberry.input(description="A link to the contact in another system.")
class ExternalUrlInput:
    ref: str = strawberry.field(description="The unique reference key of the URL.")
    url: Maybe[str | None] = strawberry.field(description="The https URL; null removes the URL with this ref.")
    label: Maybe[str | None] = strawberry.field(description="The label to display.")


@raw_input
@strawberry.input(description="A postal address; null on the whole address clears it.")
class AddressInput:
    town: Maybe[str | None] = strawberry.field(description="Town or city.")
    region: Maybe[str | None] = strawberry.field(description="Region, state or county.")
    address: Maybe[str | None] = strawberry.field(description="Street address.")
    postcode: Maybe[str | None] = strawberry.field(description="Postal code.")


@raw_input
@strawberry.input(description="A contact to create or update. Omitted fields stay as they are; null clears a field.")
class ContactInput:
    id: Maybe[strawberry.ID | None] = strawberry.field(description="The contact's id (rule ID).")
    external_id: Maybe[str | None] = strawberry.field(description="The id in another system (rule EXTERNAL_ID).")
    email: Maybe[str | None] = strawberry.field(description="Email address; validated and stored lower-case.")
    mobile: Maybe[str | None] = strawberry.field(description="Mobile number with its country code: +4790812501, 004790812501 or 4790812501.")
    mobile_country_code: Maybe[int | None] = strawberry.field(description="Country calling code, with mobileNumber.")
    mobile_number: Maybe[str | None] = strawberry.field(description="National number, with mobileCountryCode.")
    first_name: Maybe[str | None] = strawberry.field(description="First name.")
    last_name: Maybe[str | None] = strawberry.field(description="Last name.")
    email_opt_in: Maybe[bool | None] = strawberry.field(description="true → emailStatus SUBSCRIBED, false → UNSUBSCRIBED.")
    mobile_opt_in: Maybe[bool | None] = strawberry.field(description="true → smsStatus SUBSCRIBED, false → UNSUBSCRIBED.")
    email_status: Maybe[EmailStatus | None] = strawberry.field(description="Email consent; must agree with emailOptIn.")
    sms_status: Maybe[SmsStatus | None] = strawberry.field(description="SMS consent; must agree with mobileOptIn.")
    privacy_consent: Maybe[bool | None] = strawberry.field(description="Whether privacy consent was given.")
    properties: Maybe[list[PropertyValueInput] | None] = strawberry.field(description="Custom property values (at most 200).")
    lists: Maybe[ListChangesInput | None] = strawberry.field(description="Changes to list memberships.")
    companies: Maybe[list[strawberry.ID] | None] = strawberry.field(description="Replaces the linked companies; every id must exist (COMPANY_NOT_FOUND).")
    external_urls: Maybe[list[ExternalUrlInput] | None] = strawberry.field(description="Sets URLs by ref (at most 3 in all); null removes every URL.")
    address: Maybe[AddressInput | None] = strawberry.field(description="Postal address fields to set.")
    client_ref: Maybe[str | None] = strawberry.field(description="Your own reference, echoed in results; never stored on the contact.")


@raw_input
@strawberry.input(name="MatchStrategy", description="How to find the existing contact an input means.")
class MatchStrategyInput:
    rules: list[MatchRule] = strawberry.field(
        default_factory=lambda: [MatchRule(r.value) for r in DEFAULT_RULES],
        description="Rules tried in order; the first that finds a contact decides.",
    )
    properties: Maybe[list[str] | None] = strawberry.field(description="For rule PROPERTIES: property or field names (case-insensitive) that must all be equal.")
    values: Maybe[list[PropertyValueInput] | None] = strawberry.field(description="For rule PROPERTIES: match on these values instead of the input's own.")
    on_match: MatchAction = strawberry.field(default=MatchAction.UPDATE, description="What to do with a contact found.")
    on_no_match: NoMatchAction = strawberry.field(default=NoMatchAction.CREATE, description="What to do when nothing is found.")
    on_multiple_matches: MultipleMatchAction = strawberry.field(default=MultipleMatchAction.FAIL, description="What to do when the deciding rule finds several contacts.")
    require_on_create: Maybe[list[ContactField] | None] = strawberry.field(description="Fields a new contact must have (e.g. [FIRST_NAME, LAST_NAME, EMAIL]).")


@raw_input
@strawberry.input(name="EventOptions", description="Events to write for the contacts an upsert creates or updates.")
class EventOptionsInput:
    on_create: Maybe[list[str] | None] = strawberry.field(description="Event types per created contact: letters, digits, - and _.")
    on_update: Maybe[list[str] | None] = strawberry.field(description="Event types per updated contact.")


@raw_input
@strawberry.input(description="One contact to create or update.")
class UpsertContactInput:
    contact: ContactInput = strawberry.field(description="The contact's values.")
    list_id: Maybe[strawberry.ID | None] = strawberry.field(description="Also add the contact to this list, which must exist (else LIST_NOT_FOUND).")
    match: Maybe[MatchStrategyInput | None] = strawberry.field(description="How to find an existing contact; default [ID, EXTERNAL_ID, EMAIL_AND_MOBILE].")
    restore_deleted: bool | None = strawberry.field(default=False, description="Restore a deleted contact that matches instead of skipping it.")
    override_suppression: bool | None = strawberry.field(default=False, description="Admin keys: write identities an erasure suppressed (eraseContact) and lift their suppression; else they are SKIPPED, SUPPRESSED.")
    dry_run: bool | None = strawberry.field(default=False, description="Match and validate, return what would happen, and write nothing.")
    idempotency_key: Maybe[str | None] = strawberry.field(description="The same key with the same input within 24 h returns the first call's result without applying it again.")
    default_country: Maybe[str | None] = default_country()
    events: Maybe[EventOptionsInput | None] = strawberry.field(description="Events to write when the contact is created or updated.")


def contact_input_type() -> GraphQLInputType:
    """ContactInput as the served schema converts it, from a schema whose one field takes it:
    `contactql import` checks NDJSON lines against it without importing the served schema's
    resolvers and store (~0.9 s of the command's start). tests/test_ndjson.py compares it with
    the served schema's, type by type."""

    @strawberry.type
    class Query:
        @strawberry.field
        def contact(self, contact: ContactInput) -> bool:  # never run: the schema is only for its types
            return True

    found = strawberry.Schema(query=Query)._schema.get_type("ContactInput")
    assert isinstance(found, GraphQLInputObjectType)
    return found
