"""Publishable keys (issue 21): a website form's key, safe to publish. It runs subscribeContact
and confirmContact only, from its origins, and its answer tells nothing about who is subscribed.
Every operation and transport is tried with one: HTTP POST and GET, multipart, WebSocket,
export downloads, a CORS preflight; from its origin, another and none."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx
import pytest
import websockets

from contactql.store.model import Scope
from contactql.store.workspace.keys import FormKey, new_key
from tests.helpers import Api, serve
from tests.test_cli import run_cli
from tests.test_subscribe import EVENTS
from tests.test_subscriptions import receive

SITE = "https://www.example.com"
FORM = """mutation Subscribe($input: SubscribeContactInput!) {
  subscribeContact(input: $input) { accepted confirmationPending userErrors { field code message } __typename }
}"""
CONFIRM = "mutation Confirm($t: String!) { confirmContact(token: $t) { accepted confirmationPending userErrors { field code } } }"


async def publishable(app: Any, *origins: str, form: str | None = "newsletter") -> str:
    return str(await app.state.services.db.write(new_key, workspace="default", scope=Scope.PUBLISHABLE, name=None, form=FormKey(origins or (SITE,), form)))


async def send(http: httpx.AsyncClient, key: str, query: str, variables: dict[str, Any] | None = None, *, origin: str | None = SITE) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} | ({"Origin": origin} if origin else {})
    return await http.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)


def subscribe_input(email: str) -> dict[str, Any]:
    return {"input": {"contact": {"email": email, "firstName": "Ann"}, "formType": "footer"}}


async def test_a_publishable_key_subscribes_from_its_origin_and_is_told_only_that_it_was_accepted(app: Any, http: httpx.AsyncClient, api: Api) -> None:
    key = await publishable(app)
    assert key.startswith("cql_pub_")
    new = await send(http, key, FORM, subscribe_input("ann@example.com"))
    assert new.status_code == 200, new.text
    assert new.json()["data"] == {"subscribeContact": {"accepted": True, "confirmationPending": True, "userErrors": [], "__typename": "UpsertContactPayload"}}
    # The same answer for an address already known, subscribed even: nothing tells them apart.
    await api.gql('mutation { upsertContact(input: {contact: {email: "bob@example.com", emailStatus: SUBSCRIBED}}) { outcome } }')
    known = await send(http, key, FORM, subscribe_input("bob@example.com"))
    assert known.json()["data"] == new.json()["data"]
    assert known.headers.keys() == new.headers.keys()
    # It was written, as any subscription: a pending, unconfirmed contact and the workflow's event.
    found = await api.gql('{ contacts(filter: {email: "ann@example.com"}) { edges { node { emailStatus confirmed source createdBy } } } }')
    assert found["contacts"]["edges"] == [{"node": {"emailStatus": "PENDING_CONFIRMATION", "confirmed": False, "source": "SUBSCRIBE", "createdBy": "publishable-key-2"}}]


async def test_a_form_shows_the_coded_errors_of_its_input(app: Any, http: httpx.AsyncClient) -> None:
    key = await publishable(app)
    refused = await send(http, key, FORM, subscribe_input("not an address"))
    answer = refused.json()["data"]["subscribeContact"]
    assert answer["accepted"] is False and answer["confirmationPending"] is False
    assert [(e["field"], e["code"]) for e in answer["userErrors"]] == [(["contact", "email"], "INVALID_EMAIL")]


async def test_confirm_with_a_publishable_key(app: Any, http: httpx.AsyncClient, admin: Api) -> None:
    key = await publishable(app)
    await send(http, key, FORM, subscribe_input("cara@example.com"))
    [event] = [e["node"] for e in (await admin.gql(EVENTS, {"f": {}}))["events"]["edges"]]
    token = event["params"]["ConfirmationToken"]
    confirmed = await send(http, key, CONFIRM, {"t": token})
    assert confirmed.json()["data"] == {"confirmContact": {"accepted": True, "confirmationPending": False, "userErrors": []}}
    again = await send(http, key, CONFIRM, {"t": token})
    assert again.json()["data"]["confirmContact"] == {"accepted": False, "confirmationPending": False, "userErrors": [{"field": ["token"], "code": "NOT_FOUND"}]}


async def test_a_deleted_contacts_confirmation_link_does_nothing_until_it_is_restored(app: Any, http: httpx.AsyncClient, api: Api, admin: Api) -> None:
    key = await publishable(app)
    await send(http, key, FORM, subscribe_input("dora@example.com"))
    [event] = [e["node"] for e in (await admin.gql(EVENTS, {"f": {}}))["events"]["edges"]]
    token, cid = event["params"]["ConfirmationToken"], event["params"]["ContactId"]
    await api.gql("mutation D($id: ID!) { deleteContact(id: $id) { deletedId } }", {"id": cid})
    refused = await send(http, key, CONFIRM, {"t": token})
    assert refused.json()["data"]["confirmContact"]["userErrors"] == [{"field": ["token"], "code": "NOT_FOUND"}]
    assert (await http.get("/confirm", params={"token": token})).status_code == 410
    await api.gql('mutation { upsertContact(input: {contact: {email: "dora@example.com"}, restoreDeleted: true}) { outcome } }')
    assert (await send(http, key, CONFIRM, {"t": token})).json()["data"]["confirmContact"]["accepted"] is True
    one = '{ contacts(filter: {email: "dora@example.com"}, first: 1) { edges { node { emailStatus } } } }'
    assert (await api.gql(one))["contacts"]["edges"][0]["node"] == {"emailStatus": "SUBSCRIBED"}


async def test_a_confirmation_confirms_the_address_it_was_sent_to_only(app: Any, http: httpx.AsyncClient, api: Api, admin: Api) -> None:
    key = await publishable(app)
    await send(http, key, FORM, subscribe_input("mover-old@example.com"))
    [event] = [e["node"] for e in (await admin.gql(EVENTS, {"f": {}}))["events"]["edges"]]
    moved = {"input": {"contact": {"id": event["params"]["ContactId"], "email": "mover-new@example.com"}, "match": {"rules": ["ID"], "onNoMatch": "FAIL"}}}
    await api.gql("mutation M($input: UpsertContactInput!) { upsertContact(input: $input) { outcome } }", moved)
    refused = await send(http, key, CONFIRM, {"t": event["params"]["ConfirmationToken"]})
    assert refused.json()["data"]["confirmContact"]["userErrors"] == [{"field": ["token"], "code": "NOT_FOUND"}]
    one = '{ contacts(filter: {email: "mover-new@example.com"}, first: 1) { edges { node { emailStatus confirmed } } } }'
    assert (await api.gql(one))["contacts"]["edges"][0]["node"] == {"emailStatus": "PENDING_CONFIRMATION", "confirmed": False}


REFUSED = [
    "{ contacts { totalCount } }",
    "{ __typename }",
    "{ __schema { types { name } } }",
    'mutation { createList(name: "Mine") { list { id } } }',
    'mutation { upsertContact(input: {contact: {email: "x@example.com"}}) { outcome } }',
    'mutation { subscribeContact(input: {contact: {email: "d@example.com"}}) { accepted contact { id } } }',
    'mutation { subscribeContact(input: {contact: {email: "d@example.com"}}) { outcome } }',
    'mutation { subscribeContact(input: {contact: {email: "d@example.com"}}) { ...on UpsertContactPayload { changedFields } } }',
    'mutation { subscribeContact(input: {contact: {email: "d@example.com"}}) { accepted } createList(name: "Mine") { list { id } } }',
    'mutation { ... on Mutation { subscribeContact(input: {contact: {email: "d@example.com"}}) { accepted } } }',
]


@pytest.mark.parametrize("document", REFUSED)
async def test_anything_else_is_forbidden_before_it_runs(app: Any, http: httpx.AsyncClient, api: Api, document: str) -> None:
    key = await publishable(app)
    refused = await send(http, key, document)
    [error] = refused.json()["errors"]
    assert error["extensions"]["code"] == "FORBIDDEN" and "publishable key" in error["message"], refused.text
    assert refused.json().get("data") is None
    assert (await api.gql("{ contacts { totalCount } lists { totalCount } }")) == {"contacts": {"totalCount": 0}, "lists": {"totalCount": 0}}  # nothing was written


@pytest.mark.parametrize("origin", [None, "https://evil.example.net", "https://www.example.com.evil.net", "http://www.example.com", "null"])
async def test_from_any_other_origin_or_none_it_is_refused(app: Any, http: httpx.AsyncClient, origin: str | None) -> None:
    key = await publishable(app)
    refused = await send(http, key, FORM, subscribe_input("eve@example.com"), origin=origin)
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN" and "origins it was made for" in refused.json()["errors"][0]["message"]


async def test_get_multipart_and_export_downloads_are_refused_too(app: Any, http: httpx.AsyncClient) -> None:
    key = await publishable(app)
    headers = {"Authorization": f"Bearer {key}", "Origin": SITE}
    by_get = await http.get("/graphql", params={"query": "{ workspace { name } }"}, headers=headers)
    assert by_get.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    operations = json.dumps({"query": "mutation ($f: Upload!) { importContacts(input: {file: $f}) { batch { id } } }", "variables": {"f": None}})
    upload = await http.post("/graphql", headers=headers, data={"operations": operations, "map": '{"0": ["variables.f"]}'}, files={"0": ("c.csv", b"email\na@example.com\n", "text/csv")})
    assert upload.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    stream = await http.post("/graphql", json={"query": "subscription { contactsChanged { type } }"}, headers={**headers, "Accept": "text/event-stream"})
    assert "FORBIDDEN" in stream.text and "publishable key" in stream.text and '"contactsChanged"' not in stream.text  # an error, no change
    download = await http.get("/exports/anything", headers=headers)
    assert download.status_code == 403 and download.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_a_browser_on_the_forms_page_may_ask_cors_and_others_may_not(app: Any, http: httpx.AsyncClient) -> None:
    await publishable(app, SITE, "https://shop.example.org:8443")
    ask = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization, content-type"}
    for origin in (SITE, "https://shop.example.org:8443"):
        preflight = await http.options("/graphql", headers={"Origin": origin, **ask})
        assert preflight.status_code == 200 and preflight.headers["access-control-allow-origin"] == origin
    other = await http.options("/graphql", headers={"Origin": "https://evil.example.net", **ask})
    assert other.status_code == 400 and "access-control-allow-origin" not in other.headers


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        (["--scope", "publishable"], "a publishable key needs the origin its form is on: --origin https://www.example.com"),
        (["--scope", "write", "--origin", SITE], "only a publishable key has origins, a form and a thank-you page"),
        (["--scope", "publishable", "--origin", "https://www.example.com/signup"], "is not an origin such as https://www.example.com (a scheme and a host, no path)"),
        (["--scope", "publishable", "--origin", "http://www.example.com"], "a form's page must be served over https (http only for localhost)"),
        (["--scope", "publishable", "--origin", "ftp://example.com"], "is not an origin"),
        (["--scope", "publishable", "--origin", "https://"], "is not an origin"),
        (["--scope", "publishable", "--origin", "https://a.example.com:99999"], "is not an origin"),
        (["--scope", "publishable", "--origin", SITE, "--form", "news letter"], "a form name is 1 to 32 Latin letters, digits, '-' or '_'"),
        (["--scope", "publishable", "--origin", "https://*.example.com"], "is not a host name"),
        (["--scope", "publishable", "--origin", "https://a b.example.com"], "is not a host name"),
        (["--scope", "publishable", "--origin", "https://exa%6dple.com"], "is not a host name"),
        (["--scope", "publishable", "--origin", "https://www.example.com."], "is not a host name"),
        (["--scope", "publishable", "--origin", "https://www.example.com:0"], "port 0"),
    ],
)
def test_keys_create_refuses_a_publishable_key_it_cannot_make_in_one_line(database_url: str, arguments: list[str], says: str) -> None:
    made = run_cli("keys", "create", *arguments, "--database", database_url)
    assert made.returncode == 2 and made.stdout == "" and says in made.stderr and len(made.stderr.splitlines()) == 1, made.stderr


def test_keys_create_makes_a_publishable_key_and_says_it_is_safe_to_publish(database_url: str) -> None:
    made = run_cli(
        "keys", "create", "--scope", "publishable", "--origin", "HTTPS://WWW.Example.com:443/", "--origin", "http://localhost:5173",
        "--origin", "https://bücher.example", "--form", "footer", "--database", database_url,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip().startswith("cql_pub_") and "safe to put in a web page" in made.stderr
    listed = run_cli("keys", "list", "--database", database_url).stdout
    # as browsers send Origin: lower case, no default port, an international name in punycode
    assert "publishable  https://www.example.com,http://localhost:5173,https://xn--bcher-kva.example" in listed


@pytest.mark.system
async def test_over_a_websocket_from_its_origin_it_subscribes_and_nothing_else(database_url: str) -> None:
    with serve(database_url) as (base, _, _):
        key = run_cli("keys", "create", "--scope", "publishable", "--origin", SITE, "--database", database_url).stdout.strip()
        url = base.replace("http", "ws") + "/graphql"
        async with websockets.connect(url, subprotocols=["graphql-transport-ws"], origin=SITE) as socket:  # type: ignore[arg-type]
            await socket.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {key}"}}))
            assert await receive(socket) == {"type": "connection_ack"}
            await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": FORM, "variables": subscribe_input("web@example.com")}}))
            assert (await receive(socket))["payload"]["data"]["subscribeContact"]["accepted"] is True
            await receive(socket)  # complete
            await socket.send(json.dumps({"id": "2", "type": "subscribe", "payload": {"query": "subscription { contactsChanged { type contact { email } } }"}}))
            refused = await receive(socket)
            assert refused["type"] == "error" and refused["payload"][0]["extensions"]["code"] == "FORBIDDEN"
        # from another page: the handshake is refused; with no Origin (not a browser), the key is
        with pytest.raises(websockets.exceptions.InvalidStatus) as handshake:
            await websockets.connect(url, subprotocols=["graphql-transport-ws"], origin="https://evil.example.net")  # type: ignore[arg-type]
        assert handshake.value.response.status_code == 403
        async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as socket:
            await socket.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {key}"}}))
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await socket.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


@pytest.mark.parametrize("honeypot", ["http://spam.example", " x "])
async def test_a_filled_honeypot_gets_the_usual_answer_and_nothing_is_written(app: Any, http: httpx.AsyncClient, api: Api, honeypot: str) -> None:
    key = await publishable(app)
    variables = subscribe_input("bot@example.com")
    variables["input"]["honeypot"] = honeypot
    caught = await send(http, key, FORM, variables)
    person = await send(http, key, FORM, subscribe_input("person@example.com") | {"input": {**subscribe_input("person@example.com")["input"], "honeypot": "  "}})
    assert caught.json()["data"] == person.json()["data"] == {"subscribeContact": {"accepted": True, "confirmationPending": True, "userErrors": [], "__typename": "UpsertContactPayload"}}
    emails = [e["node"]["email"] for e in (await api.gql("{ contacts { edges { node { email } } } }"))["contacts"]["edges"]]
    assert emails == ["person@example.com"], "the bot's address was not written; an empty (blank) honeypot is a person"
    # a secret key sees what happened
    skipped = await api.gql('mutation { subscribeContact(input: {contact: {email: "bot2@example.com"}, honeypot: "x"}) { outcome accepted } }')
    assert skipped["subscribeContact"] == {"outcome": "SKIPPED", "accepted": True}


PUBLIC_REFUSED = [
    ({"mobile": "+4790812599"}, "mobile"),  # names another contact: matched by email alone
    ({"externalId": "crm-777"}, "externalId"),
    ({"smsStatus": "SUBSCRIBED"}, "smsStatus"),  # consent comes by double opt-in only
    ({"mobileOptIn": True}, "mobileOptIn"),
    ({"lists": {"add": [{"name": "brand-new-list"}]}}, "lists"),
    ({"properties": [{"name": "tier", "value": "platinum"}]}, "properties"),
]


@pytest.mark.parametrize(("extra", "field"), PUBLIC_REFUSED)
async def test_a_form_sends_email_and_names_only(app: Any, http: httpx.AsyncClient, api: Api, extra: dict[str, Any], field: str) -> None:
    """Anyone may send anything through a public key: nothing that names another contact,
    grants consent or changes the workspace. (Found trying it as an attacker: a victim's mobile
    beside the attacker's email moved the victim's SUBSCRIBED contact to the attacker's address.)"""
    await api.gql('mutation { upsertContact(input: {contact: {email: "victim@corp.example", mobile: "+4790812599", emailStatus: SUBSCRIBED}}) { outcome } }')
    key = await publishable(app)
    variables = {"input": {"contact": {"email": "attacker@evil.example", **extra}}}
    refused = (await send(http, key, FORM, variables)).json()["data"]["subscribeContact"]
    assert refused["accepted"] is False and [(e["field"], e["code"]) for e in refused["userErrors"]] == [(["contact", field], "FORBIDDEN")]
    contacts = await api.gql("{ contacts { edges { node { email mobile emailStatus } } } lists { totalCount } }")
    assert contacts["contacts"]["edges"] == [{"node": {"email": "victim@corp.example", "mobile": "+4790812599", "emailStatus": "SUBSCRIBED"}}]
    assert contacts["lists"]["totalCount"] == 0


async def test_what_the_stored_data_makes_of_a_subscription_is_not_told(app: Any, http: httpx.AsyncClient, api: Api, admin: Api) -> None:
    """A deleted contact's address is refused by the engine (CONTACT_DELETED, naming the contact):
    through a form it is accepted like any other, and the time an answer takes does not tell
    an insert from an update either (each takes at least 50 ms)."""
    made = await api.gql('mutation { upsertContact(input: {contact: {email: "gone@example.com"}}) { contact { id } } }')
    await api.gql("mutation D($id: ID!) { deleteContact(id: $id) { deletedId } }", {"id": made["upsertContact"]["contact"]["id"]})
    key = await publishable(app)
    answers = {}
    for email in ("gone@example.com", "brand-new@example.com", "gone@example.com"):
        answer = await send(http, key, FORM, subscribe_input(email))
        answers[email] = answer.json()["data"]
        assert answer.elapsed.total_seconds() >= 0.05
    assert answers["gone@example.com"] == answers["brand-new@example.com"]
    # The key's form names the events, whatever formType the page sends.
    types = {e["node"]["type"] for e in (await admin.gql(EVENTS, {"f": {}}))["events"]["edges"]}
    assert types == {"subscribeFromApi-newsletter"}


async def test_a_forms_answer_does_not_tell_how_busy_the_form_is(app: Any, http: httpx.AsyncClient, api: Api) -> None:
    """A publishable key's budget is shared by all its visitors: what is left of it (the
    RateLimit fields, `extensions.cost`) would tell anyone how many people sign up."""
    key = await publishable(app)
    answer = await send(http, key, FORM, subscribe_input("quiet@example.com"))
    assert "ratelimit" not in answer.headers and "ratelimit-policy" not in answer.headers
    assert "cost" not in (answer.json().get("extensions") or {})
    own = await api.http.post("/graphql", json={"query": "{ contacts(first: 1) { totalCount } }"}, headers={"Authorization": f"Bearer {api.key}"})
    assert "ratelimit" in own.headers and "cost" in own.json()["extensions"]  # a secret key's own figures stay


async def test_a_key_without_a_form_sends_plain_events_whatever_the_page_says(app: Any, http: httpx.AsyncClient, admin: Api) -> None:
    """The page is the visitor's to edit: its formType would let anyone pick which workflow
    (`subscribeFromApi-vip`) a subscription starts."""
    key = await publishable(app, form=None)
    await send(http, key, FORM, {"input": {"contact": {"email": "p@example.com"}, "formType": "vip"}})
    [event] = [e["node"] for e in (await admin.gql(EVENTS, {"f": {}}))["events"]["edges"]]
    assert event["type"] == "subscribeFromApi" and "formType" not in event["params"]


async def test_one_subscription_a_request_and_no_stored_documents(app: Any, http: httpx.AsyncClient, api: Api) -> None:
    key = await publishable(app)
    aliases = "mutation { " + " ".join(f'a{i}: subscribeContact(input: {{contact: {{email: "a{i}@example.com"}}}}) {{ accepted }}' for i in range(30)) + " }"
    refused = (await send(http, key, aliases)).json()
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN" and "one subscribeContact or confirmContact a request" in refused["errors"][0]["message"]
    # A document the workspace ran by hash: a public key cannot find out that it exists.
    stored = "{ contacts(first: 5) { totalCount } }"
    digest = hashlib.sha256(stored.encode()).hexdigest()
    ran = await api.http.post("/graphql", json={"query": stored, "extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}}}, headers={"Authorization": f"Bearer {api.key}"})
    assert "errors" not in ran.json()
    probe = await http.post("/graphql", json={"extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}}}, headers={"Authorization": f"Bearer {key}", "Origin": SITE})
    assert probe.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


CREATE_KEY = """mutation Make($origins: [String!]!, $form: String, $page: String, $name: String) {
  createPublishableKey(origins: $origins, form: $form, thankYouUrl: $page, name: $name) { key name origins form thankYouUrl userErrors { field code message } }
}"""


async def test_an_admin_makes_a_publishable_key_over_graphql(http: httpx.AsyncClient, admin: Api, api: Api) -> None:
    made = (await admin.gql(CREATE_KEY, {"origins": ["HTTPS://Www.Example.com:443/"], "form": "footer", "page": f"{SITE}/thanks"}))["createPublishableKey"]
    assert made["key"].startswith("cql_pub_") and made["userErrors"] == []
    assert (made["name"], made["origins"], made["form"], made["thankYouUrl"]) == ("publishable-key-3", [SITE], "footer", f"{SITE}/thanks")
    answer = await send(http, made["key"], FORM, subscribe_input("gql@example.com"))
    assert answer.json()["data"]["subscribeContact"]["accepted"] is True
    assert (await send(http, made["key"], FORM, subscribe_input("gql2@example.com"), origin="https://evil.example")).status_code == 403
    # what is wrong is a userError naming the argument; a secret key that is not admin may not
    for variables, field in [
        ({"origins": []}, ["origins"]),
        ({"origins": ["ftp://x.example"]}, ["origins"]),
        ({"origins": [SITE], "form": "two words"}, ["form"]),
        ({"origins": [SITE], "page": "https://evil.example/thanks"}, ["thankYouUrl"]),
        ({"origins": [SITE], "name": made["name"]}, ["name"]),
    ]:
        refused = (await admin.gql(CREATE_KEY, variables))["createPublishableKey"]
        assert refused["key"] is None and [e["field"] for e in refused["userErrors"]] == [field], variables
    denied = await http.post("/graphql", json={"query": CREATE_KEY, "variables": {"origins": [SITE]}}, headers={"Authorization": f"Bearer {api.key}"})
    assert denied.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"


@pytest.mark.parametrize("status", ["UNSUBSCRIBED", "BOUNCED"])
async def test_a_form_leaves_an_unsubscribed_or_bounced_address_so_until_its_owner_confirms(app: Any, http: httpx.AsyncClient, api: Api, admin: Api, status: str) -> None:
    """Anyone may type someone's address into a form: an address that unsubscribed (or
    bounced) stays so, still out of every mailing, until its owner follows the link."""
    key = await publishable(app)
    await api.gql(f'mutation {{ upsertContact(input: {{contact: {{email: "gone@example.com", emailStatus: {status}}}}}) {{ outcome }} }}')
    assert (await send(http, key, FORM, subscribe_input("gone@example.com"))).json()["data"]["subscribeContact"]["accepted"] is True
    one = '{ contacts(filter: {email: "gone@example.com"}, first: 1) { edges { node { emailStatus } } } }'
    assert (await api.gql(one))["contacts"]["edges"][0]["node"] == {"emailStatus": status}
    [event] = [e["node"] for e in (await admin.gql(EVENTS, {"f": {}}))["events"]["edges"] if e["node"]["params"].get("EmailAddress") == "gone@example.com"]
    confirmed = await send(http, key, "mutation($t: String!) { confirmContact(token: $t) { accepted } }", {"t": event["params"]["ConfirmationToken"]})
    assert confirmed.json()["data"]["confirmContact"]["accepted"] is True
    assert (await api.gql(one))["contacts"]["edges"][0]["node"] == {"emailStatus": "SUBSCRIBED"}


async def test_a_forms_names_for_a_known_address_wait_for_its_owners_confirmation(app: Any, http: httpx.AsyncClient, api: Api, admin: Api) -> None:
    """Whoever knows an address may send it through a form; its contact's names and email
    status change only when the address's owner confirms — the token holds the names."""
    key = await publishable(app)
    await api.gql('mutation { upsertContact(input: {contact: {email: "bob@example.com", firstName: "Bob", lastName: "Stone"}}) { outcome } }')
    sent = {"input": {"contact": {"email": "BOB@example.com", "firstName": "Mallory", "lastName": "Hacker"}}}
    assert (await send(http, key, FORM, sent)).json()["data"]["subscribeContact"]["accepted"] is True
    one = '{ contacts(filter: {email: "bob@example.com"}, first: 1) { edges { node { firstName lastName emailStatus } } } }'
    assert (await api.gql(one))["contacts"]["edges"][0]["node"] == {"firstName": "Bob", "lastName": "Stone", "emailStatus": "NO_MARKETING"}
    # a new address takes the form's names at once: there is nobody else's contact to protect
    await send(http, key, FORM, subscribe_input("newcomer@example.com"))
    new = '{ contacts(filter: {email: "newcomer@example.com"}, first: 1) { edges { node { firstName } } } }'
    assert (await api.gql(new))["contacts"]["edges"][0]["node"] == {"firstName": "Ann"}
    # the owner confirms from their mailbox: the names they sent are written, searchable
    [event] = [e["node"] for e in (await admin.gql(EVENTS, {"f": {}}))["events"]["edges"] if e["node"]["params"].get("EmailAddress") == "bob@example.com"]
    confirmed = await send(http, key, "mutation($t: String!) { confirmContact(token: $t) { accepted } }", {"t": event["params"]["ConfirmationToken"]})
    assert confirmed.json()["data"]["confirmContact"]["accepted"] is True
    assert (await api.gql(one))["contacts"]["edges"][0]["node"] == {"firstName": "Mallory", "lastName": "Hacker", "emailStatus": "SUBSCRIBED"}
    found = await api.gql('{ contacts(search: "mallory", first: 5) { edges { node { email } } } }')
    assert found["contacts"]["edges"] == [{"node": {"email": "bob@example.com"}}]
    history = await api.gql('{ contacts(filter: {email: "bob@example.com"}, first: 1) { edges { node { history { edges { node { changes { field old new } } } } } } } }')
    last = history["contacts"]["edges"][0]["node"]["history"]["edges"][-1]["node"]["changes"]
    assert {"field": "firstName", "old": "Bob", "new": "Mallory"} in last and {"field": "emailStatus", "old": "NO_MARKETING", "new": "SUBSCRIBED"} in last
