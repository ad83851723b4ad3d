"""contacts(filter:): and, or, not; `…In` lists; list membership; time ranges; has*; typed
property conditions — through HTTP on both engines, with totalCount agreeing with the page."""

from __future__ import annotations

import datetime as dt
import gc
from typing import Any

import pytest
from graphql import parse

from contactql.schema import cost
from tests.helpers import Api

PAGE = "query P($f: ContactFilter) { contacts(first: 100, filter: $f) { totalCount edges { node { email } } } }"


async def emails(api: Api, filter_: dict[str, Any]) -> list[str]:
    page = (await api.gql(PAGE, {"f": filter_}))["contacts"]
    found = [e["node"]["email"] for e in page["edges"]]
    assert page["totalCount"] == len(found), "totalCount counts what the page holds"
    return found


@pytest.fixture
async def people(api: Api) -> dict[str, str]:
    """Five contacts: a, b in list L1; c in L2; d with no email; e deleted."""
    await api.property_field("size", "NUMBER")
    await api.property_field("born", "DATE")
    await api.property_field("city", "TEXT")
    l1, l2 = await api.create_list("L1"), await api.create_list("L2")
    rows = [
        ({"email": "a@example.com", "mobile": "+4790000001", "externalId": "x-a", "emailOptIn": True,
          "properties": [{"name": "size", "value": "9"}, {"name": "born", "value": "1990-05-01"}, {"name": "city", "value": "Oslo"}]}, l1),
        ({"email": "b@example.com", "smsStatus": "FAILED",
          "properties": [{"name": "size", "value": "10"}, {"name": "born", "value": "2001-01-31"}, {"name": "city", "value": "Bergen"}]}, l1),
        ({"email": "c@example.com", "emailStatus": "BOUNCED", "properties": [{"name": "size", "value": "1e2"}, {"name": "city", "value": "Ålesund"}]}, l2),
        ({"mobile": "+4790000004", "externalId": "x-d"}, None),
        ({"email": "e@example.com"}, None),
    ]  # fmt: skip
    ids = {}
    for contact, list_id in rows:
        made = await api.upsert(contact, **({"listId": list_id} if list_id else {}))
        assert made["userErrors"] == [] and made["invalidProperties"] == [], made
        ids[contact.get("email") or "d"] = made["contact"]["id"]
    await api.gql("mutation D($id: ID!) { deleteContact(id: $id) { deletedId } }", {"id": ids["e@example.com"]})
    return {"L1": l1, "L2": l2, **ids}


async def test_and_or_not_combine_filters(api: Api, people: dict[str, str]) -> None:
    a_or_c = {"or": [{"email": "a@example.com"}, {"email": "C@EXAMPLE.COM"}]}
    assert await emails(api, a_or_c) == ["a@example.com", "c@example.com"]
    assert await emails(api, {"and": [a_or_c, {"emailStatus": "BOUNCED"}]}) == ["c@example.com"]
    assert await emails(api, {"not": {"email": "a@example.com"}}) == ["b@example.com", "c@example.com", None], "not keeps the contact with no email"
    assert await emails(api, {"not": {"or": [{"listId": people["L1"]}, {"hasEmail": False}]}}) == ["c@example.com"]
    assert await emails(api, {"and": [{}]}) == ["a@example.com", "b@example.com", "c@example.com", None], "an empty filter holds for everyone"


async def test_in_lists_of_identities_and_statuses(api: Api, people: dict[str, str]) -> None:
    assert await emails(api, {"emailIn": ["B@example.com", "nobody@example.com", "not an address"]}) == ["b@example.com"]
    assert await emails(api, {"mobileIn": ["0047 900 00 004", "+4790000001"]}) == ["a@example.com", None]
    assert await emails(api, {"externalIdIn": ["x-d", " x-a "]}) == ["a@example.com", None]
    assert await emails(api, {"emailStatusIn": ["SUBSCRIBED", "BOUNCED"]}) == ["a@example.com", "c@example.com"]
    assert await emails(api, {"smsStatusIn": ["FAILED"]}) == ["b@example.com"]
    assert await emails(api, {"emailIn": []}) == []


async def test_list_membership_any_of_and_none_of(api: Api, people: dict[str, str]) -> None:
    assert await emails(api, {"listIds": [people["L1"], people["L2"]]}) == ["a@example.com", "b@example.com", "c@example.com"]
    assert await emails(api, {"notInListIds": [people["L1"]]}) == ["c@example.com", None]
    assert await emails(api, {"listIds": ["00000000-0000-0000-0000-000000000000"]}) == []


