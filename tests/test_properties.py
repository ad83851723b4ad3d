"""Custom property fields: definition, typed values, by id or name, invalidProperties."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from contactql.outbound import tls
from tests.helpers import Api

CREATE_FIELD = """
mutation F($input: PropertyFieldInput!) {
  createPropertyField(input: $input) { field { id name type options } userErrors { field code message } }
}
"""


async def test_create_and_list_property_fields(api: Api) -> None:
    made = await api.gql(CREATE_FIELD, {"input": {"name": "Tier", "type": "SELECT", "options": ["Gold", "Silver", "Gold"]}})
    field = made["createPropertyField"]["field"]
    assert field["name"] == "Tier" and field["type"] == "SELECT" and field["options"] == ["Gold", "Silver"]
    await api.property_field("city")
    listed = await api.gql("{ properties { name type } }")
    assert listed["properties"] == [{"name": "Tier", "type": "SELECT"}, {"name": "city", "type": "TEXT"}]


@pytest.mark.parametrize(
    ("field_input", "error"),
    [
        ({"name": "firstName", "type": "TEXT"}, (["input", "name"], "INVALID_INPUT")),
        ({"name": " ", "type": "TEXT"}, (["input", "name"], "INVALID_INPUT")),
        ({"name": "Tier", "type": "SELECT"}, (["input", "options"], "INVALID_INPUT")),
        ({"name": "Age", "type": "NUMBER", "options": ["1"]}, (["input", "options"], "INVALID_INPUT")),
    ],
)
async def test_bad_property_fields_are_refused(api: Api, field_input: dict[str, Any], error: tuple[list[str], str]) -> None:
    result = (await api.gql(CREATE_FIELD, {"input": field_input}))["createPropertyField"]
    assert result["field"] is None
    assert [(e["field"], e["code"]) for e in result["userErrors"]] == [error]


async def test_a_property_name_is_unique_in_any_case(api: Api) -> None:
    await api.property_field("City")
    result = (await api.gql(CREATE_FIELD, {"input": {"name": "CITY", "type": "TEXT"}}))["createPropertyField"]
    assert result["userErrors"][0]["code"] == "INVALID_INPUT"


@pytest.mark.parametrize(
    ("type_", "options", "given", "stored"),
    [
        ("NUMBER", None, "1.50", "1.5"),
        ("NUMBER", None, " 123456 ", "123456"),
        ("BOOLEAN", None, "Yes", "true"),
        ("BOOLEAN", None, "0", "false"),
        ("DATE", None, "2024-02-29", "2024-02-29"),
        ("SELECT", ["Gold", "Silver"], "gold", "Gold"),
        ("TEXT", None, " keep spaces ", " keep spaces "),
    ],
)
async def test_values_are_stored_in_canonical_form(api: Api, type_: str, options: list[str] | None, given: str, stored: str) -> None:
    await api.property_field("p", type_, options)
    result = await api.upsert({"email": "a@example.com", "properties": [{"name": "P", "value": given}]})
    assert result["invalidProperties"] == []
    assert [(v["field"]["name"], v["value"]) for v in result["contact"]["properties"]] == [("p", stored)]
    assert result["changedFields"][-1] == "properties.p"


@pytest.mark.parametrize(
    ("type_", "options", "given", "reason"),
    [
        ("NUMBER", None, "twelve", "not a number (digits, an optional sign, a decimal point and an exponent such as 1.5e3)"),
        ("NUMBER", None, "NaN", "not a number (digits, an optional sign, a decimal point and an exponent such as 1.5e3)"),
        ("BOOLEAN", None, "maybe", "not a boolean (true or false)"),
        ("DATE", None, "31/12/2024", "not a date (YYYY-MM-DD)"),
        ("SELECT", ["Gold", "Silver"], "Bronze", "not one of the options: Gold, Silver"),
    ],
)
async def test_values_that_fail_their_type_are_invalid_properties_and_the_rest_is_written(
    api: Api, type_: str, options: list[str] | None, given: str, reason: str
) -> None:
    field_id = await api.property_field("p", type_, options)
    result = await api.upsert({"email": "b@example.com", "firstName": "B", "properties": [{"name": "p", "value": given}]})
    assert result["outcome"] == "CREATED"
    assert result["contact"]["firstName"] == "B"
    assert result["invalidProperties"] == [{"fieldId": field_id, "name": "p", "value": given, "reason": reason}]
    assert result["contact"]["properties"] == []


async def test_unknown_property_names_and_ids_are_reported(api: Api) -> None:
    result = await api.upsert(
        {
            "email": "c@example.com",
            "properties": [
                {"name": "interest", "value": "ice hockey"},
                {"id": "3fa85f64-5717-4562-b3fc-123123d23dds", "value": "0236"},
            ],
        }
    )
    assert result["outcome"] == "CREATED"
    assert [(p["fieldId"], p["name"], p["value"]) for p in result["invalidProperties"]] == [
        (None, "interest", "ice hockey"),
        ("3fa85f64-5717-4562-b3fc-123123d23dds", None, "0236"),
    ]


async def test_properties_by_id_update_and_null_clears(api: Api) -> None:
    city = await api.property_field("city")
    made = await api.upsert({"email": "d@example.com", "properties": [{"id": city, "value": "Oslo"}]})
    contact_id = made["contact"]["id"]
    moved = await api.upsert({"id": contact_id, "properties": [{"name": "CITY", "value": "Bergen"}]})
    assert moved["changedFields"] == ["properties.city"]
    same = await api.upsert({"id": contact_id, "properties": [{"id": city, "value": "Bergen"}]})
    assert same["outcome"] == "UNCHANGED"
    cleared = await api.upsert({"id": contact_id, "properties": [{"id": city, "value": None}]})
    assert cleared["changedFields"] == ["properties.city"]
    assert (await api.contact(contact_id))["properties"] == []


async def test_built_in_fields_by_property_name_write_the_field(api: Api) -> None:
    result = await api.upsert(
        {"email": "e@example.com", "properties": [{"name": "firstname", "value": "jennifer"}, {"name": "LastName", "value": "merg"}]}
    )
    assert result["contact"]["firstName"] == "jennifer"
    assert result["contact"]["lastName"] == "merg"
    assert result["invalidProperties"] == []


async def test_property_query_by_name_and_filter(api: Api) -> None:
    await api.property_field("Tier", "SELECT", ["Gold", "Silver"])
    a = await api.upsert({"email": "f1@example.com", "properties": [{"name": "tier", "value": "gold"}]})
    await api.upsert({"email": "f2@example.com", "properties": [{"name": "tier", "value": "Silver"}]})
    one = await api.gql("query C($id: ID!) { contact(id: $id) { property(name: \"TIER\") missing: property(name: \"nope\") } }", {"id": a["contact"]["id"]})
    assert one["contact"] == {"property": "Gold", "missing": None}
    found = await api.gql('{ contacts(filter: {property: {name: "tier", value: "GOLD"}}) { edges { node { email } } } }')
    assert [e["node"]["email"] for e in found["contacts"]["edges"]] == ["f1@example.com"]


async def test_a_value_of_the_maximum_length_is_stored_matched_and_filtered(api: Api) -> None:
    # 10 000 characters that do not compress: past PostgreSQL's B-tree entry limit, which an
    # index on whole values would hit (an INTERNAL error before the value digest, migration 0003).
    await api.property_field("notes")
    long = "".join(hashlib.sha256(str(i).encode()).hexdigest() for i in range(157))[:10_000]
    made = await api.upsert({"email": "long@example.com", "properties": [{"name": "notes", "value": long}]})
    assert made["userErrors"] == [] and made["invalidProperties"] == []
    again = await api.upsert(
        {"firstName": "Found", "properties": [{"name": "notes", "value": long}]}, match={"rules": ["PROPERTIES"], "properties": ["notes"]}
    )
    assert (again["outcome"], again["matchedBy"], again["contact"]["id"]) == ("UPDATED", "PROPERTIES", made["contact"]["id"])
    near = await api.upsert(
        {"email": "near@example.com", "properties": [{"name": "notes", "value": long[:-1] + "x"}]},
        match={"rules": ["PROPERTIES", "EMAIL"], "properties": ["notes"]},
    )
    assert near["outcome"] == "CREATED"  # the same first 9 999 characters are not the same value
    page = await api.gql("query C($v: String!) { contacts(filter: {property: {name: \"notes\", value: $v}}) { edges { node { email } } } }", {"v": long})
    assert page["contacts"]["edges"] == [{"node": {"email": "long@example.com"}}]


LONG_NUMBER = "123456789012345678901234567891"
NOT_A_NUMBER = "not a number (digits, an optional sign, a decimal point and an exponent such as 1.5e3)"
TOO_LONG = "a number has at most 100 digits written out in full (no exponent); this one has "


@pytest.mark.parametrize(
    ("type_", "options", "given", "stored", "reason"),
    [
        ("NUMBER", None, LONG_NUMBER, LONG_NUMBER, None),  # every digit, not rounded to 28
        ("NUMBER", None, "-" + LONG_NUMBER + ".000", "-" + LONG_NUMBER, None),
        ("NUMBER", None, "1e3", "1000", None),
        ("NUMBER", None, "-0.000", "0", None),
        ("NUMBER", None, "1e99", "1" + "0" * 99, None),
        ("NUMBER", None, "1e-99", "0." + "0" * 98 + "1", None),
        ("NUMBER", None, "1e1000000", None, TOO_LONG + "1000001"),  # 10 characters that would be a million
        ("NUMBER", None, "1e-1000000", None, TOO_LONG + "1000000"),
        ("NUMBER", None, "9" * 101, None, TOO_LONG + "101"),
        ("NUMBER", None, "1e999999999999", None, "a number has at most 100 digits written out in full (no exponent); this one has more than a billion"),
        ("NUMBER", None, "1e+" + "0" * 60 + "1", "10", None),  # an exponent written long
        ("NUMBER", None, "Infinity", None, NOT_A_NUMBER),
        ("NUMBER", None, "1_000", None, NOT_A_NUMBER),
        ("NUMBER", None, "١٢٣", None, NOT_A_NUMBER),  # Arabic-Indic digits
        ("NUMBER", None, "1,5", None, NOT_A_NUMBER),
        ("NUMBER", None, "1\x0b5", None, NOT_A_NUMBER),
        ("DATE", None, "20240229", None, "not a date (YYYY-MM-DD)"),
        ("DATE", None, "2024-W01-1", None, "not a date (YYYY-MM-DD)"),
        ("DATE", None, "2023-02-29", None, "not a date (YYYY-MM-DD): no such day"),
        ("DATE", None, "٢٠٢٤-٠١-٠١", None, "not a date (YYYY-MM-DD)"),
        ("DATE", None, "0001-01-01", "0001-01-01", None),
        ("BOOLEAN", None, " TRUE\t", "true", None),
        ("BOOLEAN", None, "ja", None, "not a boolean (true or false)"),
        ("SELECT", ["Straße", "Café"], "STRASSE", "Straße", None),  # caseless
        ("SELECT", ["Straße", "Café"], "cafe\u0301", "Café", None),  # a decomposed é is é
        ("TEXT", None, "x" * 10_000, "x" * 10_000, None),
    ],
)
async def test_the_extremes_of_typed_values(
    api: Api, type_: str, options: list[str] | None, given: str, stored: str | None, reason: str | None
) -> None:
    await api.property_field("p", type_, options)
    result = await api.upsert({"email": "edge@example.com", "properties": [{"name": "p", "value": given}]})
    assert result["outcome"] == "CREATED" and result["userErrors"] == []
    if reason is None:
        assert result["invalidProperties"] == [] and result["contact"]["properties"][0]["value"] == stored
    else:
        assert [(p["value"], p["reason"]) for p in result["invalidProperties"]] == [(given, reason)]
        assert result["contact"]["properties"] == []


@pytest.mark.parametrize("given", ["1e1000000", "1e-1000000", "NaN", "1_0"])
async def test_a_number_no_column_can_hold_is_a_clear_answer_on_every_path(api: Api, given: str) -> None:
    """Filters, dry runs, subscriptions and matching took the Decimal error as INTERNAL."""
    await api.property_field("score", "NUMBER")
    filtered = await api.post('query F($v: String) { contacts(filter: {property: {name: "score", value: $v}}) { totalCount } }', {"v": given})
    [error] = filtered.json()["errors"]
    assert error["extensions"]["code"] == "INVALID_INPUT" and "number" in error["message"]
    dry = await api.upsert({"email": "d@example.com", "properties": [{"name": "score", "value": given}]}, dryRun=True)
    assert dry["outcome"] == "CREATED" and [p["name"] for p in dry["invalidProperties"]] == ["score"]
    subscribed = await api.gql(
        "mutation S($input: SubscribeContactInput!) { subscribeContact(input: $input) { outcome invalidProperties { reason } } }",
        {"input": {"contact": {"email": "s@example.com", "properties": [{"name": "score", "value": given}]}}},
    )
    assert subscribed["subscribeContact"]["outcome"] == "CREATED" and len(subscribed["subscribeContact"]["invalidProperties"]) == 1
    matched = await api.upsert(
        {"email": "m@example.com"}, match={"rules": ["PROPERTIES"], "properties": ["score"], "values": [{"name": "score", "value": given}]}
    )
    assert [(e["field"], e["code"]) for e in matched["userErrors"]] == [(["match", "values", "0", "value"], "INVALID_INPUT")]


@pytest.mark.system
async def test_a_new_field_is_listed_at_once_here_and_in_another_process(api: Api, database_url: str) -> None:
    """Listings never come from a cache: the catalog filled by an earlier request kept
    answering `properties: []` for the life of the process."""
    import httpx

    from tests.helpers import serve

    assert (await api.gql("{ properties { name } }"))["properties"] == []  # fills every cache there is
    await api.upsert({"email": "warm@example.com", "properties": [{"name": "nothing-yet", "value": "x"}]})
    with serve(database_url) as (base, _, _):
        async with httpx.AsyncClient(verify=tls(), base_url=base, headers={"Authorization": f"Bearer {api.key}"}) as other:
            async def there(query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
                body = (await other.post("/graphql", json={"query": query, "variables": variables or {}})).json()
                assert "errors" not in body, body
                return dict(body["data"])

            assert (await there("{ properties { name } lists { totalCount } }")) == {"properties": [], "lists": {"totalCount": 0}}
            field_id = await api.property_field("tier")
            list_id = await api.create_list("VIP")
            assert (await api.gql("{ properties { name } }"))["properties"] == [{"name": "tier"}]
            assert (await there("{ properties { id name } }"))["properties"] == [{"id": field_id, "name": "tier"}]
            written = await there(
                'mutation U($input: UpsertContactInput!) { upsertContact(input: $input) { contact { property(name: "tier") lists { id } } invalidProperties { name } userErrors { code } } }',
                {"input": {"contact": {"email": "b@example.com", "properties": [{"name": "TIER", "value": "gold"}]}, "listId": list_id}},
            )
            assert written["upsertContact"] == {"contact": {"property": "gold", "lists": [{"id": list_id}]}, "invalidProperties": [], "userErrors": []}
            assert (await there("{ lists { edges { node { name size } } } }"))["lists"]["edges"] == [{"node": {"name": "VIP", "size": 1}}]


@pytest.mark.parametrize(("type_", "options", "value"), [("NUMBER", None, "5"), ("DATE", None, "2024-01-01"), ("BOOLEAN", None, "yes"), ("SELECT", ["Gold"], "gold"), ("TEXT", None, "x")])
@pytest.mark.parametrize("blank", ["", "   ", "\t"])
async def test_a_blank_value_clears_the_property_of_any_type(api: Api, type_: str, options: list[str] | None, value: str, blank: str) -> None:
    await api.property_field("p", type_, options)
    made = await api.upsert({"email": "blank@example.com", "properties": [{"name": "p", "value": value}]})
    assert len(made["contact"]["properties"]) == 1
    cleared = await api.upsert({"email": "blank@example.com", "properties": [{"name": "p", "value": blank}]})
    assert (cleared["outcome"], cleared["invalidProperties"], cleared["contact"]["properties"]) == ("UPDATED", [], [])
