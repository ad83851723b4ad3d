"""Relay connections (one generic Connection): cursors, bounds, filters, and no N+1 queries."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from contactql.config import Settings
from tests.conftest import count_statements
from tests.helpers import Api

PAGE = """
query P($first: Int, $after: String, $filter: ContactFilter) {
  contacts(first: $first, after: $after, filter: $filter) {
    totalCount
    edges { cursor node { id email } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """No batch or webhook workers: their idle polls would land in the statement counts below."""
    return settings.replace(workers=False)


async def test_pages_walk_every_contact_once_in_id_order(api: Api) -> None:
    made = [(await api.upsert({"email": f"p{i}@example.com"}))["contact"]["id"] for i in range(7)]
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        page = (await api.gql(PAGE, {"first": 3, "after": after}))["contacts"]
        assert page["totalCount"] == 7
        seen += [e["node"]["id"] for e in page["edges"]]
        assert page["pageInfo"]["hasPreviousPage"] is (after is not None)
        pages += 1
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
        assert after == page["edges"][-1]["cursor"]
    assert seen == made
    assert pages == 3


@pytest.mark.parametrize("by", ["list", "property"])
async def test_pages_of_a_list_or_a_property_value_walk_its_contacts_once_in_id_order(api: Api, other_workspace: Api, by: str) -> None:
    """These pages are read from the memberships or the property values (store/workspace/contacts.py)."""
    list_id = await api.create_list("Members")
    await api.property_field("city")
    await other_workspace.property_field("city")
    members = []
    for i in range(9):
        member = i % 3 != 1
        contact = {"email": f"m{i}@example.com", "properties": [{"name": "city", "value": "Oslo" if member else "Bergen"}]}
        made = await api.upsert(contact, **({"listId": list_id} if member else {}))
        if member:
            members.append(made["contact"]["id"])
    await other_workspace.upsert({"email": "elsewhere@example.com", "properties": [{"name": "city", "value": "Oslo"}]})
    deleted = members.pop(2)
    await api.gql('mutation { deleteContact(id: "%s") { deletedId } }' % deleted)
    where = {"listId": list_id} if by == "list" else {"property": {"name": "city", "value": "Oslo"}}
    seen: list[str] = []
    after = None
    for _ in range(len(members)):  # bounded: a page that ignored `after` would repeat forever
        page = (await api.gql(PAGE, {"first": 2, "after": after, "filter": where}))["contacts"]
        assert page["totalCount"] == len(members)
        seen += [e["node"]["id"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == members


@pytest.mark.parametrize("first", [101, -1, 1000])
async def test_first_out_of_range_is_an_invalid_input_error(api: Api, first: int) -> None:
    errors = await api.errors(PAGE, {"first": first})
    assert errors[0]["extensions"]["code"] == "INVALID_INPUT"
    assert "between 0 and 100" in errors[0]["message"]


@pytest.mark.parametrize("after", ["not-a-cursor", "W3RydWVd", "WzEwMDAwMDAwMDAwMDAwMDAwMDAwMDBd", "Wy0xXQ"])
async def test_a_bad_cursor_is_an_invalid_input_error(api: Api, after: str) -> None:
    # Base64 of [true], [10**22] (past BIGINT) and [-1]: JSON, but not a contact key.
    errors = await api.errors(PAGE, {"after": after})
    assert errors[0]["extensions"]["code"] == "INVALID_INPUT"


@pytest.mark.parametrize("contact_id", ["73\u00b9", "\u0667\u0663", "99999999999999999999", "-1", "0x10"])
async def test_an_id_that_is_not_ascii_digits_finds_no_contact(api: Api, contact_id: str) -> None:
    await api.upsert({"email": "x@example.com"})
    assert await api.contact(contact_id) is None


async def test_filters(api: Api) -> None:
    list_id = await api.create_list("L")
    a = await api.upsert({"email": "a@example.com", "mobile": "+4790000001", "externalId": "ext-a", "emailOptIn": True}, listId=list_id)
    b = await api.upsert({"email": "b@example.com", "smsStatus": "FAILED"})
    c = await api.upsert({"email": "c@example.com"})
    await api.gql("mutation D($id: ID!) { deleteContact(id: $id) { deletedId } }", {"id": c["contact"]["id"]})

    async def emails(filter_: dict[str, Any]) -> list[str]:
        page = (await api.gql(PAGE, {"filter": filter_}))["contacts"]
        assert page["totalCount"] == len(page["edges"])
        return [e["node"]["email"] for e in page["edges"]]

    assert await emails({}) == ["a@example.com", "b@example.com"]
    assert await emails({"includeDeleted": True}) == ["a@example.com", "b@example.com", "c@example.com"]
    assert await emails({"email": "A@Example.com"}) == ["a@example.com"]
    assert await emails({"mobile": "0047 900 00 001"}) == ["a@example.com"]
    assert await emails({"externalId": "ext-a"}) == ["a@example.com"]
    assert await emails({"listId": list_id}) == ["a@example.com"]
    assert await emails({"emailStatus": "SUBSCRIBED"}) == ["a@example.com"]
    assert await emails({"smsStatus": "FAILED"}) == ["b@example.com"]
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    assert await emails({"updatedSince": future}) == []
    assert await emails({"updatedSince": "2000-01-01T00:00:00+00:00"}) == ["a@example.com", "b@example.com"]
    assert b["contact"]["id"] != a["contact"]["id"]


async def test_an_unknown_property_filter_is_an_invalid_input_error(api: Api) -> None:
    errors = await api.errors('{ contacts(filter: {property: {name: "nope", value: "x"}}) { totalCount } }')
    assert errors[0]["extensions"]["code"] == "INVALID_INPUT"


async def test_lists_connection_pages(api: Api) -> None:
    for name in "ABCDE":
        await api.create_list(name)
    first = (await api.gql("{ lists(first: 2) { totalCount edges { node { name } } pageInfo { hasNextPage endCursor } } }"))["lists"]
    assert [e["node"]["name"] for e in first["edges"]] == ["A", "B"]
    assert first["totalCount"] == 5 and first["pageInfo"]["hasNextPage"] is True
    rest = await api.gql(
        "query R($after: String) { lists(first: 10, after: $after) { edges { node { name } } pageInfo { hasNextPage } } }",
        {"after": first["pageInfo"]["endCursor"]},
    )
    assert [e["node"]["name"] for e in rest["lists"]["edges"]] == ["C", "D", "E"]
    assert rest["lists"]["pageInfo"]["hasNextPage"] is False


async def test_fifty_contacts_with_their_relations_cost_a_fixed_number_of_queries(app: Any, api: Api) -> None:
    await api.property_field("city")
    company = (await api.gql('mutation { createCompany(name: "Acme") { company { id } } }'))["createCompany"]["company"]["id"]
    for i in range(50):
        await api.upsert(
            {
                "email": f"n{i}@example.com",
                "properties": [{"name": "city", "value": f"City {i}"}],
                "lists": {"add": [{"name": f"L{i % 3}"}]},
                "companies": [company],
                "externalUrls": [{"ref": "crm", "url": f"https://crm.example.com/{i}"}],
            }
        )
    query = """{ contacts(first: 50) { edges { node { id properties { field { name } value } lists { name size }
               companies { name } externalUrls { url } } } } }"""
    with count_statements(app) as statements:
        data = await api.gql(query)
    assert len(data["contacts"]["edges"]) == 50
    assert all(len(e["node"]["properties"]) == 1 and len(e["node"]["lists"]) == 1 for e in data["contacts"]["edges"])
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    # page, fields, properties, lists, list sizes, companies, URLs — whatever the page size
    assert len(selects) <= 7, selects
    # The same relations asked through fragments, aliases and an inline fragment, and beside a
    # contact's own fields: the page's relations are read once and every way gets them.
    shaped = """query { contacts(first: 50) { ...Page } one: contact(id: "%s") { lists { name } } }
      fragment Page on ContactConnection { edges { ...Edge } }
      fragment Edge on ContactEdge { node { id ... on Contact { props: properties { value } } l: lists { name } lists { name } companies { name } } }""" % data["contacts"]["edges"][0]["node"]["id"]
    with count_statements(app) as statements:
        again = await api.gql(shaped)
    nodes = [e["node"] for e in again["contacts"]["edges"]]
    assert [n["props"][0]["value"] for n in nodes] == [e["node"]["properties"][0]["value"] for e in data["contacts"]["edges"]]
    assert all(n["l"] == n["lists"] == [{"name": e["node"]["lists"][0]["name"]}] for n, e in zip(nodes, data["contacts"]["edges"], strict=True))
    assert again["one"]["lists"] == nodes[0]["lists"], "a contact outside a page reads through its DataLoader"
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) <= 7