async def test_time_ranges_and_presence(api: Api, people: dict[str, str]) -> None:
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    assert await emails(api, {"createdAfter": future}) == []
    assert len(await emails(api, {"createdBefore": future, "updatedBefore": future})) == 4
    assert await emails(api, {"updatedAfter": "2000-01-01T00:00:00Z", "hasMobile": True}) == ["a@example.com", None]
    assert await emails(api, {"hasEmail": False}) == [None]
    assert await emails(api, {"createdAfter": future, "includeDeleted": True}) == []


async def test_property_conditions_compare_by_type(api: Api, people: dict[str, str]) -> None:
    def on(name: str, **condition: Any) -> dict[str, Any]:
        return {"properties": [{"name": name, **condition}]}

    # NUMBER numerically: 9 < 10 < 1e2 (as text, "9" > "10").
    assert await emails(api, on("size", gt="9")) == ["b@example.com", "c@example.com"]
    assert await emails(api, on("size", gte="9", lt="100")) == ["a@example.com", "b@example.com"]
    assert await emails(api, on("size", lte="1E1")) == ["a@example.com", "b@example.com"]
    assert await emails(api, on("size", eq="100.0")) == ["c@example.com"], "compared in canonical form"
    assert await emails(api, on("size", **{"in": ["9", "1e2"]})) == ["a@example.com", "c@example.com"]
    # DATE by date.
    assert await emails(api, on("born", gte="2000-01-01")) == ["b@example.com"]
    assert await emails(api, on("born", lt="2000-01-01")) == ["a@example.com"]
    # TEXT: contains ignores case; isNull.
    assert await emails(api, on("city", contains="ER")) == ["b@example.com"]
    assert await emails(api, on("city", contains="%")) == [], "a wildcard is a character, not a pattern"
    assert await emails(api, on("born", isNull=True)) == ["c@example.com", None]
    assert await emails(api, on("born", isNull=False)) == ["a@example.com", "b@example.com"]
    # Two properties, and the older single `property` filter still works.
    assert await emails(api, {"properties": [{"name": "size", "gt": "9"}, {"name": "City", "eq": "Bergen"}]}) == ["b@example.com"]
    assert await emails(api, {"property": {"name": "city", "value": "Oslo"}}) == ["a@example.com"]
    assert await emails(api, {"property": {"name": "city", "value": None}}) == [None]


@pytest.mark.parametrize(
    ("filter_", "path", "says"),
    [
        ({"properties": [{"name": "nope", "eq": "x"}]}, "filter.properties.0.name", "no property named"),
        ({"properties": [{"name": "size", "gt": "ten"}]}, "filter.properties.0.gt", "not a number"),
        ({"and": [{"properties": [{"name": "born", "lt": "2024-13-01"}]}]}, "filter.and.0.properties.0.lt", "not a date"),
        ({"properties": [{"name": "size", "contains": "1"}]}, "filter.properties.0.contains", "TEXT and SELECT"),
        ({"or": []}, "filter.or", "give 1 to 20"),
        ({"emailIn": [f"{i}@example.com" for i in range(101)]}, "filter.emailIn", "at most 100"),
        ({"not": {"not": {"not": {"not": {"not": {"not": {}}}}}}}, "filter.not.not.not.not.not.not", "at most 5 deep"),
        # No condition is not "without a value": `eq: $v` with $v unset must not find everyone without it.
        ({"properties": [{"name": "size"}]}, "filter.properties.0", "give a condition"),
        ({"and": [{"properties": [{"name": "size", "eq": None}]}]}, "filter.and.0.properties.0", "give a condition"),
        ({"properties": [{"name": "size", "value": "1", "eq": "2"}]}, "filter.properties.0.value", "not more"),
        ({"properties": [{"name": "size", "value": None, "isNull": False}]}, "filter.properties.0.value", "not more"),
        ({"property": {"name": "size"}}, "filter.property", "give a condition"),
        ({"or": [{"property": {"name": "city", "contains": ""}}]}, "filter.or.0.property.contains", "at least one character"),
    ],
)
async def test_a_filter_that_cannot_be_read_says_where(api: Api, people: dict[str, str], filter_: dict[str, Any], path: str, says: str) -> None:
    for query in (PAGE, "query P($f: ContactFilter) { contacts(filter: $f) { totalCount } }"):
        errors = await api.errors(query, {"f": filter_})
        assert errors[0]["extensions"]["code"] == "INVALID_INPUT" and says in errors[0]["message"] and path in errors[0]["message"], errors


