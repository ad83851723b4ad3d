"""A website form's abuse limits and consent evidence (issue 21): per-IP and per-key rate limits
(X-Forwarded-For believed from trusted proxies only), the per-address confirmation limit, the
CAPTCHA (against a local stand-in siteverify), the evidence a subscribe and a confirm record,
and the confirmation and unsubscribe links served as pages."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
import websockets
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from contactql.app import create_app
from contactql.config import Settings
from contactql.outbound import tls
from contactql.store.model import Scope
from contactql.store.workspace.keys import FormKey, new_key
from tests.helpers import Api, free_port, serve
from tests.test_cli import run_cli
from tests.test_exports import download, finished, start
from tests.test_forms import FORM, SITE, publishable, send, subscribe_input
from tests.test_subscribe import EVENTS
from tests.test_subscriptions import receive

CONSENTS = """query Consents($email: String!) {
  contacts(filter: {email: $email}, first: 1) { edges { node { emailStatus consents { action ip userAgent pageUrl form consentText keyName at } } } }
}"""


@contextlib.asynccontextmanager
async def started(settings: Settings, **changes: Any) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    """The app with the settings under test changed."""
    app = create_app(settings.replace(**changes))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(verify=tls(), transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
            yield app, http


async def admin_of(app: Any, http: httpx.AsyncClient) -> Api:
    return Api(http, str(await app.state.services.db.write(new_key, workspace="default", scope=Scope.ADMIN, name=None)))


async def consents_of(admin: Api, email: str) -> list[dict[str, Any]]:
    [edge] = (await admin.gql(CONSENTS, {"email": email}))["contacts"]["edges"]
    return list(edge["node"]["consents"])


def contactql(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI as a user runs it, with some variables set."""
    return subprocess.run([sys.executable, "-m", "contactql.cli", *args], capture_output=True, text=True, timeout=60, check=False, env={**os.environ, **(env or {})})


async def forwarded(http: httpx.AsyncClient, key: str, email: str, forwarded_for: str) -> httpx.Response:
    """A form's subscription for `email` whose request names its client in X-Forwarded-For."""
    headers = {"Authorization": f"Bearer {key}", "Origin": SITE, "X-Forwarded-For": forwarded_for}
    return await http.post("/graphql", json={"query": FORM, "variables": subscribe_input(email)}, headers=headers)


def code(response: httpx.Response) -> str:
    return str(response.json()["errors"][0]["extensions"]["code"])


# -- rate limits ------------------------------------------------------------------------------


async def test_one_address_gets_its_minutes_allowance_and_then_a_429_a_form_can_show(app: Any, http: httpx.AsyncClient) -> None:
    key = await publishable(app)
    answers = [await send(http, key, FORM, subscribe_input(f"ip{i}@example.com")) for i in range(21)]
    assert [a.status_code for a in answers] == [200] * 20 + [429]  # CONTACTQL_FORM_RATE_LIMIT's default: 20 a minute
    refused = answers[-1]
    assert code(refused) == "RATE_LIMITED" and "from this address" in refused.json()["errors"][0]["message"]
    assert int(refused.headers["Retry-After"]) >= 1 and refused.json()["errors"][0]["extensions"]["retryAfter"] >= 1
    assert "retry-after" in refused.headers["access-control-expose-headers"].lower()  # the form's script can read it
    # the refused one wrote nothing; another form's key has its own allowance
    other = await publishable(app, form="footer")
    assert (await send(http, other, FORM, subscribe_input("other@example.com"))).status_code == 200


async def test_x_forwarded_for_is_believed_from_trusted_proxies_only(settings: Settings) -> None:
    # Not trusted (the default): a client naming itself anew in each request is still one client.
    async with started(settings) as (app, http):
        key = await publishable(app)
        statuses = []
        for i in range(21):
            answer = await forwarded(http, key, f"x{i}@example.com", f"203.0.113.{i}")
            statuses.append(answer.status_code)
        assert statuses[-1] == 429
    # Behind a trusted proxy (the test client's 127.0.0.1): each visitor has an allowance of its own,
    # and the evidence names the visitor, not the proxy.
    async with started(settings, trusted_proxies=("127.0.0.1",)) as (app, http):
        key = await publishable(app)
        for i in range(25):
            answer = await forwarded(http, key, f"y{i}@example.com", f"198.51.100.7, 203.0.113.{i}")
            assert answer.status_code == 200, answer.text
        [record] = await consents_of(await admin_of(app, http), "y3@example.com")
        assert record["ip"] == "203.0.113.3"


