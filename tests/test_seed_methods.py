"""Each seed method of the "Coming from other contact APIs" table (docs/user-guide.md), with the seed's own example body.

Seed 000's insertupdate is tests/test_seeds.py; seed 004's subscribe is tests/test_subscribe.py,
its static segments tests/test_segments.py; this module has the others.
"""

from __future__ import annotations

import asyncio
from typing import Any

from standardwebhooks.webhooks import Webhook

from tests.helpers import UPSERT, Api
from tests.test_batches import status, submit, wait_finished
from tests.test_subscribe import events


async def test_seed_001_batch_with_webhook_reports_inserted_updated_skipped(live: tuple[Any, Api, str], receiver: Any) -> None:
    _, api, secret = live
    hook = await receiver([200])
    list_id = await api.create_list("Synced")
    await api.property_field("interest")
    existing = await api.upsert({"mobileCountryCode": 47, "mobileNumber": "90812502", "email": "sync2@example.com"})
    # seed 001's request sample, its placeholders given values
    body = {
        "listId": list_id,
        "createUpdateContacts": [
            {"contactId": 0, "mobileCountryCode": 47, "mobileNumber": 90812501, "mobileOptIn": True, "email": "sync1@example.com",
             "emailOptIn": True, "propertyFields": [{"propertyName": "interest", "propertyValue": "sailing"}]},
            {"contactId": int(existing["contact"]["id"]), "emailOptIn": False},
            {"contactId": 0, "email": "string"},
        ],
        "webHookUrl": hook.url,
    }  # fmt: skip
    contacts = [
        {k: v for k, v in {
            "id": str(c["contactId"]) if c["contactId"] else None,
            "mobileCountryCode": c.get("mobileCountryCode"), "mobileNumber": str(c["mobileNumber"]) if "mobileNumber" in c else None,
            "mobileOptIn": c.get("mobileOptIn"), "email": c.get("email"), "emailOptIn": c.get("emailOptIn"),
            "properties": [{"name": p["propertyName"], "value": p["propertyValue"]} for p in c.get("propertyFields", [])] or None,
        }.items() if v is not None}
        for c in body["createUpdateContacts"]
    ]  # fmt: skip
    batch = (await submit(api, contacts, listId=body["listId"], webhookUrl=body["webHookUrl"]))["batch"]
    assert batch["status"] == "QUEUED", "seed 001: 202, processed asynchronously"
    await wait_finished(api, batch["id"])
    for _ in range(100):
        if hook.calls:
            break
        await asyncio.sleep(0.05)
    payload = Webhook(secret).verify(hook.calls[0][1], hook.calls[0][0])
    assert payload["created"]["count"] == 1 and payload["updated"] == {"count": 1, "contactIds": [existing["contact"]["id"]]}
    assert payload["failed"] == {"count": 1, "indexes": [2]}
    assert "skipped" in payload


async def test_seed_002_add_or_update_contact(api: Api) -> None:
    ten = await api.create_list("Group 10")
    eleven = await api.create_list("Group 11")
    acme = (await api.gql('mutation { createCompany(name: "Acme") { company { id } } }'))["createCompany"]["company"]["id"]
    await api.property_field("Industry", "SELECT", ["Retail", "Energy"])
    # "Adding a contact": no id, so firstName, lastName and email are required
    add = {
        "externalId": "ext-7", "firstName": "Kari", "lastName": "Nordmann", "email": "kari@example.com", "mobile": "+4792222222",
        "lists": {"set": [{"id": eleven}]}, "properties": [{"name": "industry", "value": "energy"}], "companies": [acme],
        "emailStatus": "SUBSCRIBED", "smsStatus": "NO_MARKETING", "privacyConsent": True,
        "externalUrls": [{"ref": "crm", "url": "https://crm.example.com/7", "label": "CRM"}],
    }  # fmt: skip
    match = {"rules": ["ID", "NAME_AND_EMAIL"], "requireOnCreate": ["FIRST_NAME", "LAST_NAME", "EMAIL"]}
    added = await api.upsert(add, match=match)
    assert added["outcome"] == "CREATED" and added["contact"]["properties"][0]["value"] == "Energy"
    missing = await api.upsert({"email": "nameless@example.com"}, match=match)
    assert [e["field"] for e in missing["userErrors"]] == [["contact", "firstName"], ["contact", "lastName"]]
    # "Updating a contact": groups set to only group 10, destroying the existing value
    updated = await api.upsert({"id": added["contact"]["id"], "lists": {"set": [{"id": ten}]}, "externalUrls": None}, match=match)
    assert [item["name"] for item in updated["contact"]["lists"]] == ["Group 10"]
    assert updated["contact"]["externalUrls"] == [], "externalUrls: null removes them all"
    # updateIfExists: update by firstName, lastName and email when the id is missing
    again = await api.upsert({"firstName": "KARI", "lastName": "nordmann", "email": "kari@example.com", "smsStatus": "FAILED"}, match=match)
    assert again["matchedBy"] == "NAME_AND_EMAIL" and again["contact"]["id"] == added["contact"]["id"]


