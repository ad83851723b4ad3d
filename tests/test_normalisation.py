"""Email and phone normalisation, statuses, omitted-vs-null, and the userError table for bad input."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import Api


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ({"mobile": "+4790812501"}, "+4790812501"),
        ({"mobile": "004790812501"}, "+4790812501"),
        ({"mobile": "4790812501"}, "+4790812501"),
        ({"mobile": "+47 908 12 501"}, "+4790812501"),
        ({"mobile": "380942583691"}, "+380942583691"),  # seed 004's example
        ({"mobileCountryCode": 47, "mobileNumber": "90812501"}, "+4790812501"),  # seed 000's example
        ({"mobileCountryCode": 44, "mobileNumber": "07911 123456"}, "+447911123456"),
    ],
)
async def test_mobile_is_stored_as_e164(api: Api, given: dict[str, Any], stored: str) -> None:
    result = await api.upsert({"email": "m@example.com", **given})
    assert result["userErrors"] == []
    assert result["contact"]["mobile"] == stored


async def test_mobile_country_code_is_derived_from_the_number(api: Api) -> None:
    result = await api.upsert({"mobile": "+4790812501"})
    assert result["contact"]["mobileCountryCode"] == 47
    result = await api.upsert({"mobile": "+380942583691"})
    assert result["contact"]["mobileCountryCode"] == 380


async def test_email_is_trimmed_and_lower_cased(api: Api) -> None:
    result = await api.upsert({"email": "  Jennifer.Merg@MainBrainer.COM "})
    assert result["contact"]["email"] == "jennifer.merg@mainbrainer.com"


async def test_a_field_also_given_as_a_property_in_another_form_is_the_same_value(api: Api) -> None:
    result = await api.upsert(
        {
            "email": "Ase@Example.com",
            "mobile": "+47 908 12 501",
            "properties": [{"name": "email", "value": "ase@example.com"}, {"name": "MOBILE", "value": "004790812501"}],
        }
    )
    assert result["userErrors"] == []
    assert (result["contact"]["email"], result["contact"]["mobile"]) == ("ase@example.com", "+4790812501")


@pytest.mark.parametrize(
    ("contact", "errors"),
    [
        ({"email": "not-an-email"}, [(["contact", "email"], "INVALID_EMAIL")]),
        ({"email": "a@b"}, [(["contact", "email"], "INVALID_EMAIL")]),
        ({"mobile": "+47123"}, [(["contact", "mobile"], "INVALID_PHONE")]),
        ({"mobile": "call me"}, [(["contact", "mobile"], "INVALID_PHONE")]),
        ({"mobileCountryCode": 47}, [(["contact", "mobileNumber"], "INVALID_INPUT")]),
        ({"mobileNumber": "90812501"}, [(["contact", "mobileCountryCode"], "INVALID_INPUT")]),
        ({"mobileCountryCode": 999, "mobileNumber": "90812501"}, [(["contact", "mobileNumber"], "INVALID_PHONE")]),
        (
            {"mobile": "+4790812501", "mobileCountryCode": 47, "mobileNumber": "90812502"},
            [(["contact", "mobile"], "INVALID_INPUT")],
        ),
        ({"id": "abc", "email": "x@example.com"}, [(["contact", "id"], "INVALID_INPUT")]),
        ({"email": "x@example.com", "emailOptIn": True, "emailStatus": "UNSUBSCRIBED"}, [(["contact", "emailOptIn"], "INVALID_INPUT")]),
        ({"email": "x@example.com", "mobileOptIn": False, "smsStatus": "SUBSCRIBED"}, [(["contact", "mobileOptIn"], "INVALID_INPUT")]),
        ({"email": "x@example.com", "firstName": "x" * 256}, [(["contact", "firstName"], "INVALID_INPUT")]),
        ({"email": "x@example.com", "properties": [{"value": "v"}]}, [(["contact", "properties", "0"], "INVALID_INPUT")]),
        (
            {"externalId": "e1", "properties": [{"name": "email", "value": "bad"}]},
            [(["contact", "properties", "0", "value"], "INVALID_EMAIL")],
        ),
        (
            {"email": "x@example.com", "properties": [{"name": "Email", "value": "y@example.com"}]},
            [(["contact", "properties", "0", "value"], "INVALID_INPUT")],
        ),
        (
            {"email": "x@example.com", "externalUrls": [{"ref": "a", "url": "http://insecure.example.com"}]},
            [(["contact", "externalUrls", "0", "url"], "INVALID_INPUT")],
        ),
        (
            {"email": "x@example.com", "externalUrls": [{"ref": str(i), "url": f"https://e.com/{i}"} for i in range(4)]},
            [(["contact", "externalUrls"], "TOO_MANY_EXTERNAL_URLS")],
        ),
        (
            {"email": "x@example.com", "lists": {"set": [{"name": "a"}], "add": [{"name": "b"}]}},
            [(["contact", "lists"], "INVALID_INPUT")],
        ),
        # every problem of the item at once, not just the first
        (
            {"email": "bad", "mobile": "bad", "lastName": "y" * 300},
            [
                (["contact", "lastName"], "INVALID_INPUT"),
                (["contact", "email"], "INVALID_EMAIL"),
                (["contact", "mobile"], "INVALID_PHONE"),
            ],
        ),
    ],
)
async def test_bad_input_gives_user_errors_and_writes_nothing(api: Api, contact: dict[str, Any], errors: list[Any]) -> None:
    result = await api.upsert(contact)
    assert result["outcome"] is None
    assert result["contact"] is None
    assert [(e["field"], e["code"]) for e in result["userErrors"]] == errors
    assert all(e["message"] for e in result["userErrors"])
    total = await api.gql("{ contacts { totalCount } }")
    assert total["contacts"]["totalCount"] == 0


@pytest.mark.parametrize(
    ("given", "email_status", "opt_in"),
    [
        ({}, "NO_MARKETING", False),
        ({"emailOptIn": True}, "SUBSCRIBED", True),
        ({"emailOptIn": False}, "UNSUBSCRIBED", False),
        ({"emailStatus": "BOUNCED"}, "BOUNCED", False),
        ({"emailStatus": "BOUNCED", "emailOptIn": False}, "BOUNCED", False),
        ({"emailStatus": "SUBSCRIBED", "emailOptIn": True}, "SUBSCRIBED", True),
        ({"emailOptIn": None}, "NO_MARKETING", False),
    ],
)
async def test_email_status_and_opt_in_map_onto_each_other(api: Api, given: dict[str, Any], email_status: str, opt_in: bool) -> None:
    result = await api.upsert({"email": "s@example.com", **given})
    assert result["contact"]["emailStatus"] == email_status
    assert result["contact"]["emailOptIn"] is opt_in
    assert result["contact"]["smsStatus"] == "NO_MARKETING"


async def test_omitted_fields_stay_and_null_clears(api: Api) -> None:
    made = await api.upsert(
        {
            "email": "t@example.com",
            "firstName": "Tor",
            "lastName": "Lie",
            "mobileOptIn": True,
            "privacyConsent": True,
            "address": {"town": "Oslo", "postcode": "0150"},
        }
    )
    contact_id = made["contact"]["id"]
    updated = await api.upsert({"id": contact_id, "lastName": None, "address": {"town": None}})
    assert updated["outcome"] == "UPDATED"
    assert updated["changedFields"] == ["lastName", "address.town"]
    contact = await api.contact(contact_id)
    assert contact["firstName"] == "Tor"
    assert contact["lastName"] is None
    assert contact["smsStatus"] == "SUBSCRIBED"
    assert contact["mobileOptIn"] is True
    assert contact["privacyConsent"] is True
    assert contact["address"] == {"town": None, "region": None, "address": None, "postcode": "0150"}
    cleared = await api.upsert({"id": contact_id, "address": None, "firstName": "  "})
    assert cleared["changedFields"] == ["firstName", "address.postcode"]
    assert (await api.contact(contact_id))["address"] is None


async def test_status_changes_on_update_are_changed_fields(api: Api) -> None:
    made = await api.upsert({"email": "u@example.com"})
    result = await api.upsert({"id": made["contact"]["id"], "emailOptIn": True, "smsStatus": "FAILED"})
    assert result["changedFields"] == ["emailStatus", "smsStatus"]
    assert result["contact"]["emailStatus"] == "SUBSCRIBED"
    assert result["contact"]["smsStatus"] == "FAILED"


async def test_new_contacts_are_confirmed_api_contacts_created_by_the_key(api: Api) -> None:
    result = await api.upsert({"email": "v@example.com"})
    assert result["contact"]["confirmed"] is True
    assert result["contact"]["source"] == "API"
    assert result["contact"]["createdBy"] == "test-writer"
