"""EventOptions on upserts and batches, the events query, and event webhook endpoints."""

from __future__ import annotations

import json
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from tests.helpers import Api
from tests.test_batches import submit, wait_finished
from tests.test_subscribe import EVENTS, events

ENDPOINT = """
mutation E($url: String!, $types: [String!]!) {
  createWebhookEndpoint(url: $url, eventTypes: $types) { endpoint { id url eventTypes } userErrors { field code message } }
}
"""


async def test_on_create_and_on_update_events_per_contact(api: Api) -> None:
    options = {"events": {"onCreate": ["newContact"], "onUpdate": ["contactChanged", "sync-crm"]}}
    made = await api.upsert({"email": "e@example.com", "mobile": "+4790000001"}, **options)
    await api.upsert({"email": "e@example.com", "mobile": "+4790000001"}, **options)  # UNCHANGED: no event
    await api.upsert({"email": "e@example.com", "mobile": "+4790000001", "firstName": "E"}, **options)
    found = await events(api)
    assert [e["type"] for e in found] == ["newContact", "contactChanged", "sync-crm"]
    first = found[0]
    assert first["key"] == "e@example.com", "seed 004: the email is the key of other events"
    assert first["params"] == {"ContactId": made["contact"]["id"], "EmailAddress": "e@example.com", "SMS": "+4790000001"}
    assert [e["type"] for e in await events(api, type="sync-crm")] == ["sync-crm"]
    assert len(await events(api, contactId=made["contact"]["id"])) == 3
    assert await events(api, contactId="999999") == []


async def test_phone_only_contacts_are_keyed_by_mobile(api: Api) -> None:
    await api.upsert({"mobile": "+4790000002"}, events={"onCreate": ["newContact"]})
    [event] = await events(api)
    assert event["key"] == "+4790000002" and event["params"]["EmailAddress"] == ""


async def test_batch_items_write_events_and_failed_items_none(api: Api) -> None:
    batch = (await submit(api, [{"email": "b1@example.com"}, {"email": "bad"}, {"email": "b2@example.com"}], events={"onCreate": ["newContact"]}))["batch"]
    await wait_finished(api, batch["id"])
    assert sorted(e["key"] for e in await events(api)) == ["b1@example.com", "b2@example.com"]


@pytest.mark.parametrize("name", ["has space", "x" * 65, "émoji", ""])
async def test_event_type_names_are_checked(api: Api, name: str) -> None:
    result = await api.upsert({"email": "x@example.com"}, events={"onCreate": [name]})
    assert [(e["field"], e["code"]) for e in result["userErrors"]] == [(["events", "onCreate", "0"], "INVALID_INPUT")]
    assert await events(api) == []


async def test_events_since_and_paging(api: Api) -> None:
    for i in range(5):
        await api.upsert({"email": f"p{i}@example.com"}, events={"onCreate": ["newContact"]})
    page = (await api.gql("{ events(first: 2) { totalCount edges { node { key } } pageInfo { hasNextPage endCursor } } }"))["events"]
    assert page["totalCount"] == 5 and page["pageInfo"]["hasNextPage"]
    rest = (await api.gql("query R($a: String) { events(first: 10, after: $a) { edges { node { key } } } }", {"a": page["pageInfo"]["endCursor"]}))["events"]
    assert [e["node"]["key"] for e in page["edges"] + rest["edges"]] == [f"p{i}@example.com" for i in range(5)]
    future = await api.gql('{ events(filter: {since: "2999-01-01T00:00:00+00:00"}) { totalCount } }')
    assert future["events"]["totalCount"] == 0


async def test_event_webhooks_deliver_subscribed_types_signed(live: tuple[Any, Api, str], receiver: Any) -> None:
    app, api, secret = live
    hook = await receiver([200])
    made = (await api.gql(ENDPOINT, {"url": hook.url, "types": ["newContact"]}))["createWebhookEndpoint"]
    assert made["userErrors"] == [] and made["endpoint"]["eventTypes"] == ["newContact"]
    everything = await receiver([200])
    await api.gql(ENDPOINT, {"url": everything.url, "types": ["*"]})

    await api.upsert({"email": "w@example.com"}, events={"onCreate": ["newContact"], "onUpdate": ["changed"]})
    await api.upsert({"email": "w@example.com", "firstName": "W"}, events={"onCreate": ["newContact"], "onUpdate": ["changed"]})
    await app.state.webhook_sender.settled()  # it has sent all that is due: nothing more arrives
    assert [json.loads(body)["type"] for _, body in hook.calls] == ["newContact"]
    assert sorted(json.loads(body)["type"] for _, body in everything.calls) == ["changed", "newContact"]
    headers, body = hook.calls[0]
    payload = Webhook(secret).verify(body, headers)
    stored = (await api.gql(EVENTS, {"f": {"type": "newContact"}}))["events"]["edges"][0]["node"]
    assert payload["eventId"] == stored["id"] and payload["params"] == stored["params"] and payload["key"] == "w@example.com"

    listed = (await api.gql("{ webhookEndpoints { id url eventTypes } }"))["webhookEndpoints"]
    assert {e["url"] for e in listed} == {hook.url, everything.url}
    deleted = await api.gql("mutation D($id: ID!) { deleteWebhookEndpoint(id: $id) { deletedId userErrors { code } } }", {"id": made["endpoint"]["id"]})
    assert deleted["deleteWebhookEndpoint"] == {"deletedId": made["endpoint"]["id"], "userErrors": []}


@pytest.mark.parametrize(
    ("url", "types", "field"),
    [
        ("https://10.0.0.1/hook", ["a"], ["url"]),
        ("http://93.184.216.34/hook", ["a"], ["url"]),
        ("https://93.184.216.34/hook", [], ["eventTypes"]),
        ("https://93.184.216.34/hook", ["bad type"], ["eventTypes", "0"]),
    ],
)
async def test_refused_endpoints(admin: Api, url: str, types: list[str], field: list[str]) -> None:
    result = (await admin.gql(ENDPOINT, {"url": url, "types": types}))["createWebhookEndpoint"]
    assert result["endpoint"] is None
    assert [(e["field"], e["code"]) for e in result["userErrors"]] == [(field, "INVALID_INPUT")]


async def test_only_admin_keys_manage_endpoints(api: Api) -> None:
    errors = await api.errors(ENDPOINT, {"url": "https://93.184.216.34/hook", "types": ["a"]})
    assert errors[0]["extensions"]["code"] == "FORBIDDEN"


async def test_the_signed_event_webhook_carries_the_confirmation_token(live: tuple[Any, Api, str], receiver: Any) -> None:
    """Where the workflow that sends the confirmation email gets its token from."""
    app, admin, secret = live
    hook = await receiver([200])
    await admin.gql(ENDPOINT, {"url": hook.url, "types": ["subscribeFromApi"]})
    subscribed = await admin.gql(
        "mutation S($input: SubscribeContactInput!) { subscribeContact(input: $input) { contact { id } } }",
        {"input": {"contact": {"email": "sub@example.com"}}},
    )
    await app.state.webhook_sender.settled()
    headers, body = hook.calls[0]
    payload = Webhook(secret).verify(body, headers)
    token = payload["params"]["ConfirmationToken"]
    confirmed = await admin.gql("mutation C($t: String!) { confirmContact(token: $t) { contact { id emailStatus } } }", {"t": token})
    assert confirmed["confirmContact"]["contact"] == {"id": subscribed["subscribeContact"]["contact"]["id"], "emailStatus": "SUBSCRIBED"}
