"""CAPTCHA verification for website forms (issue 21): Cloudflare Turnstile, hCaptcha and Google
reCAPTCHA share one siteverify protocol — a form POST of `secret`, `response` (the widget's
token) and `remoteip`, answered with JSON whose `success` says whether a person solved it.

Asked for the subscriptions of publishable keys when CONTACTQL_CAPTCHA_PROVIDER is set. The
verifier is called like every outbound URL (outbound.py: https and public addresses unless
CONTACTQL_ALLOW_PRIVATE_WEBHOOKS, no redirects); a verifier that cannot be reached refuses the
subscription (a form must not become open because a provider is down)."""

from __future__ import annotations

import asyncio
import logging

import httpx

from contactql import outbound
from contactql.config import Settings

log = logging.getLogger(__name__)

SITEVERIFY = {
    "turnstile": "https://challenges.cloudflare.com/turnstile/v0/siteverify",
    "hcaptcha": "https://api.hcaptcha.com/siteverify",
    "recaptcha": "https://www.google.com/recaptcha/api/siteverify",
}
MAX_TOKEN = 4096  # Turnstile's tokens are at most 2048 characters; the others' shorter
SECONDS = 5.0
SOLVE_IT = "solve the CAPTCHA (captchaToken) and send the form again"


def required(settings: Settings) -> bool:
    return settings.captcha_provider != "off"


async def refusal(settings: Settings, token: str | None, ip: str | None) -> str | None:
    """None when the provider says a person solved the CAPTCHA whose token this is; else why not,
    in words a form can show."""
    if not token or not token.strip():
        return f"this form needs a CAPTCHA: {SOLVE_IT}"
    if len(token) > MAX_TOKEN:
        return f"the CAPTCHA token is longer than {MAX_TOKEN} characters: {SOLVE_IT}"
    url = settings.captcha_verify_url or SITEVERIFY[settings.captcha_provider]
    form = {"secret": settings.captcha_secret or "", "response": token} | ({"remoteip": ip} if ip else {})
    try:
        # One deadline for all of it (httpx's timeout is per step: a verifier sending a byte a
        # second would hold the form's request for ever).
        async with asyncio.timeout(SECONDS):
            if (problem := await outbound.problem_with(url, allow_private=settings.allow_private_webhooks)) is not None:
                log.error("the CAPTCHA verifier URL %s", problem)  # an operator's mistake: the log says it, the form is refused
                return "the CAPTCHA could not be checked; try again later"
            async with outbound.client(SECONDS) as http:
                answer = await http.post(url, data=form)
        if answer.status_code != 200:
            raise ValueError(f"HTTP {answer.status_code}")
        success = answer.json().get("success") is True
    except (httpx.HTTPError, ValueError, AttributeError, TimeoutError) as error:
        log.warning("the CAPTCHA verifier did not answer: %s", error if isinstance(error, ValueError) else type(error).__name__)
        return "the CAPTCHA could not be checked; try again later"
    return None if success else f"the CAPTCHA was not solved or has expired: {SOLVE_IT}"
