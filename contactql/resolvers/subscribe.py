"""Subscribing from a form with double opt-in, and confirming it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from contactql.context import Info
from contactql.metrics import HONEYPOT
from contactql.resolvers.workspace import country_for
from contactql.store.errors import ErrorCode, Invalid, Problem
from contactql.store.model import ItemResult, MatchRule, MatchStrategy, MultipleMatchAction, Outcome, Source, Subscription, UpsertOptions
from contactql.store.upsert.effects import SUBSCRIBED_AGAIN_EVENT
from contactql.store.upsert.entry import upsert_one
from contactql.store.upsert.validate import validate_contact
from contactql.store.values import EVENT_TYPE
from contactql.store.workspace import subscribe

# A subscription form cannot set consent: that is what the double opt-in is for.
FORM_CANNOT_SET = ("emailStatus", "emailOptIn")


async def subscribe_contact(info: Info, raw: Mapping[str, Any]) -> ItemResult:
    """Seed 004's subscribe: match by email or phone (the oldest of two), new contacts pending
    confirmation and unconfirmed, an event per call for the workflow that sends the email."""
    contact = raw["contact"]
    country, problems = await country_for(info, raw, [contact])
    if problems:  # the contact's numbers cannot be read without it
        raise Invalid(*problems)
    item, item_problems = validate_contact(contact, default_country=country)
    problems += [p.under("contact") for p in item_problems]
    problems += [Problem(("contact", name), ErrorCode.INVALID_INPUT, "a subscription sets the email status through double opt-in") for name in FORM_CANNOT_SET if contact.get(name) is not None]
    form = raw.get("formType")
    if form is not None and not EVENT_TYPE.match(f"{SUBSCRIBED_AGAIN_EVENT}-{form}"):
        problems.append(Problem(("formType",), ErrorCode.INVALID_INPUT, "a form type is Latin letters, digits, '-' or '_' (the event name is at most 64)"))
    if problems:
        raise Invalid(*problems)
    honeypot = raw.get("honeypot")
    if isinstance(honeypot, str) and honeypot.strip():
        # A bot filled the field people cannot see: the usual answer, nothing written, no event.
        HONEYPOT.inc()
        return ItemResult(index=0, outcome=Outcome.SKIPPED)
    options = UpsertOptions(
        match=MatchStrategy(rules=(MatchRule.EMAIL_OR_MOBILE,), on_multiple=MultipleMatchAction.UPDATE_OLDEST),
        source=Source.SUBSCRIBE,
        actor=info.context.principal.key_name,
        subscription=Subscription(form_type=form),
    )
    return await upsert_one(info.context.services.writer, workspace_id=info.context.workspace_id, item=item, options=options)


async def confirm_contact(info: Info, token: str) -> tuple[dict[str, Any], list[str]]:
    """The confirmed contact and the fields confirming changed (none when it already was)."""
    return await info.context.db.write(subscribe.confirm, workspace_id=info.context.workspace_id, token=token[:200], actor=info.context.principal.key_name)
