"""The links of a subscription's emails, as pages (issue 21): `GET /confirm?token=…` confirms a
double opt-in and sends the visitor to the form's thank-you page (the key's `--thank-you`) or
shows a short page; `GET /unsubscribe?token=…` (and `POST`, RFC 8058's one-click unsubscribe
that mail clients send for `List-Unsubscribe-Post`) sets the email UNSUBSCRIBED. Both record the
visitor's consent evidence. A used, expired or forged token gets a page saying so, never an
error dump.

The pages carry no script and load nothing (their Content-Security-Policy), are not cached, and
send no Referer onwards: the token is in their URL."""

from __future__ import annotations

import html
import math

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from contactql.context import Visitor
from contactql.limits import TokenBuckets, client_network
from contactql.store.db.database import Database
from contactql.store.errors import NotFound
from contactql.store.model import Evidence
from contactql.store.workspace import subscribe
from contactql.supervise import Clock, utc_now

MAX_TOKEN = 200
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
}
CONFIRMATION_LINK, UNSUBSCRIBE_LINK = "confirmation link", "unsubscribe link"  # the history's key name


def page(title: str, text: str, status: int = 200) -> HTMLResponse:
    body = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>{html.escape(title)}</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222}}</style></head>
<body><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p></body></html>
"""
    return HTMLResponse(body, status_code=status, headers=HEADERS)


def _evidence(request: Request) -> Evidence:
    visitor = Visitor.of(request)
    return Evidence(ip=visitor.ip, user_agent=visitor.user_agent)


def _token(request: Request) -> str | None:
    """None when the link has no token; one too long for any of ours is kept long enough to
    match nothing (the "not valid" page, not "incomplete")."""
    token = request.query_params.get("token", "").strip()
    return token[: MAX_TOKEN + 1] or None


class Links:
    """`clock`: the time a confirmation happens at, which decides whether its token expired
    (tests move it). `limits`: each client's (IPv4 address or IPv6 /64) allowance of link
    requests that may write, CONTACTQL_FORM_RATE_LIMIT a minute like a form's — every one goes
    through the single writer, so a loop of them must not slow everyone's writes."""

    def __init__(self, db: Database, clock: Clock = utc_now, limits: TokenBuckets | None = None) -> None:
        self.db = db
        self.clock = clock
        self.limits = limits

    def _too_many(self, request: Request) -> Response | None:
        if self.limits is None:
            return None
        wait, _ = self.limits.take(client_network(Visitor.of(request).ip), 1)
        if wait <= 0:
            return None
        seconds = math.ceil(wait)
        answer = page("Too many requests", f"Too many requests from your network just now: try the link again in {seconds} s.", 429)
        answer.headers["Retry-After"] = str(seconds)
        return answer

    async def confirm(self, request: Request) -> Response:
        if request.method == "HEAD":  # a mail scanner's or link preview's look changes nothing
            return page("Confirm your subscription", "Open this link in a browser to confirm.")
        if (refused := self._too_many(request)) is not None:
            return refused
        token = _token(request)
        if token is None:
            return page("Link incomplete", "This confirmation link is missing its token: open the link from the email again, whole.", 400)
        try:
            done = await self.db.write(subscribe.confirm, workspace_id=None, token=token, actor=CONFIRMATION_LINK, evidence=_evidence(request), now=self.clock())
        except NotFound:
            return page("Link used or expired", "This confirmation link was already used or has expired. If you still want to subscribe, sign up again.", 410)
        if done.thank_you_url:
            return RedirectResponse(done.thank_you_url, status_code=303, headers=HEADERS)
        return page("Subscription confirmed", "Thank you: your subscription is confirmed.")

    async def unsubscribe(self, request: Request) -> Response:
        if request.method == "HEAD":
            return page("Unsubscribe", "Open this link in a browser to unsubscribe.")
        if (refused := self._too_many(request)) is not None:
            return refused
        token = _token(request)
        if token is None:
            return page("Link incomplete", "This unsubscribe link is missing its token: open the link from the email again, whole.", 400)
        try:
            await self.db.write(subscribe.unsubscribe, token=token, actor=UNSUBSCRIBE_LINK, evidence=_evidence(request))
        except NotFound:
            return page("Link not valid", "This unsubscribe link is not valid, or its address is no longer on file.", 404)
        return page("Unsubscribed", "You are unsubscribed: you will get no more of these emails.")
