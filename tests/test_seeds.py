"""The seed documents' own examples, run through ContactQL (docs/user-guide.md, "Coming from other contact APIs")."""

from __future__ import annotations

from typing import Any

from tests.helpers import Api

# seed 000_2c5f2247f7319b12.txt, POST /contacts/insertupdate, as sent (listId, contactId and the
# property ids are the seed's placeholders; the email was mangled in the copy we have).
SEED_000_BODY: dict[str, Any] = {
    "listId": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
    "contactId": 234567,
    "mobileCountryCode": 47,
    "mobileNumber": 90812501,
    "mobileOptIn": True,
    "email": "jennifer@mainbrainer.com",
    "emailOptIn": True,
    "propertyfields": [
        {"propertyid": "3fa85f64-5717-4562-b3fc-2c963f66afa6", "propertyname": "firstname", "propertyvalue": "jennifer"},
        {"propertyname": "lastname", "propertyvalue": "merg"},
        {"propertyname": "interest", "propertyvalue": "ice hockey"},
        {"propertyname": "company", "propertyvalue": "MainBrainer"},
        {"propertyname": "Street", "propertyvalue": "16 Av Street"},
        {"propertyname": "city", "propertyvalue": "Oslo"},
        {"propertyname": "state", "propertyvalue": "Oslo"},
        {"propertyid": "3fa85f64-5717-4562-b3fc-123123d23dds", "propertyvalue": "0236"},
    ],
}


def seed_000_input(body: dict[str, Any], list_id: str | None) -> dict[str, Any]:
    """Seed 000's JSON field for field as UpsertContactInput (names differ only in case)."""
    contact = {
        "id": str(body["contactId"]),
        "mobileCountryCode": body["mobileCountryCode"],
        "mobileNumber": str(body["mobileNumber"]),
        "mobileOptIn": body["mobileOptIn"],
        "email": body["email"],
        "emailOptIn": body["emailOptIn"],
        "properties": [
            {"id": p.get("propertyid"), "name": p.get("propertyname"), "value": p["propertyvalue"]} for p in body["propertyfields"]
        ],
    }
    return {"listId": list_id, "contact": contact}


async def test_seed_000_insert_then_update_by_contact_id_then_email_and_mobile_rules(api: Api) -> None:
    for name in ("interest", "company", "Street", "city", "state"):
        await api.property_field(name)

    # The seed's listId names no list here: LIST_NOT_FOUND, nothing written (seed 003: 404).
    unknown_list = await api.upsert(**seed_000_input(SEED_000_BODY, SEED_000_BODY["listId"]))
    assert [(e["field"], e["code"]) for e in unknown_list["userErrors"]] == [(["listId"], "LIST_NOT_FOUND")]

    list_id = await api.create_list("Seed list")
    created = await api.upsert(**seed_000_input(SEED_000_BODY, list_id))
    assert created["outcome"] == "CREATED"
    assert created["invalidContactIds"] == ["234567"], "no record with that contactId: a new one is created"
    assert created["invalidProperties"] == [
        {"fieldId": "3fa85f64-5717-4562-b3fc-123123d23dds", "name": None, "value": "0236", "reason": "no property with this id 3fa85f64-5717-4562-b3fc-123123d23dds"}
    ]
    contact = created["contact"]
    assert contact["id"] != "234567"
    assert (contact["email"], contact["mobile"], contact["firstName"], contact["lastName"]) == (
        "jennifer@mainbrainer.com", "+4790812501", "jennifer", "merg",
    )  # fmt: skip
    assert contact["emailOptIn"] is True and contact["mobileOptIn"] is True
    assert {p["field"]["name"]: p["value"] for p in contact["properties"]} == {
        "interest": "ice hockey", "company": "MainBrainer", "Street": "16 Av Street", "city": "Oslo", "state": "Oslo",
    }  # fmt: skip
    assert [item["id"] for item in contact["lists"]] == [list_id]

    # "If you're working with a known contact, using the ContactID is preferred."
    by_id = dict(SEED_000_BODY, contactId=int(contact["id"]))
    by_id["propertyfields"] = [{"propertyname": "city", "propertyvalue": "Bergen"}]
    updated = await api.upsert(**seed_000_input(by_id, None))
    assert updated["outcome"] == "UPDATED" and updated["matchedBy"] == "ID"
    assert updated["changedFields"] == ["properties.city"]

    # Only an email: "a record with the specified email and a null mobile number" — not this one.
    email_only = await api.upsert({"email": "jennifer@mainbrainer.com", "firstName": "Jen"})
    assert email_only["outcome"] == "CREATED"
    assert email_only["contact"]["mobile"] is None
    email_again = await api.upsert({"email": "Jennifer@MainBrainer.com", "lastName": "M"})
    assert email_again["outcome"] == "UPDATED" and email_again["contact"]["id"] == email_only["contact"]["id"]

    # Only a mobile: "a record with the specified mobile number and a null email".
    mobile_only = await api.upsert({"mobileCountryCode": 47, "mobileNumber": "90812501"})
    assert mobile_only["outcome"] == "CREATED" and mobile_only["contact"]["email"] is None
    mobile_again = await api.upsert({"mobile": "+4790812501", "firstName": "J"})
    assert mobile_again["contact"]["id"] == mobile_only["contact"]["id"]

    # Both again: the seed's own contact.
    both = await api.upsert({"email": "jennifer@mainbrainer.com", "mobile": "+4790812501", "lastName": "Merg"})
    assert both["matchedBy"] == "EMAIL_AND_MOBILE" and both["contact"]["id"] == contact["id"]
    total = await api.gql("{ contacts { totalCount } }")
    assert total["contacts"]["totalCount"] == 3