async def test_seed_003_contact_in_a_list_with_match_and_custom_events(api: Api) -> None:
    await api.property_field("ReferanceAccountId", "NUMBER")
    list_id = await api.create_list("Accounts")
    outside = await api.upsert({"email": "pgannon@customerminds.com", "properties": [{"name": "ReferanceAccountId", "value": "123456"}]})
    inside = [
        (await api.upsert({"email": "pgannon@customerminds.com", "mobile": f"+35387123456{i}", "properties": [{"name": "ReferanceAccountId", "value": "123456"}]}, listId=list_id))["contact"]["id"]
        for i in range(2)
    ]
    # PUT ~/contactLists/{id}/contact?match=ReferanceAccountId,Email&customevents=SendWelcomeEmail,SendEventInvite
    put = {"ReferanceAccountId": 123456, "Email": "pgannon@customerminds.com", "Mobile": "353871234567"}
    result = await api.upsert(
        {"properties": [{"name": k, "value": str(v)} for k, v in put.items() if k != "Mobile"], "mobile": put["Mobile"]},
        listId=list_id,
        match={"rules": ["PROPERTIES"], "properties": ["ReferanceAccountId", "Email"], "onMultipleMatches": "UPDATE_ALL"},
        events={"onCreate": ["SendWelcomeEmail", "SendEventInvite"], "onUpdate": ["SendWelcomeEmail", "SendEventInvite"]},
    )
    assert result["userErrors"][0]["code"] == "DUPLICATE_IDENTITY", "two contacts cannot both take one (email, mobile) pair"
    # PATCH ~/contactLists/{id}/contact?match=ReferanceAccountId,Email&ReferanceAccountId=123456&Email=pgannon@…
    patch = await api.upsert(
        {"firstName": "Pat"},
        listId=list_id,
        match={
            "rules": ["PROPERTIES"], "properties": ["ReferanceAccountId", "Email"], "onMultipleMatches": "UPDATE_ALL",
            "values": [{"name": "ReferanceAccountId", "value": "123456"}, {"name": "Email", "value": "pgannon@customerminds.com"}],
        },
        events={"onUpdate": ["SendWelcomeEmail", "SendEventInvite"]},
    )  # fmt: skip
    assert patch["outcome"] == "UPDATED" and sorted(c["id"] for c in patch["contacts"]) == sorted(inside)
    assert (await api.contact(outside["contact"]["id"]))["firstName"] is None, "only contacts of that list"
    assert sorted(e["type"] for e in await events(api)) == ["SendEventInvite"] * 2 + ["SendWelcomeEmail"] * 2
    missing = await api.upsert({"email": "x@example.com"}, listId="3fa85f64-5717-4562-b3fc-2c963f66afa6")
    assert missing["userErrors"][0]["code"] == "LIST_NOT_FOUND", "seed 003: 404 when the list does not exist"