async def test_a_deeply_nested_filter_is_refused_not_a_fault(api: Api) -> None:
    deep: dict[str, Any] = {}
    for _ in range(300):
        deep = {"not": deep}
    errors = await api.errors(PAGE, {"f": deep})
    assert errors[0]["extensions"]["code"] in {"INVALID_INPUT", "BAD_USER_INPUT"}, errors


async def test_another_workspace_sees_none_of_it(api: Api, other_workspace: Api, people: dict[str, str]) -> None:
    assert await emails(other_workspace, {"listIds": [people["L1"]]}) == []
    assert await emails(other_workspace, {"or": [{"email": "a@example.com"}, {"externalIdIn": ["x-d"]}]}) == []
    errors = await other_workspace.errors(PAGE, {"f": {"properties": [{"name": "size", "gt": "1"}]}})
    assert "no property named" in errors[0]["message"]


async def test_the_older_property_filter_takes_every_condition(api: Api, people: dict[str, str]) -> None:
    assert await emails(api, {"property": {"name": "city", "isNull": False}}) == ["a@example.com", "b@example.com", "c@example.com"]
    assert await emails(api, {"property": {"name": "size", "gt": "9"}}) == ["b@example.com", "c@example.com"]
    assert await emails(api, {"property": {"name": "city", "contains": "os"}}) == ["a@example.com"]
    errors = await api.errors(PAGE, {"f": {"property": {"name": "city", "value": "Oslo", "eq": "Bergen"}}})
    assert errors[0]["extensions"]["code"] == "INVALID_INPUT" and "give one of value, eq and isNull" in errors[0]["message"] and "filter.property.value" in errors[0]["message"]


async def test_contains_ignores_case_beyond_ascii(api: Api) -> None:
    await api.property_field("city", "TEXT")
    for email, city in (("p1@example.com", "ÅLESUND"), ("p2@example.com", "ålesund"), ("p3@example.com", "ΟΔΟΣ")):
        await api.upsert({"email": email, "properties": [{"name": "city", "value": city}]})
    for needle in ("ÅLESUND", "Ålesund", "åles"):
        assert await emails(api, {"properties": [{"name": "city", "contains": needle}]}) == ["p1@example.com", "p2@example.com"], needle
    assert await emails(api, {"properties": [{"name": "city", "contains": "οδος"}]}) == ["p3@example.com"]
    assert await emails(api, {"not": {"properties": [{"name": "city", "contains": "ÅLE"}]}}) == ["p3@example.com"]


@pytest.mark.parametrize(
    ("filter_", "says"),
    [
        ({"or": [{"and": [{"or": [{"email": f"{i}{j}{k}@example.com"} for k in range(20)]} for j in range(20)]} for i in range(20)]}, "at most 100 filters"),
        ({"or": [{"emailIn": [f"{i}-{j}@example.com" for j in range(100)]} for i in range(11)]}, "1000 listed values"),
        ({"properties": [{"name": "city", "contains": "x" * 1001}]}, "at most 1000 characters"),
        ({"createdAfter": "9999-12-31T23:59:59-23:59"}, "outside the years 1 to 9999"),
        ({"or": [{"updatedSince": "0001-01-01T00:00:00+01:00"}]}, "filter.or.0.updatedSince"),
        ({"properties": [{"name": "x" * 100_000, "eq": "1"}]}, "no property named"),
    ],
)
async def test_a_filter_too_big_or_out_of_range_is_refused_at_once(api: Api, people: dict[str, str], filter_: dict[str, Any], says: str) -> None:
    for query in (PAGE, "query P($f: ContactFilter) { contacts(filter: $f) { totalCount } }"):
        errors = await api.errors(query, {"f": filter_})
        assert errors[0]["extensions"]["code"] == "INVALID_INPUT" and says in errors[0]["message"], errors
        assert len(errors[0]["message"]) < 500, "a long name is cut, not echoed whole"


