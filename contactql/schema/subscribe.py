"""The subscribe input: a contact from a website form (seed 004)."""

from __future__ import annotations

import strawberry
from strawberry import Maybe

from contactql.schema.errors import UserError
from contactql.schema.inputs import ContactInput, default_country, raw_input


@raw_input
@strawberry.input(description="The visitor a server relaying its website's form subscribes (secret keys only: a publishable key's request tells who its visitor is).")
class VisitorInput:
    ip: Maybe[str | None] = strawberry.field(description="The visitor's IPv4 or IPv6 address.")
    user_agent: Maybe[str | None] = strawberry.field(description="The visitor's browser, as its User-Agent header said (at most 500 characters).")


@raw_input
@strawberry.input(description="A contact from a subscription form: double opt-in, workflow events, consent evidence.")
class SubscribeContactInput:
    contact: ContactInput = strawberry.field(description="The contact; its email status is set by the double opt-in, not by the form.")
    form_type: Maybe[str | None] = strawberry.field(description="Appended to the event types: subscribeFromApi-<formType>.")
    default_country: Maybe[str | None] = default_country()
    honeypot: Maybe[str | None] = strawberry.field(
        description="A form's hidden field, which people leave empty and bots fill in: with text in it the answer is the usual one (accepted) and nothing is written (outcome SKIPPED).",
    )
    consent_text: Maybe[str | None] = strawberry.field(
        description="The consent text or legal basis the form showed (at most 2 000 characters): kept with the evidence, in Contact.consents.",
    )
    page_url: Maybe[str | None] = strawberry.field(description="The page the form is on (an http(s) URL); by default the request's Referer.")
    captcha_token: Maybe[str | None] = strawberry.field(
        description="The CAPTCHA widget's token (Turnstile, hCaptcha or reCAPTCHA): required from publishable keys when the server sets CONTACTQL_CAPTCHA_PROVIDER.",
    )
    visitor: Maybe[VisitorInput | None] = strawberry.field(description="Who subscribed, for a server relaying its form (secret keys only); by default the request's client.")


@strawberry.type(description="The result of createPublishableKey: the key, shown this once.")
class PublishableKeyPayload:
    key: str | None = strawberry.field(default=None, description="The publishable key (cql_pub_…), safe to put in the form's page; shown only now. Null when refused.")
    name: str | None = strawberry.field(default=None, description="The key's name (keys list, keys revoke).")
    origins: list[str] = strawberry.field(default_factory=list, description="The origins it works from, as browsers send them.")
    form: str | None = strawberry.field(default=None, description="The form it is for: it names the events and the consent records.")
    thank_you_url: str | None = strawberry.field(default=None, description="Where GET /confirm sends a visitor once confirmed.")
    user_errors: list[UserError] = strawberry.field(default_factory=list, description="Why it was refused (origins, form, thankYouUrl, name).")