async def test_seed_004_bulk_add_update_with_dedupe_groups_restore_and_events(api: Api) -> None:
    customers = await api.create_list("Customers")
    subscribers = await api.create_list("Subscribers")
    old = await api.upsert({"email": "mail@example.com", "externalId": "cust-1", "lists": {"add": [{"id": subscribers}]}})
    gone = await api.upsert({"email": "gone@example.com"})
    await api.gql("mutation D($id: ID!) { deleteContact(id: $id) { deletedId } }", {"id": gone["contact"]["id"]})
    # seed 004's "Add/Update Contacts" body: channels, fields, dedupeOn, groupNames, groupNamesExclude, restoreDeleted, eventKeyForNewContacts
    contacts = [
        {"externalId": "cust-1", "email": "mail@example.com", "mobile": "380942583691", "firstName": "John", "lastName": "Smith",
         "address": {"town": "London", "region": "West", "address": "First str. 1", "postcode": "12345"},
         "lists": {"add": [{"name": "Customers"}], "remove": [{"name": "Subscribers"}]}},
        {"email": "gone@example.com", "lists": {"add": [{"name": "Customers"}]}},
        {"email": "new@example.com", "lists": {"add": [{"name": "Customers"}], "remove": [{"name": "Subscribers"}]}},
    ]  # fmt: skip
    batch = (await submit(api, contacts, match={"rules": ["EXTERNAL_ID", "EMAIL"]}, restoreDeleted=False, events={"onCreate": ["newContact"]}))["batch"]
    done = await wait_finished(api, batch["id"])
    assert (done["created"], done["updated"], done["skipped"]) == (1, 1, 1)
    results = [e["node"] for e in (await status(api, batch["id"]))["results"]["edges"]]
    assert results[0]["matchedBy"] == "EXTERNAL_ID" and results[0]["contactIds"] == [old["contact"]["id"]]
    assert results[1]["outcome"] == "SKIPPED" and results[1]["errors"][0]["code"] == "CONTACT_DELETED"
    john = await api.contact(old["contact"]["id"])
    assert [item["id"] for item in john["lists"]] == [customers], "groupNames added, groupNamesExclude removed"
    new_events = await events(api)
    assert [(e["type"], e["key"]) for e in new_events] == [("newContact", "new@example.com")]
    assert set(new_events[0]["params"]) == {"ContactId", "EmailAddress", "SMS"}
    # import status with failedContacts: the failed results of the batch
    failed = (await status(api, batch["id"], failedOnly=True))["results"]
    assert failed["totalCount"] == 0
    restored = (await submit(api, [contacts[1]], match={"rules": ["EMAIL"]}, restoreDeleted=True))["batch"]
    assert (await wait_finished(api, restored["id"]))["updated"] == 1


async def test_seed_004_add_contact_updates_by_email_or_phone(api: Api) -> None:
    first = await api.upsert({"mobile": "+4793333333"})
    added = await api.upsert({"email": "add@example.com", "mobile": "+4793333333"}, match={"rules": ["EMAIL_OR_MOBILE"]})
    assert added["outcome"] == "UPDATED" and added["contact"]["id"] == first["contact"]["id"]
    assert added["contact"]["confirmed"] is True, "created contacts are already confirmed"


async def test_seed_004_update_contact_by_id_only(api: Api) -> None:
    made = await api.upsert({"email": "put@example.com"})
    put = await api.upsert({"id": made["contact"]["id"], "lastName": "Put"}, match={"rules": ["ID"], "onNoMatch": "FAIL"})
    assert put["outcome"] == "UPDATED"
    unknown = await api.upsert({"id": "123456789", "email": "other@example.com"}, match={"rules": ["ID"], "onNoMatch": "FAIL"})
    assert unknown["userErrors"][0]["code"] == "NOT_FOUND"
    assert (await api.gql("{ contacts { totalCount } }"))["contacts"]["totalCount"] == 1, "it never creates a contact"


async def test_seed_004_creation_source(api: Api) -> None:
    one = await api.upsert({"email": "src@example.com"})
    assert one["contact"]["source"] == "API"
    data = await api.gql(UPSERT, {"input": {"contact": {"email": "src@example.com", "firstName": "S"}}})
    assert data["upsertContact"]["contact"]["source"] == "API", "the source is how it was created, not last written"