async def test_a_forms_key_has_an_allowance_for_all_its_visitors_together(settings: Settings) -> None:
    async with started(settings, trusted_proxies=("127.0.0.1",), form_key_rate_limit_per_minute=5) as (app, http):
        key = await publishable(app)
        statuses = []
        for i in range(6):
            answer = await forwarded(http, key, f"k{i}@example.com", f"203.0.113.{i}")
            statuses.append(answer.status_code)
        assert statuses == [200] * 5 + [429]
        assert "through this form" in answer.json()["errors"][0]["message"]


async def test_one_client_is_one_ipv4_address_or_one_ipv6_64_however_it_is_spelled(settings: Settings) -> None:
    """A visitor cannot get a fresh allowance by spelling its address another way (case, zeros,
    IPv4-mapped, a port) or by taking another address of its IPv6 /64 — every home and cloud
    machine has 2^64 of them."""
    spellings = ["2001:DB8::1", "2001:db8:0:0::2", "[2001:db8::ffff]:443", "2001:db8::abcd:1%<img src=x>", "2001:db8:0:0:1:2:3:4"]
    async with started(settings, trusted_proxies=("127.0.0.0/8",)) as (app, http):
        key = await publishable(app)
        statuses = [(await forwarded(http, key, f"v6-{i}@example.com", spellings[i % len(spellings)])).status_code for i in range(21)]
        assert statuses == [200] * 20 + [429]
        assert (await forwarded(http, key, "next-net@example.com", "2001:db8:0:1::1")).status_code == 200  # another /64
        v4 = ["192.0.2.9", "::ffff:192.0.2.9", "192.0.2.9:5678", "[::FFFF:192.0.2.9]:1"]
        statuses = [(await forwarded(http, key, f"v4-{i}@example.com", v4[i % len(v4)])).status_code for i in range(21)]
        assert statuses == [200] * 20 + [429]
        admin = await admin_of(app, http)
        assert [r["ip"] for r in await consents_of(admin, "v6-2@example.com")] == ["2001:db8::ffff"]
        assert [r["ip"] for r in await consents_of(admin, "v6-3@example.com")] == ["2001:db8::abcd:1"]  # no zone
        assert [r["ip"] for r in await consents_of(admin, "v4-1@example.com")] == ["192.0.2.9"]


async def test_what_a_trusted_proxy_forwards_is_an_address_or_nothing(settings: Settings) -> None:
    """A proxy passing on `X-Forwarded-For: unknown` (or a visitor's junk) names no visitor: the
    evidence has no IP, and all such requests share one allowance."""
    async with started(settings, trusted_proxies=("127.0.0.1",)) as (app, http):
        key = await publishable(app)
        junk = ["unknown", "evil.example", "<script>", "1.2.3", "999.1.1.1"]
        statuses = [(await forwarded(http, key, f"j{i}@example.com", junk[i % len(junk)])).status_code for i in range(21)]
        assert statuses == [200] * 20 + [429]
        assert [r["ip"] for r in await consents_of(await admin_of(app, http), "j0@example.com")] == [None]


@pytest.mark.parametrize(("configured", "means"), [("127.0.0.1/8", "127.0.0.0/8"), ("10.1.2.3/16, ::1", "10.1.0.0/16,::1"), ("2001:DB8::1/32", "2001:db8::/32")])
def test_a_trusted_network_with_host_bits_means_its_network(configured: str, means: str) -> None:
    """uvicorn takes `127.0.0.1/8` for a name that never matches: ContactQL hands it the network."""
    assert ",".join(Settings.model_validate({"trusted_proxies": configured}).trusted_proxies) == means


async def test_a_proxy_in_a_network_written_with_host_bits_is_trusted(settings: Settings) -> None:
    trusted = Settings.model_validate({"trusted_proxies": "127.0.0.1/8"}).trusted_proxies
    async with started(settings, trusted_proxies=trusted) as (app, http):
        key = await publishable(app)
        await forwarded(http, key, "behind@example.com", "198.51.100.23")
        assert [r["ip"] for r in await consents_of(await admin_of(app, http), "behind@example.com")] == ["198.51.100.23"]


def test_trusted_proxies_must_be_addresses_or_networks(tmp_path: Any) -> None:
    refused = contactql("serve", "--database", f"sqlite:///{tmp_path / 'x.db'}", env={"CONTACTQL_TRUSTED_PROXIES": "10.0.0.0/8, proxy.internal"})
    assert refused.returncode != 0
    assert refused.stderr.strip().splitlines()[-1].startswith("contactql: CONTACTQL_TRUSTED_PROXIES: 'proxy.internal' is not an IP address or network")


