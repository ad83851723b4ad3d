"""subscribeContact / confirmContact: seed 004's subscription form with double opt-in."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from contactql.store.db.tables import token_t
from tests.helpers import CONTACT_FIELDS, Api

SUBSCRIBE = f"""
mutation Sub($input: SubscribeContactInput!) {{
  subscribeContact(input: $input) {{ outcome matchedBy changedFields contact {{ {CONTACT_FIELDS} }} userErrors {{ field code message }} }}
}}
"""
CONFIRM = "mutation C($t: String!) { confirmContact(token: $t) { outcome changedFields contact { id emailStatus confirmed } userErrors { field code } } }"
EVENTS = "query E($f: EventFilter) { events(filter: $f) { totalCount edges { node { id type key contactId params } } } }"

# seed 004's subscribe example body, as ContactQL input
SEED_004_SUBSCRIBE = {
    "contact": {
        "email": "mail@example.com",
        "mobile": "380942583691",
        "firstName": "John",
        "lastName": "Smith",
        "address": {"town": "London", "region": "West", "address": "First str. 1", "postcode": "12345"},
        "lists": {"add": [{"name": "Subscribers"}]},
    },
    "formType": "abc",
}


async def subscribe(api: Api, input_: dict[str, Any]) -> dict[str, Any]:
    return (await api.gql(SUBSCRIBE, {"input": input_}))["subscribeContact"]


async def events(api: Api, **filter_: Any) -> list[dict[str, Any]]:
    return [e["node"] for e in (await api.gql(EVENTS, {"f": filter_}))["events"]["edges"]]


async def test_seed_004_subscribe_creates_a_pending_unconfirmed_contact_and_an_event(api: Api, admin: Api) -> None:
    result = await subscribe(api, SEED_004_SUBSCRIBE)
    assert result["outcome"] == "CREATED"
    contact = result["contact"]
    assert (contact["emailStatus"], contact["confirmed"], contact["source"]) == ("PENDING_CONFIRMATION", False, "SUBSCRIBE")
    assert contact["mobile"] == "+380942583691" and contact["address"]["town"] == "London"
    assert [item["name"] for item in contact["lists"]] == ["Subscribers"]
    [event] = await events(admin)  # only admin keys see the token (see below)
    assert event["type"] == "subscribeFromApi-abc"
    assert event["key"] == contact["id"] == event["contactId"], "seed 004: the event key is the contact id"
    assert set(event["params"]) == {"ContactId", "EmailAddress", "ConfirmationToken", "UnsubscribeToken", "formType"}
    assert event["params"]["ContactId"] == contact["id"] and event["params"]["EmailAddress"] == "mail@example.com"
    assert len(event["params"]["ConfirmationToken"]) >= 22  # ≥ 128 random bits

    confirmed = (await api.gql(CONFIRM, {"t": event["params"]["ConfirmationToken"]}))["confirmContact"]
    assert confirmed["outcome"] == "UPDATED" and confirmed["changedFields"] == ["emailStatus", "confirmed"]
    assert confirmed["contact"] == {"id": contact["id"], "emailStatus": "SUBSCRIBED", "confirmed": True}
    again = (await api.gql(CONFIRM, {"t": event["params"]["ConfirmationToken"]}))["confirmContact"]
    assert again["outcome"] is None and again["userErrors"] == [{"field": ["token"], "code": "NOT_FOUND"}]


async def test_only_admin_keys_see_the_confirmation_and_unsubscribe_tokens(api: Api, admin: Api, reader: Api) -> None:
    """With the tokens, anyone could confirm or end a subscription on the subscriber's behalf."""
    await subscribe(api, {"contact": {"email": "t@example.com"}, "formType": "news"})
    for key in (api, reader):
        [event] = await events(key)
        assert set(event["params"]) == {"ContactId", "EmailAddress", "formType"}
    [event] = await events(admin)
    assert set(event["params"]) == {"ContactId", "EmailAddress", "formType", "ConfirmationToken", "UnsubscribeToken"}


async def test_tokens_are_stored_only_as_digests(app: Any, api: Api, admin: Api) -> None:
    await subscribe(api, {"contact": {"email": "t@example.com"}})
    [event] = await events(admin)
    stored = await app.state.services.db.read(lambda conn: conn.execute(sa.select(token_t)).all())
    assert len(stored) == 1
    assert event["params"]["ConfirmationToken"] not in {str(v) for row in stored for v in row}


async def test_an_unknown_token_is_not_found(api: Api) -> None:
    result = (await api.gql(CONFIRM, {"t": "not-a-token"}))["confirmContact"]
    assert result["userErrors"] == [{"field": ["token"], "code": "NOT_FOUND"}]


async def test_existing_contacts_get_the_update_event_and_subscribed_is_never_downgraded(api: Api) -> None:
    made = await api.upsert({"email": "sub@example.com", "emailOptIn": True})
    result = await subscribe(api, {"contact": {"email": "sub@example.com", "firstName": "S"}})
    assert result["outcome"] == "UPDATED" and result["matchedBy"] == "EMAIL_OR_MOBILE"
    assert result["contact"]["emailStatus"] == "SUBSCRIBED"
    assert result["contact"]["id"] == made["contact"]["id"]
    [event] = await events(api)
    assert event["type"] == "subscribeUpdateFromApi"
    assert "ConfirmationToken" not in event["params"], "nothing to confirm for a subscribed email"


async def test_subscribing_by_phone_only_has_no_email_address_param(api: Api) -> None:
    result = await subscribe(api, {"contact": {"mobile": "+4790000001"}, "formType": "sms-form"})
    assert result["contact"]["emailStatus"] == "NO_MARKETING"
    [event] = await events(api)
    assert event["type"] == "subscribeFromApi-sms-form"
    assert set(event["params"]) == {"ContactId", "formType"}


async def test_an_unchanged_existing_contact_still_gets_its_event(api: Api) -> None:
    await subscribe(api, {"contact": {"mobile": "+4790000002"}})
    again = await subscribe(api, {"contact": {"mobile": "+4790000002"}})
    assert again["outcome"] == "UNCHANGED"
    assert [e["type"] for e in await events(api)] == ["subscribeFromApi", "subscribeUpdateFromApi"]


@pytest.mark.parametrize(
    ("input_", "error"),
    [
        ({"contact": {"email": "a@example.com", "emailStatus": "SUBSCRIBED"}}, (["contact", "emailStatus"], "INVALID_INPUT")),
        ({"contact": {"email": "a@example.com", "emailOptIn": True}}, (["contact", "emailOptIn"], "INVALID_INPUT")),
        ({"contact": {"email": "a@example.com"}, "formType": "has space"}, (["formType"], "INVALID_INPUT")),
        ({"contact": {"email": "bad"}}, (["contact", "email"], "INVALID_EMAIL")),
    ],
)
async def test_refused_subscriptions(api: Api, input_: dict[str, Any], error: tuple[list[str], str]) -> None:
    result = await subscribe(api, input_)
    assert result["outcome"] is None
    assert [(e["field"], e["code"]) for e in result["userErrors"]] == [error]
    assert await events(api) == []