def _nested_not(depth: int) -> dict[str, Any]:
    filter_: dict[str, Any] = {"email": "a@example.com"}
    for _ in range(depth):
        filter_ = {"not": filter_}
    return filter_


async def test_a_filter_too_big_is_refused_before_its_arguments_are_read(api: Api, people: dict[str, str]) -> None:
    """1 500 filters as a literal in the document, or nested 200 deep in a variable: refused from
    the request as sent (Strawberry's conversion of so many input objects took seconds)."""
    branches = ", ".join(f'{{email: "{i}@example.com"}}' for i in range(1_500))
    errors = await api.errors(f"{{ contacts(filter: {{or: [{branches}]}}) {{ totalCount }} }}")
    assert errors[0]["extensions"]["code"] == "INVALID_INPUT" and "at most 100 filters" in errors[0]["message"] and "1501" in errors[0]["message"], errors
    errors = await api.errors(PAGE, {"f": _nested_not(200)})
    assert errors[0]["extensions"]["code"] == "INVALID_INPUT" and "at most 5 deep" in errors[0]["message"], errors
    assert await emails(api, _nested_not(2)) == ["a@example.com"]
    # The same document again (parsed once, its filter arguments found once): each request's
    # variables are still measured.
    errors = await api.errors(PAGE, {"f": _nested_not(200)})
    assert errors[0]["extensions"]["code"] == "INVALID_INPUT" and "at most 5 deep" in errors[0]["message"], errors
    errors = await api.errors(f"{{ contacts(filter: {{or: [{branches}]}}) {{ totalCount }} }}")
    assert errors[0]["extensions"]["code"] == "INVALID_INPUT" and "1501" in errors[0]["message"], errors


async def test_a_variable_s_default_is_measured_and_costed_as_if_sent(api: Api, people: dict[str, str]) -> None:
    """A filter, or a page size, written as the default of a variable the request leaves out is
    what runs: it is refused before it is read, and charged, as the same value sent."""
    branches = ", ".join(f'{{email: "{i}@example.com"}}' for i in range(1_800))
    by_default = f"query D($f: ContactFilter = {{or: [{branches}]}}) {{ contacts(filter: $f, first: 1) {{ totalCount }} }}"
    errors = await api.errors(by_default)
    assert errors[0]["extensions"]["code"] == "INVALID_INPUT" and "this one has 1801" in errors[0]["message"], "counted whole, before it is read"
    assert (await api.gql(by_default, {"f": {"email": "a@example.com"}}))["contacts"]["totalCount"] == 1, "a value sent is what runs"
    # Beside another operation whose $f defaults to something small: D's own default is measured.
    small = 'query O($f: ContactFilter = {email: "x"}) { contacts(filter: $f, first: 1) { totalCount } }'
    body = {"query": f"{small}\n{by_default}", "operationName": "D"}
    errors = (await api.http.post("/graphql", json=body, headers={"Authorization": f"Bearer {api.key}"})).json()["errors"]
    assert "this one has 1801" in errors[0]["message"], errors
    page = "query P($n: Int = 500) { contacts(first: $n) { edges { node { lists { id } } } } }"
    sent = (await api.post(page, {"n": 500})).json()["extensions"]["cost"]["requestedQueryCost"]
    assert (await api.post(page)).json()["extensions"]["cost"]["requestedQueryCost"] == sent > 500


def test_a_document_s_filter_arguments_are_found_once_and_forgotten_with_it() -> None:
    document = parse("query { a: contacts(filter: {email: \"x@example.com\"}) { totalCount } b: contacts(filter: $f) { totalCount } }")
    found = cost._filter_arguments(document)
    assert [node.name.value for node in found] == ["filter", "filter"]
    assert cost._filter_arguments(document) is found
    assert cost.oversized_filter(document, {"f": _nested_not(200)}) == "and, or and not may be nested at most 5 deep"
    assert cost.oversized_filter(document, {"f": _nested_not(2)}) is None
    assert document in cost.FILTERS
    ident = id(document)
    del document, found
    gc.collect()
    assert ident not in cost.FILTERS._entries, "the entry goes with its document"


async def test_an_event_filter_out_of_range_is_refused(api: Api) -> None:
    errors = await api.errors('{ events(filter: {since: "0001-01-01T00:00:00+23:59"}) { totalCount } }')
    assert errors[0]["extensions"]["code"] == "INVALID_INPUT" and "filter.since" in errors[0]["message"], errors