@pytest.mark.system
async def test_over_a_websocket_the_same_per_address_allowance(database_url: str) -> None:
    with serve(database_url) as (base, _, _):
        key = run_cli("keys", "create", "--scope", "publishable", "--origin", SITE, "--database", database_url).stdout.strip()
        async with websockets.connect(base.replace("http", "ws") + "/graphql", subprotocols=["graphql-transport-ws"], origin=SITE) as socket:  # type: ignore[arg-type]
            await socket.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {key}"}}))
            assert await receive(socket) == {"type": "connection_ack"}
            answers = []
            for i in range(21):
                await socket.send(json.dumps({"id": str(i), "type": "subscribe", "payload": {"query": FORM, "variables": subscribe_input(f"ws{i}@example.com")}}))
                message = await receive(socket)
                answers.append(message)
                if message["type"] == "next":
                    await receive(socket)  # complete
        assert all(a["type"] == "next" and a["payload"]["data"]["subscribeContact"]["accepted"] for a in answers[:20])
        assert answers[20]["type"] == "error" and answers[20]["payload"][0]["extensions"]["code"] == "RATE_LIMITED"


# -- the per-address confirmation limit --------------------------------------------------------


async def test_an_address_gets_three_confirmation_requests_a_day_whatever_its_case(app: Any, http: httpx.AsyncClient, admin: Api, api: Api) -> None:
    key = await publishable(app)
    for email in ("victim@example.com", "Victim@Example.com", "VICTIM@example.com", "victim@EXAMPLE.com"):
        answer = await send(http, key, FORM, subscribe_input(email))
        # the fourth too is answered as accepted: a form's visitor learns nothing about the address
        assert answer.json()["data"]["subscribeContact"] == {"accepted": True, "confirmationPending": True, "userErrors": [], "__typename": "UpsertContactPayload"}
    events = [e["node"] for e in (await admin.gql(EVENTS, {"f": {}}))["events"]["edges"]]
    assert len(events) == 3 and all("ConfirmationToken" in e["params"] for e in events)
    # a secret key is told why
    refused = await api.gql(
        'mutation { subscribeContact(input: {contact: {email: "victim@example.com"}}) { outcome userErrors { field code message } } }'
    )
    [error] = refused["subscribeContact"]["userErrors"]
    assert (error["field"], error["code"]) == (["contact", "email"], "CONFIRMATION_LIMIT") and "CONTACTQL_CONFIRMATIONS_PER_ADDRESS=3" in error["message"]
    # another address is not held back
    assert (await send(http, key, FORM, subscribe_input("someone@example.com"))).json()["data"]["subscribeContact"]["accepted"] is True
    assert len((await admin.gql(EVENTS, {"f": {}}))["events"]["edges"]) == 4


async def test_concurrent_requests_for_one_address_do_not_get_past_its_limit(app: Any, http: httpx.AsyncClient, admin: Api) -> None:
    """A bot sends a victim's address 20 times at once (the per-IP limit lets 20 through): the
    count and the write are one transaction, so the victim still gets 3 emails."""
    key = await publishable(app)
    await send(http, key, FORM, subscribe_input("victim@example.com"))  # the contact exists: the requests race on its count
    answers = await asyncio.gather(*(send(http, key, FORM, subscribe_input("Victim@example.com")) for _ in range(19)))
    assert all(a.json()["data"]["subscribeContact"]["accepted"] for a in answers)
    assert len((await admin.gql(EVENTS, {"f": {}}))["events"]["edges"]) == 3


async def test_concurrent_requests_for_a_new_address_do_not_get_past_its_limit(app: Any, http: httpx.AsyncClient, admin: Api) -> None:
    key = await publishable(app)
    answers = await asyncio.gather(*(send(http, key, FORM, subscribe_input("fresh@example.com")) for _ in range(12)))
    assert all(a.json()["data"]["subscribeContact"]["accepted"] for a in answers)
    assert len((await admin.gql(EVENTS, {"f": {}}))["events"]["edges"]) == 3


async def test_a_subscribed_address_is_limited_too(app: Any, http: httpx.AsyncClient, admin: Api, api: Api) -> None:
    """Subscribing an address that already is sends no confirmation, but each request is an
    event (a workflow's welcome email) and a consent record: the same limit holds."""
    key = await publishable(app)
    await api.gql('mutation { upsertContact(input: {contact: {email: "fan@example.com", emailStatus: SUBSCRIBED}}) { outcome } }')
    for _ in range(5):
        assert (await send(http, key, FORM, subscribe_input("fan@example.com"))).json()["data"]["subscribeContact"]["accepted"] is True
    events = [e["node"] for e in (await admin.gql(EVENTS, {"f": {}}))["events"]["edges"]]
    assert len(events) == 3 and not any("ConfirmationToken" in e["params"] for e in events)
    assert [c["action"] for c in await consents_of(api, "fan@example.com")] == ["SUBSCRIBE"] * 3


# -- CAPTCHA -----------------------------------------------------------------------------------


