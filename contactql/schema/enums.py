"""GraphQL enums: the store's enums, published with a description for every value."""

from __future__ import annotations

import enum
from typing import Any

import strawberry

from contactql.store import model, sorting
from contactql.store.errors import ErrorCode as StoreErrorCode


def publish(cls: type[enum.Enum], description: str, values: dict[str, str], name: str | None = None) -> Any:
    missing = {m.name for m in cls} ^ values.keys()
    assert not missing, f"describe every value of {cls.__name__}: {missing}"
    members = {m.name: strawberry.enum_value(m.value, description=values[m.name]) for m in cls}
    name = name or cls.__name__
    published = enum.Enum(name, members)  # type: ignore[misc]
    published.__doc__ = description
    return strawberry.enum(published, name=name, description=description)


EmailStatus = publish(
    model.EmailStatus,
    "Consent to marketing email (plus double opt-in).",
    {
        "SUBSCRIBED": "Opted in: emails may be sent (code 1 in CSV files).",
        "UNSUBSCRIBED": "Opted out (code 2 in CSV files).",
        "BOUNCED": "The address bounced (code 3 in CSV files).",
        "NO_MARKETING": "No consent given: nothing is sent (code 5 in CSV files; the default).",
        "PENDING_CONFIRMATION": "Subscribed through a form, waiting for double opt-in confirmation.",
    },
)
SmsStatus = publish(
    model.SmsStatus,
    "Consent to marketing SMS.",
    {
        "SUBSCRIBED": "Opted in: SMS may be sent (code 1).",
        "UNSUBSCRIBED": "Opted out (code 2).",
        "FAILED": "Delivery to the number failed (code 3).",
        "NO_MARKETING": "No consent given: nothing is sent (code 4; the default).",
    },
)
UpsertOutcome = publish(
    model.Outcome,
    "What an upsert did to its contact.",
    {
        "CREATED": "A new contact was created.",
        "UPDATED": "An existing contact was changed.",
        "UNCHANGED": "A contact matched and already had every value sent.",
        "SKIPPED": "Nothing was written, on purpose (onMatch/onNoMatch SKIP, or a deleted contact).",
    },
    name="UpsertOutcome",
)
MatchRule = publish(
    model.MatchRule,
    "A way to find the existing contact an input means.",
    {
        "ID": "The contact with that id.",
        "EXTERNAL_ID": "The contact with that externalId.",
        "EMAIL_AND_MOBILE": "Seed 000: both given → that pair; only a mobile → that mobile with no email; only an email → that email with no mobile.",
        "EMAIL": "Same email, any mobile.",
        "MOBILE": "Same mobile, any email.",
        "EMAIL_OR_MOBILE": "Same email or same mobile; may find two contacts.",
        "NAME_AND_EMAIL": "Same firstName, lastName (case-insensitive) and email.",
        "PROPERTIES": "Every property or field named in `properties` is equal.",
    },
)
MatchAction = publish(
    model.MatchAction,
    "What to do when a rule finds a contact.",
    {"UPDATE": "Update the contact found.", "SKIP": "Write nothing (an insert-only call)."},
)
NoMatchAction = publish(
    model.NoMatchAction,
    "What to do when no rule finds a contact.",
    {
        "CREATE": "Create a new contact.",
        "SKIP": "Write nothing; the outcome is SKIPPED.",
        "FAIL": "Fail with NOT_FOUND: an update-only call.",
    },
)
MultipleMatchAction = publish(
    model.MultipleMatchAction,
    "What to do when the deciding rule finds more than one contact.",
    {
        "FAIL": "Fail with AMBIGUOUS_MATCH naming the candidates.",
        "UPDATE_ALL": "Update every contact found.",
        "UPDATE_OLDEST": "Update the earliest created contact found.",
    },
)
ContactField = publish(
    model.ContactField,
    "A built-in contact field, as named by `requireOnCreate`.",
    {
        "EXTERNAL_ID": "The externalId.",
        "EMAIL": "The email address.",
        "MOBILE": "The mobile number.",
        "FIRST_NAME": "The first name.",
        "LAST_NAME": "The last name.",
    },
)
ContactSource = publish(
    model.Source,
    "How a contact was created, or what wrote a history entry.",
    {
        "API": "By upsertContact.",
        "BATCH": "By upsertContacts.",
        "SUBSCRIBE": "By subscribeContact (a subscription form).",
        "CSV_IMPORT": "By a CSV import.",
        "MERGE": "By mergeContacts (history entries only).",
        "BULK": "By a bulk job — deleteContacts, restoreContacts, or a list change by filter (history entries only).",
    },
    name="ContactSource",
)
ConsentAction = publish(
    model.ConsentAction,
    "What a consent record evidences.",
    {
        "SUBSCRIBE": "A subscription (subscribeContact): the email waits for its double opt-in confirmation.",
        "CONFIRM": "The double opt-in confirmation (confirmContact or GET /confirm): the email became SUBSCRIBED.",
        "UNSUBSCRIBE": "An unsubscribe link (GET or POST /unsubscribe): the email became UNSUBSCRIBED.",
    },
)
PropertyType = publish(
    model.PropertyType,
    "The type of a custom property; values are checked against it.",
    {
        "TEXT": "Any text.",
        "NUMBER": "A decimal number, stored in canonical form (1.50 → 1.5).",
        "BOOLEAN": "true or false (also yes/no, 1/0).",
        "DATE": "A calendar date, YYYY-MM-DD.",
        "SELECT": "One of the field's options.",
    },
)
ErrorCode = publish(
    StoreErrorCode,
    "Why a userError happened.",
    {
        "INVALID_INPUT": "A value is malformed, out of range or contradicts another.",
        "INVALID_EMAIL": "The email address is not valid.",
        "INVALID_PHONE": "The phone number is not a valid number of its country, or its country is unknown (give defaultCountry).",
        "IDENTITY_REQUIRED": "A contact needs at least one of email, mobile or externalId.",
        "NOT_FOUND": "No contact matches (onNoMatch FAIL), or the id names nothing.",
        "LIST_NOT_FOUND": "A list given by id does not exist.",
        "COMPANY_NOT_FOUND": "A company given by id does not exist.",
        "AMBIGUOUS_MATCH": "Several contacts match and onMultipleMatches is FAIL.",
        "DUPLICATE_IDENTITY": "The write would give a contact an identity another contact has.",
        "CONTACT_DELETED": "The matching contact is deleted; send restoreDeleted: true to restore it.",
        "BATCH_TOO_LARGE": "The batch has more contacts than CONTACTQL_MAX_BATCH_SIZE.",
        "TOO_MANY_EXTERNAL_URLS": "A contact can have at most 3 external URLs.",
        "IDEMPOTENCY_KEY_REUSED": "The idempotency key was used with a different input.",
        "FORBIDDEN": "The API key's scope does not allow this.",
        "CONFIRMATION_LIMIT": "The address took CONTACTQL_CONFIRMATIONS_PER_ADDRESS subscribe requests in 24 hours (a confirmation email or a workflow event each): no more today.",
        "IN_USE": "The list or property is used by segments, unfinished batches or unfinished bulk jobs, which the message names: change or delete the segments, and wait for (or cancelBulkJob) the jobs.",
        "SUPPRESSED": "The email, mobile or externalId belonged to a contact erased on request (eraseContact): skipped until the person confirms a subscription, or an admin key sends overrideSuppression.",
        "CAPTCHA_FAILED": "The form's CAPTCHA was missing, not solved, expired, or could not be checked: solve it and send again.",
        "INTERNAL": "An unexpected error stopped this item alone; nothing of it was written and the message names the incident in the server log.",
    },
)
ContactOrderField = publish(
    sorting.OrderField,
    "What contacts can be ordered by.",
    {
        "ID": "The contact's id (the order of creation).",
        "CREATED_AT": "When the contact was created.",
        "UPDATED_AT": "When the contact last changed.",
        "EMAIL": "The email address.",
        "FIRST_NAME": "The first name.",
        "LAST_NAME": "The last name.",
        "PROPERTY": "A custom property's value, by its type (give its name as property).",
        "RELEVANCE": "How well the contact matches search (with search only): a field equal to it, then a field starting with it, then the rest. The default order of a search.",
    },
    name="ContactOrderField",
)
SortDirection = publish(
    sorting.SortDirection,
    "A sort direction; nulls come last either way.",
    {"ASC": "Smallest first.", "DESC": "Largest first."},
)
