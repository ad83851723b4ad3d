"""contacts(orderBy:): keyset pages in any order, nulls last, ties by id, stable while contacts
are written between pages — through HTTP on both engines."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.helpers import Api

PAGE = """query P($o: [ContactOrder!], $f: ContactFilter, $first: Int, $after: String) {
  contacts(orderBy: $o, filter: $f, first: $first, after: $after) {
    totalCount edges { cursor node { email firstName lastName } } pageInfo { hasNextPage endCursor }
  }
}"""


async def walk(api: Api, order: list[dict[str, Any]], first: int = 2, filter_: dict[str, Any] | None = None) -> list[str]:
    """Every contact, page by page, as email (or firstName for one without)."""
    seen: list[str] = []
    after = None
    for _ in range(50):  # bounded
        page = (await api.gql(PAGE, {"o": order, "f": filter_, "first": first, "after": after}))["contacts"]
        seen += [e["node"]["email"] or e["node"]["firstName"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return seen
        after = page["pageInfo"]["endCursor"]
    raise AssertionError("no last page")


@pytest.fixture
async def people(api: Api) -> None:
    await api.property_field("size", "NUMBER")
    await api.property_field("born", "DATE")
    for email, first, last, size, born in [
        ("d@example.com", "Dan", "Berg", "1e2", "2001-01-01"),
        ("a@example.com", "Ann", None, "9", None),
        ("c@example.com", "Cid", "Aas", None, "1990-05-01"),
        ("b@example.com", "Bo", "Berg", "10", "1999-12-31"),
        ("e@example.com", "Eve", "Aas", "-3.5", "2001-01-01"),
    ]:
        properties = [{"name": n, "value": v} for n, v in (("size", size), ("born", born)) if v is not None]
        made = await api.upsert({"email": email, "firstName": first, "lastName": last, "properties": properties})
        assert made["userErrors"] == [] and made["invalidProperties"] == []


async def test_by_a_field_both_ways_nulls_last_ties_by_id(api: Api, people: None) -> None:
    assert await walk(api, [{"field": "LAST_NAME"}]) == ["c@example.com", "e@example.com", "d@example.com", "b@example.com", "a@example.com"]
    assert await walk(api, [{"field": "LAST_NAME", "direction": "DESC"}]) == ["d@example.com", "b@example.com", "c@example.com", "e@example.com", "a@example.com"]
    assert await walk(api, [{"field": "EMAIL", "direction": "DESC"}], first=1) == [f"{x}@example.com" for x in "edcba"]
    assert await walk(api, [{"field": "ID", "direction": "DESC"}], first=3) == ["e@example.com", "b@example.com", "c@example.com", "a@example.com", "d@example.com"]


async def test_several_keys(api: Api, people: None) -> None:
    order = [{"field": "LAST_NAME", "direction": "DESC"}, {"field": "FIRST_NAME", "direction": "DESC"}]
    assert await walk(api, order, first=1) == ["d@example.com", "b@example.com", "e@example.com", "c@example.com", "a@example.com"]
    newest = await walk(api, [{"field": "CREATED_AT", "direction": "DESC"}, {"field": "EMAIL"}], first=2)
    assert newest == [f"{x}@example.com" for x in "ebcad"]


async def test_by_a_property_by_its_type(api: Api, people: None) -> None:
    assert await walk(api, [{"field": "PROPERTY", "property": "Size"}]) == ["e@example.com", "a@example.com", "b@example.com", "d@example.com", "c@example.com"]
    assert await walk(api, [{"field": "PROPERTY", "property": "size", "direction": "DESC"}], first=1) == ["d@example.com", "b@example.com", "a@example.com", "e@example.com", "c@example.com"]
    by_birth = [{"field": "PROPERTY", "property": "born"}, {"field": "EMAIL", "direction": "DESC"}]
    assert await walk(api, by_birth) == ["c@example.com", "b@example.com", "e@example.com", "d@example.com", "a@example.com"]


async def test_pages_stay_in_order_while_contacts_are_written_between_them(api: Api, people: None) -> None:
    order = [{"field": "FIRST_NAME"}]
    first = (await api.gql(PAGE, {"o": order, "first": 2}))["contacts"]
    assert [e["node"]["firstName"] for e in first["edges"]] == ["Ann", "Bo"]
    await api.upsert({"email": "aa@example.com", "firstName": "Aaron"})  # before the cursor: not shown again
    await api.upsert({"email": "bz@example.com", "firstName": "Bob"})  # after it: shown next
    await api.upsert({"email": "c@example.com", "firstName": "Zed"})  # moved past the rest
    rest = (await api.gql(PAGE, {"o": order, "first": 10, "after": first["pageInfo"]["endCursor"]}))["contacts"]
    assert [e["node"]["firstName"] for e in rest["edges"]] == ["Bob", "Dan", "Eve", "Zed"]


async def test_ordering_and_filters_together(api: Api, people: None) -> None:
    only = {"properties": [{"name": "size", "isNull": False}]}
    assert await walk(api, [{"field": "PROPERTY", "property": "size", "direction": "DESC"}], filter_=only) == ["d@example.com", "b@example.com", "a@example.com", "e@example.com"]
    page = (await api.gql(PAGE, {"o": [{"field": "LAST_NAME"}], "f": only, "first": 1}))["contacts"]
    assert page["totalCount"] == 4


@pytest.mark.parametrize(
    ("order", "says"),
    [
        ([{"field": "PROPERTY"}], "give property with field PROPERTY"),
        ([{"field": "EMAIL", "property": "size"}], "give property with field PROPERTY"),
        ([{"field": "PROPERTY", "property": "nope"}], "no property named"),
        ([{"field": "EMAIL"}] * 6, "at most 5 sort keys"),
    ],
)
async def test_an_order_that_cannot_be_read_is_refused(api: Api, people: None, order: list[dict[str, Any]], says: str) -> None:
    errors = await api.errors(PAGE, {"o": order})
    assert errors[0]["extensions"]["code"] == "INVALID_INPUT" and says in errors[0]["message"], errors


async def test_a_cursor_serves_only_its_own_order(api: Api, people: None) -> None:
    page = (await api.gql(PAGE, {"o": [{"field": "EMAIL"}], "first": 1}))["contacts"]
    cursor = page["pageInfo"]["endCursor"]
    for other in ([{"field": "EMAIL", "direction": "DESC"}], None, [{"field": "LAST_NAME"}]):
        errors = await api.errors(PAGE, {"o": other, "after": cursor})
        assert errors[0]["extensions"]["code"] == "INVALID_INPUT" and "not a cursor" in errors[0]["message"]
    for garbage in ("WyJFTUFJTDpBU0M6IiwxLDJd", "eyJhIjoxfQ", "!!"):
        errors = await api.errors(PAGE, {"o": [{"field": "EMAIL"}], "after": garbage})
        assert errors[0]["extensions"]["code"] == "INVALID_INPUT", errors


def cursor(*key: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("order", "after"),
    [
        ([{"field": "EMAIL"}], cursor("EMAIL:ASC:", "a", 2**63)),
        ([{"field": "EMAIL"}], cursor("EMAIL:ASC:", "a", -1)),
        ([{"field": "ID"}], cursor("ID:ASC:", 10**30, 1)),
        ([{"field": "EMAIL"}], cursor("EMAIL:ASC:", "\x00a", 1)),
        ([{"field": "EMAIL"}], base64.urlsafe_b64encode(b'["EMAIL:ASC:","\\ud800",1]').decode()),
        ([{"field": "PROPERTY", "property": "size"}], cursor("PROPERTY:ASC:size", "abc", 1)),
        ([{"field": "PROPERTY", "property": "size"}], cursor("PROPERTY:ASC:size", "1e999999", 1)),
        ([{"field": "CREATED_AT"}], cursor("CREATED_AT:ASC:", "9999-12-31T23:59:59-23:59", 1)),
        ([{"field": "CREATED_AT"}], cursor("CREATED_AT:ASC:", {"a": 1}, 1)),
        ([{"field": "EMAIL"}], base64.urlsafe_b64encode(b"[" * 5000 + b"]" * 5000).decode()),
        (None, base64.urlsafe_b64encode(b"[" * 5000 + b"]" * 5000).decode()),
    ],
)
async def test_a_forged_cursor_is_refused_not_a_fault(api: Api, people: None, order: list[dict[str, Any]] | None, after: str) -> None:
    errors = await api.errors(PAGE, {"o": order, "after": after})
    assert errors[0]["extensions"]["code"] == "INVALID_INPUT" and "not a cursor" in errors[0]["message"], errors