class StandIn:
    """A local siteverify: `success` for the token "solved" sent with the secret "s3cret"."""

    def __init__(self) -> None:
        self.port = free_port()
        self.asked: list[dict[str, str]] = []
        self.down = False
        self.drip = False  # answer a byte every half second: each read in time, the whole far too late

    async def siteverify(self, request: Request) -> Response:
        form = dict(await request.form())
        self.asked.append({k: str(v) for k, v in form.items()})
        if self.drip:

            async def slowly() -> AsyncIterator[bytes]:
                for byte in b'{"success": true}':  # bounded: 17 bytes, 8.5 s
                    yield bytes([byte])
                    await asyncio.sleep(0.5)

            return StreamingResponse(slowly(), media_type="application/json")
        if self.down:
            return JSONResponse({"success": False, "error-codes": ["internal-error"]}, status_code=500)
        solved = form.get("secret") == "s3cret" and form.get("response") == "solved"
        return JSONResponse({"success": solved} | ({} if solved else {"error-codes": ["invalid-input-response"]}))


@pytest.fixture
async def verifier() -> AsyncIterator[StandIn]:
    stand_in = StandIn()
    app = Starlette(routes=[Route("/siteverify", stand_in.siteverify, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=stand_in.port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    for _ in range(200):  # bounded: 2 s
        if server.started:
            break
        await asyncio.sleep(0.01)
    yield stand_in
    server.should_exit = True
    await task


@pytest.mark.parametrize("provider", ["turnstile", "hcaptcha", "recaptcha"])
async def test_with_a_captcha_provider_a_form_needs_a_solved_captcha(settings: Settings, verifier: StandIn, provider: str) -> None:
    url = f"http://127.0.0.1:{verifier.port}/siteverify"
    async with started(settings, captcha_provider=provider, captcha_secret="s3cret", captcha_verify_url=url, allow_private_webhooks=True) as (app, http):
        key = await publishable(app)

        async def subscribe(email: str, token: str | None) -> dict[str, Any]:
            variables = subscribe_input(email)
            variables["input"]["captchaToken"] = token
            return dict((await send(http, key, FORM, variables)).json()["data"]["subscribeContact"])

        for token in (None, "", "forged", "x" * 5000):
            refused = await subscribe("bot@example.com", token)
            assert refused["accepted"] is False and [(e["field"], e["code"]) for e in refused["userErrors"]] == [(["captchaToken"], "CAPTCHA_FAILED")]
        assert [a["response"] for a in verifier.asked] == ["forged"]  # no call for what cannot be a token
        solved = await subscribe("person@example.com", "solved")
        assert solved["accepted"] is True
        assert verifier.asked[-1] == {"secret": "s3cret", "response": "solved", "remoteip": "127.0.0.1"}
        verifier.down = True  # a provider that fails keeps the form closed, saying to try later
        down = await subscribe("later@example.com", "solved")
        assert down["accepted"] is False and "try again later" in down["userErrors"][0]["message"]
        admin = await admin_of(app, http)
        found = await admin.gql('{ contacts(first: 10) { edges { node { email } } } }')
        assert [e["node"]["email"] for e in found["contacts"]["edges"]] == ["person@example.com"]
        # a secret key (a server) is not asked for one
        assert (await admin.gql('mutation { subscribeContact(input: {contact: {email: "srv@example.com"}}) { accepted } }'))["subscribeContact"]["accepted"]


async def test_a_slow_verifier_cannot_hold_a_form_past_its_deadline(settings: Settings, verifier: StandIn) -> None:
    """A verifier answering a byte at a time never trips a per-read timeout: the check as a
    whole has one deadline (5 s), after which the form is told to try later."""
    url = f"http://127.0.0.1:{verifier.port}/siteverify"
    async with started(settings, captcha_provider="turnstile", captcha_secret="s3cret", captcha_verify_url=url, allow_private_webhooks=True) as (app, http):
        key = await publishable(app)
        variables = subscribe_input("slow@example.com")
        variables["input"]["captchaToken"] = "solved"
        verifier.drip = True
        answer = (await send(http, key, FORM, variables)).json()["data"]["subscribeContact"]
        assert answer["accepted"] is False and answer["userErrors"][0]["code"] == "CAPTCHA_FAILED" and "try again later" in answer["userErrors"][0]["message"]


async def test_a_mistake_in_the_form_does_not_use_up_the_captcha(settings: Settings, verifier: StandIn) -> None:
    """A widget's token is good for one check: the input is checked first, so a visitor fixing a
    typo in the address sends the same solved CAPTCHA again."""
    url = f"http://127.0.0.1:{verifier.port}/siteverify"
    async with started(settings, captcha_provider="turnstile", captcha_secret="s3cret", captcha_verify_url=url, allow_private_webhooks=True) as (app, http):
        key = await publishable(app)
        variables = subscribe_input("typo@example")
        variables["input"]["captchaToken"] = "solved"
        answer = (await send(http, key, FORM, variables)).json()["data"]["subscribeContact"]
        assert [e["code"] for e in answer["userErrors"]] == ["INVALID_EMAIL"] and verifier.asked == []
        variables["input"]["contact"]["email"] = "typo@example.com"
        assert (await send(http, key, FORM, variables)).json()["data"]["subscribeContact"]["accepted"] is True
        assert len(verifier.asked) == 1


async def test_bots_that_solve_no_captcha_do_not_use_up_the_forms_allowance(settings: Settings, verifier: StandIn) -> None:
    """With a CAPTCHA, a form's allowance for all its visitors (here 3 a minute) is charged only
    once one is solved: bots from many addresses sending none cannot close the form to people."""
    url = f"http://127.0.0.1:{verifier.port}/siteverify"
    changes = {"captcha_provider": "turnstile", "captcha_secret": "s3cret", "captcha_verify_url": url, "allow_private_webhooks": True}
    async with started(settings, trusted_proxies=("127.0.0.1",), form_key_rate_limit_per_minute=3, **changes) as (app, http):
        key = await publishable(app)
        for i in range(10):
            bot = (await forwarded(http, key, f"bot{i}@example.com", f"203.0.113.{i}")).json()["data"]["subscribeContact"]
            assert bot["userErrors"][0]["code"] == "CAPTCHA_FAILED"

        async def person(i: int) -> httpx.Response:
            variables = subscribe_input(f"person{i}@example.com")
            variables["input"]["captchaToken"] = "solved"
            headers = {"Authorization": f"Bearer {key}", "Origin": SITE, "X-Forwarded-For": f"198.51.100.{i}"}
            return await http.post("/graphql", json={"query": FORM, "variables": variables}, headers=headers)

        people = [await person(i) for i in range(4)]
        assert [p.status_code for p in people] == [200, 200, 200, 429]
        assert all(p.json()["data"]["subscribeContact"]["accepted"] for p in people[:3])
        assert code(people[3]) == "RATE_LIMITED" and "through this form" in people[3].json()["errors"][0]["message"] and int(people[3].headers["Retry-After"]) >= 1


async def test_a_private_verifier_is_refused_unless_allowed(settings: Settings, verifier: StandIn) -> None:
    url = f"http://127.0.0.1:{verifier.port}/siteverify"
    async with started(settings, captcha_provider="turnstile", captcha_secret="s3cret", captcha_verify_url=url) as (app, http):
        key = await publishable(app)
        variables = subscribe_input("p@example.com")
        variables["input"]["captchaToken"] = "solved"
        answer = (await send(http, key, FORM, variables)).json()["data"]["subscribeContact"]
        assert answer["userErrors"][0]["code"] == "CAPTCHA_FAILED" and verifier.asked == []


def test_a_captcha_provider_needs_its_secret(tmp_path: Any) -> None:
    refused = contactql("serve", "--database", f"sqlite:///{tmp_path / 'x.db'}", env={"CONTACTQL_CAPTCHA_PROVIDER": "turnstile"})
    assert refused.returncode != 0
    assert refused.stderr.strip().splitlines()[-1] == "contactql: CONTACTQL_CAPTCHA_PROVIDER=turnstile needs CONTACTQL_CAPTCHA_SECRET, the provider's secret key"


# -- consent evidence --------------------------------------------------------------------------


async def test_a_subscribe_and_its_confirm_record_the_visitors_evidence(app: Any, http: httpx.AsyncClient, admin: Api) -> None:
    key = await publishable(app)
    browser = {"Authorization": f"Bearer {key}", "Origin": SITE, "User-Agent": "Mozilla/5.0 (X11) Firefox/133.0", "Referer": f"{SITE}/newsletter?utm=x"}
    variables = subscribe_input("eve@example.com")
    variables["input"]["consentText"] = "Yes, send me the monthly newsletter.\nI can unsubscribe at any time."
    answer = await http.post("/graphql", json={"query": FORM, "variables": variables}, headers=browser)
    assert answer.json()["data"]["subscribeContact"]["accepted"] is True
    [subscribed] = await consents_of(admin, "eve@example.com")
    assert {k: v for k, v in subscribed.items() if k != "at"} == {
        "action": "SUBSCRIBE", "ip": "127.0.0.1", "userAgent": "Mozilla/5.0 (X11) Firefox/133.0", "pageUrl": f"{SITE}/newsletter?utm=x",
        "form": "newsletter", "consentText": "Yes, send me the monthly newsletter.\nI can unsubscribe at any time.", "keyName": "publishable-key-2",
    }  # fmt: skip
    # the page sent as pageUrl wins over the Referer
    variables["input"]["pageUrl"] = f"{SITE}/signup"
    await http.post("/graphql", json={"query": FORM, "variables": variables}, headers=browser)
    token = [e["node"] for e in (await admin.gql(EVENTS, {"f": {}}))["events"]["edges"]][-1]["params"]["ConfirmationToken"]
    confirm = "mutation($t: String!) { confirmContact(token: $t) { accepted } }"
    await http.post("/graphql", json={"query": confirm, "variables": {"t": token}}, headers=browser | {"User-Agent": "Mobile Safari"})
    records = await consents_of(admin, "eve@example.com")
    assert [(r["action"], r["pageUrl"], r["userAgent"]) for r in records] == [
        ("SUBSCRIBE", f"{SITE}/newsletter?utm=x", "Mozilla/5.0 (X11) Firefox/133.0"),
        ("SUBSCRIBE", f"{SITE}/signup", "Mozilla/5.0 (X11) Firefox/133.0"),
        ("CONFIRM", f"{SITE}/newsletter?utm=x", "Mobile Safari"),
    ]
    assert records[0]["at"] <= records[1]["at"] <= records[2]["at"]
    # in the history: each write that a subscribe or confirm made carries its evidence
    history = await admin.gql(
        '{ contacts(filter: {email: "eve@example.com"}, first: 1) { edges { node { history { edges { node { at changes { field new } consent { action userAgent } } } } } } } }'
    )
    entries = [e["node"] for e in history["contacts"]["edges"][0]["node"]["history"]["edges"]]
    assert [e["consent"] for e in entries] == [{"action": "SUBSCRIBE", "userAgent": "Mozilla/5.0 (X11) Firefox/133.0"}, {"action": "CONFIRM", "userAgent": "Mobile Safari"}]
    assert entries[-1]["at"] == records[-1]["at"] and {"field": "emailStatus", "new": "SUBSCRIBED"} in entries[-1]["changes"]


@pytest.mark.parametrize(
    ("extra", "field", "error"),
    [
        ({"consentText": "x" * 2001}, ["consentText"], "INVALID_INPUT"),
        ({"consentText": "I agree\x1b[2J"}, ["consentText"], "INVALID_INPUT"),
        ({"pageUrl": "javascript:alert(1)"}, ["pageUrl"], "INVALID_INPUT"),
        ({"pageUrl": "https://e.com/" + "a" * 2048}, ["pageUrl"], "INVALID_INPUT"),
        ({"visitor": {"ip": "203.0.113.9"}}, ["visitor"], "FORBIDDEN"),
    ],
)
async def test_a_forms_evidence_is_bounded_and_its_visitor_is_the_requests(app: Any, http: httpx.AsyncClient, extra: dict[str, Any], field: list[str], error: str) -> None:
    key = await publishable(app)
    variables = subscribe_input("bounded@example.com")
    variables["input"].update(extra)
    answer = (await send(http, key, FORM, variables)).json()["data"]["subscribeContact"]
    assert answer["accepted"] is False and [(e["field"], e["code"]) for e in answer["userErrors"]] == [(field, error)]


async def test_a_server_relaying_its_form_names_the_visitor(api: Api, admin: Api) -> None:
    relayed = await api.gql(
        """mutation { subscribeContact(input: {contact: {email: "relay@example.com"}, consentText: "Opt in", pageUrl: "https://shop.example/",
             visitor: {ip: "2001:db8::7", userAgent: "Firefox"}}) { accepted } }"""
    )
    assert relayed["subscribeContact"]["accepted"] is True
    [record] = await consents_of(admin, "relay@example.com")
    assert (record["ip"], record["userAgent"], record["pageUrl"], record["consentText"], record["keyName"]) == ("2001:db8::7", "Firefox", "https://shop.example/", "Opt in", "test-writer")
    bad = await api.gql('mutation { subscribeContact(input: {contact: {email: "r2@example.com"}, visitor: {ip: "not-an-ip"}}) { userErrors { field code } } }')
    assert bad["subscribeContact"]["userErrors"] == [{"field": ["visitor", "ip"], "code": "INVALID_INPUT"}]


# -- the links, as pages -----------------------------------------------------------------------


async def tokens(admin: Api) -> dict[str, str]:
    event = [e["node"] for e in (await admin.gql(EVENTS, {"f": {}}))["events"]["edges"]][-1]
    return dict(event["params"])


async def test_the_confirmation_link_confirms_once_and_says_so(app: Any, http: httpx.AsyncClient, admin: Api) -> None:
    key = await publishable(app)
    await send(http, key, FORM, subscribe_input("link@example.com"))
    token = (await tokens(admin))["ConfirmationToken"]
    page = await http.get("/confirm", params={"token": token}, headers={"User-Agent": "Mail client"})
    assert page.status_code == 200 and "text/html" in page.headers["content-type"] and "Subscription confirmed" in page.text
    assert page.headers["cache-control"] == "no-store" and page.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'none'" in page.headers["content-security-policy"]
    found = await admin.gql('{ contacts(filter: {email: "link@example.com"}, first: 1) { edges { node { emailStatus confirmed consents { action keyName form userAgent } } } } }')
    node = found["contacts"]["edges"][0]["node"]
    assert (node["emailStatus"], node["confirmed"]) == ("SUBSCRIBED", True)
    assert node["consents"][-1] == {"action": "CONFIRM", "keyName": "confirmation link", "form": "newsletter", "userAgent": "Mail client"}
    used = await http.get("/confirm", params={"token": token})
    assert used.status_code == 410 and "already used or has expired" in used.text
    for query in ({}, {"token": ""}, {"token": "  "}):
        assert (await http.get("/confirm", params=query)).status_code == 400
    for junk in ("<script>alert(1)</script>", "x" * 300, token + "x" * 5000):  # a link with junk is not one with no token
        assert (await http.get("/confirm", params={"token": junk})).status_code == 410


async def test_the_confirmation_link_sends_to_the_forms_thank_you_page(app: Any, http: httpx.AsyncClient, admin: Api) -> None:
    form = FormKey((SITE,), "newsletter", f"{SITE}/thanks?from=email")
    key = str(await app.state.services.db.write(new_key, workspace="default", scope=Scope.PUBLISHABLE, name="site", form=form))
    await send(http, key, FORM, subscribe_input("thanks@example.com"))
    page = await http.get("/confirm", params={"token": (await tokens(admin))["ConfirmationToken"]})
    assert page.status_code == 303 and page.headers["location"] == f"{SITE}/thanks?from=email"


def test_a_thank_you_page_must_be_on_the_keys_origins(tmp_path: Any) -> None:
    database = f"sqlite:///{tmp_path / 'k.db'}"
    refused = run_cli("keys", "create", "--scope", "publishable", "--origin", SITE, "--thank-you", "https://evil.example/", "--database", database)
    assert refused.returncode != 0 and "the thank-you page must be on one of the key's origins (https://www.example.com)" in refused.stderr
    made = run_cli("keys", "create", "--scope", "publishable", "--origin", SITE, "--thank-you", f"{SITE}/thanks", "--database", database)
    assert made.stdout.strip().startswith("cql_pub_")


async def test_the_unsubscribe_link_unsubscribes_with_evidence_and_cannot_be_forged(app: Any, http: httpx.AsyncClient, admin: Api, api: Api) -> None:
    key = await publishable(app)
    await send(http, key, FORM, subscribe_input("leave@example.com"))
    token = (await tokens(admin))["UnsubscribeToken"]
    workspace, contact, signature = token.split(".")
    await api.gql('mutation { upsertContact(input: {contact: {email: "other@example.com"}}) { outcome } }')
    other = (await api.gql('{ contacts(filter: {email: "other@example.com"}) { edges { node { id } } } }'))["contacts"]["edges"][0]["node"]["id"]
    for forged in (f"{workspace}.{other}.{signature}", f"{workspace}.{contact}.{'A' * len(signature)}", f"99.{contact}.{signature}", "1.2", "a.b.c", "\u00b2.1.abc", "9999999999999999999.1.abc", f"\u0661.{contact}.{signature}"):
        page = await http.get("/unsubscribe", params={"token": forged})
        assert page.status_code == 404 and "not valid" in page.text
    assert (await http.head("/unsubscribe", params={"token": token})).status_code == 200  # a scanner's HEAD changes nothing
    assert (await http.get("/unsubscribe", params={"token": token + "A" * 300})).status_code == 404
    page = await http.get("/unsubscribe", params={"token": token}, headers={"User-Agent": "Webmail/2 (Ünïcode; 日本語)".encode()})
    assert page.status_code == 200 and "You are unsubscribed" in page.text
    found = await admin.gql('{ contacts(filter: {email: "leave@example.com"}, first: 1) { edges { node { emailStatus consents { action keyName userAgent } } } } }')
    node = found["contacts"]["edges"][0]["node"]
    assert node["emailStatus"] == "UNSUBSCRIBED"
    assert node["consents"][-1] == {"action": "UNSUBSCRIBE", "keyName": "unsubscribe link", "userAgent": "Webmail/2 (Ünïcode; 日本語)"}  # sent as UTF-8, read as such
    # RFC 8058's one-click unsubscribe: a mail client POSTs to the same URL; again is harmless
    assert (await http.post(f"/unsubscribe?token={token}", content=b"List-Unsubscribe=One-Click")).status_code == 200
    found = await admin.gql('{ contacts(filter: {email: "other@example.com"}) { edges { node { emailStatus } } } }')
    assert found["contacts"]["edges"][0]["node"]["emailStatus"] != "UNSUBSCRIBED"


async def test_links_have_a_per_client_allowance_and_a_repeated_unsubscribe_writes_once(app: Any, http: httpx.AsyncClient, admin: Api) -> None:
    """Every link request goes through the single writer: a loop of them from one client gets
    429 after CONTACTQL_FORM_RATE_LIMIT (20) a minute, and clicking an unsubscribe link again and
    again adds no evidence after the first."""
    key = await publishable(app)
    await send(http, key, FORM, subscribe_input("loop@example.com"))
    token = (await tokens(admin))["UnsubscribeToken"]
    answers = [await http.post(f"/unsubscribe?token={token}") for _ in range(10)]
    answers += [await http.get("/confirm", params={"token": "junk"}) for _ in range(11)]
    assert [a.status_code for a in answers] == [200] * 10 + [410] * 10 + [429]
    assert int(answers[-1].headers["Retry-After"]) >= 1 and "Too many requests" in answers[-1].text
    assert [c["action"] for c in await consents_of(admin, "loop@example.com")] == ["SUBSCRIBE", "UNSUBSCRIBE"]


async def test_contact_consents_are_the_newest_so_many_oldest_first(app: Any, http: httpx.AsyncClient, admin: Api, api: Api) -> None:
    key = await publishable(app)
    for i in range(3):
        variables = subscribe_input("many@example.com")
        variables["input"]["consentText"] = f"text {i}"
        await send(http, key, FORM, variables)
    await api.gql('mutation { upsertContact(input: {contact: {email: "other@example.com"}}) { outcome } }')
    query = '{ contacts(first: 5, orderBy: [{field: EMAIL, direction: ASC}]) { edges { node { email consents(last: $last) { consentText } } } } }'
    for last, texts in ((1, ["text 2"]), (2, ["text 1", "text 2"]), (100, ["text 0", "text 1", "text 2"])):
        found = await api.gql(query.replace("$last", str(last)))
        assert [[c["consentText"] for c in e["node"]["consents"]] for e in found["contacts"]["edges"]] == [texts, []]
    for bad in (0, 1001):
        refused = await api.http.post("/graphql", json={"query": query.replace("$last", str(bad))}, headers={"Authorization": f"Bearer {api.key}"})
        assert refused.json()["errors"][0]["extensions"]["code"] == "INVALID_INPUT"


async def test_an_export_can_hold_the_consent_evidence(app: Any, http: httpx.AsyncClient, api: Api) -> None:
    key = await publishable(app)
    variables = subscribe_input("audit@example.com")
    variables["input"]["consentText"] = "=I agree"  # inside the cell's JSON array: no formula
    await http.post("/graphql", json={"query": FORM, "variables": variables}, headers={"Authorization": f"Bearer {key}", "Origin": SITE, "User-Agent": "UA"})
    await api.upsert({"email": "plain@example.com"})
    for format in ("NDJSON", "CSV"):
        made = await start(api, format=format, fields=["email", "consents"], orderBy=[{"field": "EMAIL", "direction": "ASC"}])
        body = (await download(api, (await finished(api, made["export"]["id"]))["id"])).content.decode("utf-8-sig")
        if format == "NDJSON":
            audit, plain = [json.loads(line) for line in body.splitlines()]
        else:
            rows = list(csv.DictReader(io.StringIO(body)))
            assert rows[0]["consents"].startswith("[{")
            audit, plain = ({"email": r["email"], "consents": json.loads(r["consents"])} for r in rows)
        assert plain == {"email": "plain@example.com", "consents": []}
        [record] = audit["consents"]
        assert (record["action"], record["ip"], record["user_agent"], record["form"], record["consent_text"]) == ("SUBSCRIBE", "127.0.0.1", "UA", "newsletter", "=I agree")


async def test_an_expired_confirmation_link_gets_a_page_saying_so(settings: Settings, clock: Any) -> None:
    """A token lives 7 days (the injected clock moves past them)."""
    app = create_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(verify=tls(), transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
            key = await publishable(app)
            await send(http, key, FORM, subscribe_input("late@example.com"))
            admin = await admin_of(app, http)
            token = (await tokens(admin))["ConfirmationToken"]
            clock.advance(7 * 24 * 3600 + 60)
            page = await http.get("/confirm", params={"token": token})
            assert page.status_code == 410 and "already used or has expired" in page.text
            clock.advance(-120)  # within the 7 days it still works
            assert (await http.get("/confirm", params={"token": token})).status_code == 200
