"""The subscribe input: a contact from a website form (seed 004)."""

from __future__ import annotations

import strawberry
from strawberry import Maybe

from contactql.schema.inputs import ContactInput, default_country, raw_input


@raw_input
@strawberry.input(description="A contact from a subscription form: double opt-in, workflow events.")
class SubscribeContactInput:
    contact: ContactInput = strawberry.field(description="The contact; its email status is set by the double opt-in, not by the form.")
    form_type: Maybe[str | None] = strawberry.field(description="Appended to the event types: subscribeFromApi-<formType>.")
    default_country: Maybe[str | None] = default_country()
    honeypot: Maybe[str | None] = strawberry.field(
        description="A form's hidden field, which people leave empty and bots fill in: with text in it the answer is the usual one (accepted) and nothing is written (outcome SKIPPED).",
    )
