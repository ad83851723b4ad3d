"""Subscribing from a form with double opt-in, and confirming it."""

from __future__ import annotations

import asyncio
import time
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
# What a publishable key's form may send: anyone may send anything through it, so nothing that
# names another contact (mobile, externalId), grants consent (smsStatus, mobileOptIn, …) or
# changes the workspace (lists, properties, companies). Matched by email alone.
PUBLIC_FIELDS = frozenset({"email", "firstName", "lastName"})
# A publishable key's answer takes at least this long, new address or known: the work differs
# (an insert against an update), and a form must not tell a visitor which it was.
PUBLIC_ANSWER_SECONDS = 0.05


async def subscribe_contact(info: Info, raw: Mapping[str, Any]) -> ItemResult:
    """Seed 004's subscribe: match by email or phone (the oldest of two), new contacts pending
    confirmation and unconfirmed, an event per call for the workflow that sends the email.

    Through a publishable key (a website form's): email, firstName and lastName only, matched
    by email; the key's form names the events; whatever the stored data made of it (a deleted
    contact, a clash), the answer is accepted and takes PUBLIC_ANSWER_SECONDS at least."""
    principal = info.context.principal
    if not principal.is_publishable:
        return await _subscribe(info, raw, public=False)
    started = time.monotonic()
    try:
        result = await _subscribe(info, raw, public=True)
        if result.errors:  # from the stored data, not the input: the visitor learns nothing of it
            result = ItemResult(index=0, outcome=Outcome.SKIPPED)
        return result
    finally:
        await asyncio.sleep(max(0.0, PUBLIC_ANSWER_SECONDS - (time.monotonic() - started)))


async def _subscribe(info: Info, raw: Mapping[str, Any], *, public: bool) -> ItemResult:
    contact = raw["contact"]
    if public:
        refused = [Problem(("contact", name), ErrorCode.FORBIDDEN, "a form's publishable key may send only email, firstName and lastName") for name, value in contact.items() if name not in PUBLIC_FIELDS and value is not None]
        if not contact.get("email"):
            refused.append(Problem(("contact", "email"), ErrorCode.IDENTITY_REQUIRED, "a form's subscription needs an email address"))
        if refused:
            raise Invalid(*refused)
    country, problems = await country_for(info, raw, [contact])
    if problems:  # the contact's numbers cannot be read without it
        raise Invalid(*problems)
    item, item_problems = validate_contact(contact, default_country=country)
    problems += [p.under("contact") for p in item_problems]
    problems += [Problem(("contact", name), ErrorCode.INVALID_INPUT, "a subscription sets the email status through double opt-in") for name in FORM_CANNOT_SET if contact.get(name) is not None]
    form = info.context.principal.form if public and info.context.principal.form else raw.get("formType")  # a form key's events are its form's
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
        match=MatchStrategy(rules=(MatchRule.EMAIL if public else MatchRule.EMAIL_OR_MOBILE,), on_multiple=MultipleMatchAction.UPDATE_OLDEST),
        source=Source.SUBSCRIBE,
        actor=info.context.principal.key_name,
        subscription=Subscription(form_type=form),
    )
    return await upsert_one(info.context.services.writer, workspace_id=info.context.workspace_id, item=item, options=options)


async def confirm_contact(info: Info, token: str) -> tuple[dict[str, Any], list[str]]:
    """The confirmed contact and the fields confirming changed (none when it already was)."""
    return await info.context.db.write(subscribe.confirm, workspace_id=info.context.workspace_id, token=token[:200], actor=info.context.principal.key_name)
