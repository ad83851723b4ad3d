"""Subscribing from a form with double opt-in, and confirming it; a form's abuse limits (the
per-address confirmation limit, CAPTCHA) and its consent evidence."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from contactql import captcha
from contactql.context import Info, canonical_ip
from contactql.metrics import HONEYPOT
from contactql.resolvers.workspace import country_for
from contactql.store.errors import ErrorCode, Invalid, Problem
from contactql.store.model import ContactItem, Evidence, ItemResult, MatchRule, MatchStrategy, MultipleMatchAction, Outcome, Scope, Source, Subscription, UpsertOptions
from contactql.store.upsert.effects import SUBSCRIBED_AGAIN_EVENT
from contactql.store.upsert.entry import upsert_one
from contactql.store.upsert.validate import validate_contact
from contactql.store.values import EVENT_TYPE
from contactql.store.workspace import keys, subscribe
from contactql.store.workspace.keys import FormKey
from contactql.store.workspace.subscribe import Confirmed

# A subscription form cannot set consent: that is what the double opt-in is for.
FORM_CANNOT_SET = ("emailStatus", "emailOptIn")
# What a publishable key's form may send: anyone may send anything through it, so nothing that
# names another contact (mobile, externalId), grants consent (smsStatus, mobileOptIn, …) or
# changes the workspace (lists, properties, companies). Matched by email alone.
PUBLIC_FIELDS = frozenset({"email", "firstName", "lastName"})
# A publishable key's answer takes at least this long, new address or known: the work differs
# (an insert against an update), and a form must not tell a visitor which it was.
PUBLIC_ANSWER_SECONDS = 0.05
MAX_CONSENT_TEXT = 2000
MAX_PAGE_URL = 2048


def _page_url(value: Any, path: tuple[str, ...]) -> tuple[str | None, list[Problem]]:
    if value is None or value == "":
        return None, []
    parts = urlsplit(value) if isinstance(value, str) and len(value) <= MAX_PAGE_URL and value.isprintable() else None
    if parts is None or parts.scheme not in {"http", "https"} or not parts.netloc:
        return None, [Problem(path, ErrorCode.INVALID_INPUT, f"a page URL is an http(s) URL of at most {MAX_PAGE_URL} characters")]
    return value, []


def _evidence(info: Info, raw: Mapping[str, Any], form: str | None, *, public: bool) -> tuple[Evidence, list[Problem]]:
    """What a subscription records as consent evidence: the visitor's IP and user agent (the
    transport's; a secret key relaying a form from its server may name its visitor instead),
    the page (pageUrl, else the Referer), the form and the consent text the form showed."""
    visitor = info.context.visitor
    problems = []
    text = raw.get("consentText")
    if text is not None and (len(text) > MAX_CONSENT_TEXT or not all(c.isprintable() or c in "\n\t" for c in text)):
        problems.append(Problem(("consentText",), ErrorCode.INVALID_INPUT, f"the consent text is at most {MAX_CONSENT_TEXT} characters, without control characters"))
    page, bad_page = _page_url(raw.get("pageUrl"), ("pageUrl",))
    problems += bad_page
    relayed = raw.get("visitor") or {}
    if public and any(v is not None for v in relayed.values()):
        problems.append(Problem(("visitor",), ErrorCode.FORBIDDEN, "a form's publishable key cannot name its visitor: the request tells who it is"))
    ip, agent = relayed.get("ip"), relayed.get("userAgent")
    if ip is not None and canonical_ip(ip) is None:
        problems.append(Problem(("visitor", "ip"), ErrorCode.INVALID_INPUT, "an IPv4 or IPv6 address"))
    if agent is not None and (len(agent) > 500 or not agent.isprintable()):
        problems.append(Problem(("visitor", "userAgent"), ErrorCode.INVALID_INPUT, "a user agent is at most 500 printable characters"))
    evidence = Evidence(
        ip=canonical_ip(ip) or visitor.ip, user_agent=agent or visitor.user_agent, page_url=page or _page_url(visitor.referer, ())[0], form=form, consent_text=text or None
    )
    return evidence, problems


async def subscribe_contact(info: Info, raw: Mapping[str, Any]) -> ItemResult:
    """Seed 004's subscribe: match by email or phone (the oldest of two), new contacts pending
    confirmation and unconfirmed, an event per call for the workflow that sends the email.

    Through a publishable key (a website form's): email, firstName and lastName only, matched
    by email; the key's form names the events; whatever the stored data made of it (a deleted
    contact, a clash), the answer is accepted and takes PUBLIC_ANSWER_SECONDS at least."""
    if not info.context.principal.is_publishable:
        prepared = await _prepare(info, raw, public=False)
        return ItemResult(index=0, outcome=Outcome.SKIPPED) if prepared is None else await _write(info, *prepared)
    started = time.monotonic()
    try:
        prepared = await _prepare(info, raw, public=True)
        if prepared is None:
            return ItemResult(index=0, outcome=Outcome.SKIPPED)
        settings = info.context.services.settings
        # After the input's own checks: a widget's token is good for one check, so a typo in
        # the address must not use it up.
        if captcha.required(settings):
            if why := await captcha.refusal(settings, raw.get("captchaToken"), info.context.client_ip):
                raise Invalid(Problem(("captchaToken",), ErrorCode.CAPTCHA_FAILED, why))
            # The form's allowance for all its visitors, charged once a person is behind the
            # request (limits.FormLimits.refusal).
            limits = info.context.services.form_limits
            if limits is not None and (limited := limits.key_refusal(info.context.principal.key_id)):
                raise info.context.over_limit(limited)
        result = await _write(info, *prepared)
        if result.errors:  # from the stored data, not the input: the visitor learns nothing of it
            result = ItemResult(index=0, outcome=Outcome.SKIPPED)
        return result
    finally:
        await asyncio.sleep(max(0.0, PUBLIC_ANSWER_SECONDS - (time.monotonic() - started)))


async def _write(info: Info, item: ContactItem, options: UpsertOptions) -> ItemResult:
    return await upsert_one(info.context.services.writer, workspace_id=info.context.workspace_id, item=item, options=options)


async def _prepare(info: Info, raw: Mapping[str, Any], *, public: bool) -> tuple[ContactItem, UpsertOptions] | None:
    """The subscription's item and options, Invalid with the input's problems, or None when a
    bot filled the honeypot."""
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
    # A form key's events are its form's (a visitor must not pick which workflow runs).
    form = info.context.principal.form if public else raw.get("formType")
    if form is not None and not EVENT_TYPE.match(f"{SUBSCRIBED_AGAIN_EVENT}-{form}"):
        problems.append(Problem(("formType",), ErrorCode.INVALID_INPUT, "a form type is Latin letters, digits, '-' or '_' (the event name is at most 64)"))
    evidence, evidence_problems = _evidence(info, raw, form, public=public)
    problems += evidence_problems
    if problems:
        raise Invalid(*problems)
    honeypot = raw.get("honeypot")
    if isinstance(honeypot, str) and honeypot.strip():
        # A bot filled the field people cannot see: the usual answer, nothing written, no event.
        HONEYPOT.inc()
        return None
    principal = info.context.principal
    options = UpsertOptions(
        match=MatchStrategy(rules=(MatchRule.EMAIL if public else MatchRule.EMAIL_OR_MOBILE,), on_multiple=MultipleMatchAction.UPDATE_OLDEST),
        source=Source.SUBSCRIBE,
        actor=principal.key_name,
        subscription=Subscription(
            form_type=form,
            key_id=principal.key_id if principal.key_id > 0 else None,
            evidence=evidence,
            # No mail-bombing a victim through the form: past the limit nothing is written and no
            # email asked for. A form's visitor gets the usual answer (the refusal would tell that
            # someone subscribed the address today); a secret key is told (CONFIRMATION_LIMIT).
            limit=info.context.services.settings.confirmations_per_address,
            hold=public,
        ),
    )
    return item, options


async def confirm_contact(info: Info, token: str) -> Confirmed:
    """The confirmed contact and the fields confirming changed (none when it already was); the
    evidence is the confirming request's visitor."""
    visitor = info.context.visitor
    principal = info.context.principal
    evidence = Evidence(ip=visitor.ip, user_agent=visitor.user_agent, page_url=_page_url(visitor.referer, ())[0], form=principal.form)
    return await info.context.db.write(subscribe.confirm, workspace_id=info.context.workspace_id, token=token[:200], actor=principal.key_name, evidence=evidence)


async def create_publishable_key(info: Info, name: str | None, origins: Sequence[str], form: str | None, thank_you_url: str | None) -> tuple[str, str, FormKey]:
    """(secret, name, what it was made with, canonical) of a new publishable key of the caller's workspace."""
    made = FormKey(tuple(origins), form, thank_you_url).checked(Scope.PUBLISHABLE)
    secret, named = await info.context.db.write(keys.named_key, workspace_id=info.context.workspace_id, scope=Scope.PUBLISHABLE, name=name, form=made)
    return secret, named, made
