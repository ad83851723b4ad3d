"""Phone numbers: valid numbers only, and national forms read in a country the client gives."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import Api
from tests.test_batches import status, submit, wait_finished
from tests.test_import import upload

ELSEWHERE = "(a number of another country is written with + and its country code)"
HINT = "give its country: defaultCountry on the request, the workspace's defaultCountry, or a country column in a CSV file"
WORKSPACE = "mutation W($input: UpdateWorkspaceInput!) { updateWorkspace(input: $input) { workspace { defaultCountry } userErrors { field code message } } }"


@pytest.mark.parametrize(
    ("mobile", "country", "stored"),
    [
        ("953 45 259", "NO", "+4795345259"),  # a Norwegian mobile, national
        ("(646) 755-1998", "US", "+16467551998"),
        ("07400 123456", "GB", "+447400123456"),  # with its trunk 0
        ("+47 953 45 259", "US", "+4795345259"),  # international wins over the default
        ("004795345259", None, "+4795345259"),
        ("4790812501", None, "+4790812501"),  # digits that start with a country code
        ("4795345259", "NO", "+4795345259"),  # a number of the country, with its calling code
    ],
)
async def test_numbers_are_read_in_the_country_given(api: Api, mobile: str, country: str | None, stored: str) -> None:
    options = {} if country is None else {"defaultCountry": country.lower()}
    result = await api.upsert({"email": "p@example.com", "mobile": mobile}, **options)
    assert result["userErrors"] == [] and result["contact"]["mobile"] == stored


@pytest.mark.parametrize(
    ("mobile", "country", "says"),
    [
        ("953 45 259", None, f"not a valid phone number with a country code; if it is a national number, {HINT}"),  # +95345259 is no number
        ("(646) 755-1998", None, f"'(646) 755-1998' is a national number; {HINT}"),  # would have been New Zealand
        ("07400 123456", None, f"'07400 123456' is a national number; {HINT}"),
        ("07700 900123", "GB", f"not a valid phone number of GB {ELSEWHERE}"),  # Ofcom's drama range: possible, not valid
        ("646 755 1998", "NO", f"not a valid phone number of NO {ELSEWHERE}"),  # not moved to New Zealand (+64)
        ("380942583691", "NO", f"not a valid phone number of NO {ELSEWHERE}"),  # Ukrainian: needs its +
        ("+47 123", None, "not a valid phone number"),
        ("+1 000 000 0000", None, "not a valid phone number"),
    ],
)
async def test_numbers_that_are_not_valid_or_lack_their_country_are_refused(api: Api, mobile: str, country: str | None, says: str) -> None:
    options = {} if country is None else {"defaultCountry": country}
    result = await api.upsert({"email": "p@example.com", "mobile": mobile}, **options)
    assert result["outcome"] is None
    assert [(e["field"], e["code"], e["message"]) for e in result["userErrors"]] == [(["contact", "mobile"], "INVALID_PHONE", f"invalid phone number: {says}")]


@pytest.mark.parametrize("country", ["XX", "Norway", "N", "NOR", "47"])
async def test_a_default_country_must_be_an_iso_code(api: Api, admin: Api, country: str) -> None:
    result = await api.upsert({"email": "p@example.com", "mobile": "953 45 259"}, defaultCountry=country)
    assert [(e["field"], e["code"]) for e in result["userErrors"]] == [(["defaultCountry"], "INVALID_INPUT")]
    refused = (await admin.gql(WORKSPACE, {"input": {"defaultCountry": country}}))["updateWorkspace"]
    assert refused["workspace"] is None and [e["field"] for e in refused["userErrors"]] == [["input", "defaultCountry"]]


async def test_the_workspace_country_is_used_until_a_request_gives_another(api: Api, admin: Api, reader: Api) -> None:
    assert (await reader.errors(WORKSPACE, {"input": {"defaultCountry": "NO"}}))[0]["extensions"]["code"] == "FORBIDDEN"
    assert (await admin.gql(WORKSPACE, {"input": {"defaultCountry": "no"}}))["updateWorkspace"]["workspace"] == {"defaultCountry": "NO"}
    assert (await api.gql("{ workspace { defaultCountry } }"))["workspace"]["defaultCountry"] == "NO"
    made = await api.upsert({"email": "n@example.com", "mobile": "953 45 259"})
    assert made["contact"]["mobile"] == "+4795345259"
    assert (await api.upsert({"email": "u@example.com", "mobile": "(646) 755-1998"}, defaultCountry="US"))["contact"]["mobile"] == "+16467551998"
    found = await api.gql('{ contacts(filter: {mobile: "953 45 259"}) { edges { node { email } } } }')
    assert [e["node"]["email"] for e in found["contacts"]["edges"]] == ["n@example.com"], "a filter reads it the same way"
    subscribed = await api.gql(
        "mutation S($input: SubscribeContactInput!) { subscribeContact(input: $input) { contact { mobile } userErrors { code } } }",
        {"input": {"contact": {"mobile": "412 34 567"}}},
    )
    assert subscribed["subscribeContact"]["contact"]["mobile"] == "+4741234567"
    cleared = await admin.gql(WORKSPACE, {"input": {"defaultCountry": None}})
    assert cleared["updateWorkspace"]["workspace"] == {"defaultCountry": None}
    again = await api.upsert({"email": "n2@example.com", "mobile": "953 45 258"})
    assert again["userErrors"][0]["code"] == "INVALID_PHONE"


async def test_batches_read_national_numbers_in_their_default_country(api: Api) -> None:
    contacts: list[dict[str, Any]] = [{"email": "a@example.com", "mobile": "953 45 259"}, {"email": "b@example.com", "mobile": "0412 345 678"}]
    batch = (await submit(api, contacts, defaultCountry="NO"))["batch"]
    done = await wait_finished(api, batch["id"])
    assert (done["created"], done["failed"]) == (1, 1)
    failed = (await status(api, batch["id"], failedOnly=True))["results"]["edges"][0]["node"]
    assert (failed["index"], failed["errors"][0]["code"]) == (1, "INVALID_PHONE"), "an Australian mobile is no Norwegian number"
    failures = (await api.gql("query F($id: ID!) { batch(id: $id) { failures { code field count hint } } }", {"id": batch["id"]}))["batch"]["failures"]
    assert failures == [{"code": "INVALID_PHONE", "field": ["mobile"], "count": 1, "hint": "give defaultCountry (or, in a CSV file, a country column) for national numbers"}]


async def test_a_csv_country_column_overrides_the_default_per_row(api: Api) -> None:
    data = "email;phone;Country\nno@example.com;953 45 259;\nus@example.com;(646) 755-1998;us\nbad@example.com;953 45 259;Norge\n"
    payload = (await upload(api, data.encode(), defaultCountry="NO")).json()["data"]["importContacts"]
    assert payload["userErrors"] == []
    done = await wait_finished(api, payload["batch"]["id"])
    assert (done["created"], done["failed"]) == (2, 1)
    found = await api.gql("{ contacts { edges { node { email mobile } } } }")
    assert sorted((e["node"]["email"], e["node"]["mobile"]) for e in found["contacts"]["edges"]) == [
        ("no@example.com", "+4795345259"),
        ("us@example.com", "+16467551998"),
    ]
    failed = (await status(api, payload["batch"]["id"], failedOnly=True))["results"]["edges"][0]["node"]
    assert (failed["clientRef"], failed["errors"][0]["field"]) == ("row 4", ["contacts", "2", "country"])


async def test_mobile_country_code_and_number_must_agree(api: Api) -> None:
    ok = await api.upsert({"email": "c@example.com", "mobileCountryCode": 47, "mobileNumber": "953 45 259"})
    assert ok["contact"]["mobile"] == "+4795345259" and ok["contact"]["mobileCountryCode"] == 47
    wrong = await api.upsert({"email": "d@example.com", "mobileCountryCode": 47, "mobileNumber": "+1 646 755 1998"})
    assert wrong["userErrors"][0]["message"] == "invalid phone number: not a valid number for calling code +47"
