"""Saved segments: a filter and search kept by name, evaluated live; usable as filter:
{segmentId} wherever a filter goes — through HTTP, both engines."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import Api

CREATE = """mutation C($name: String!, $f: ContactFilter, $s: String) {
  createSegment(name: $name, filter: $f, search: $s) { segment { id name search size } userErrors { field code message } }
}"""
MEMBERS = """query M($id: ID!, $o: [ContactOrder!]) {
  segment(id: $id) { name size contacts(first: 100, orderBy: $o) { totalCount edges { node { email } } } }
}"""
PAGE = "query P($f: ContactFilter) { contacts(first: 100, filter: $f) { totalCount edges { node { email } } } }"


async def create(api: Api, name: str, filter_: dict[str, Any] | None = None, search: str | None = None) -> dict[str, Any]:
    return (await api.gql(CREATE, {"name": name, "f": filter_, "s": search}))["createSegment"]


async def members(api: Api, segment_id: str, order: list[dict[str, Any]] | None = None) -> list[str]:
    segment = (await api.gql(MEMBERS, {"id": segment_id, "o": order}))["segment"]
    emails = [e["node"]["email"] for e in segment["contacts"]["edges"]]
    assert segment["size"] == segment["contacts"]["totalCount"] == len(emails)
    return emails


async def test_a_segment_s_members_change_as_contacts_change(api: Api) -> None:
    await api.property_field("score", "NUMBER")
    vip = await api.create_list("VIP")
    for email, name, score in (("a@example.com", "Anna", "10"), ("b@example.com", "Bo", "3"), ("c@example.com", "Anneli", "50")):
        await api.upsert({"email": email, "firstName": name, "properties": [{"name": "score", "value": score}]})
    made = await create(api, "Engaged Annas", {"properties": [{"name": "score", "gte": "5"}]}, search="ann")
    assert made["userErrors"] == [] and made["segment"]["name"] == "Engaged Annas" and made["segment"]["search"] == "ann"
    segment_id = made["segment"]["id"]
    assert await members(api, segment_id) == ["a@example.com", "c@example.com"]
    assert await members(api, segment_id, [{"field": "EMAIL", "direction": "DESC"}]) == ["c@example.com", "a@example.com"]

    await api.upsert({"email": "a@example.com", "properties": [{"name": "score", "value": "1"}]})  # leaves
    await api.upsert({"email": "d@example.com", "firstName": "Hanna", "properties": [{"name": "score", "value": "7"}]}, listId=vip)  # joins
    assert await members(api, segment_id) == ["c@example.com", "d@example.com"]
    deleted = (await api.gql(PAGE, {"f": {"email": "c@example.com"}}))["contacts"]["edges"]
    assert deleted
    contact_id = (await api.gql('{ contacts(filter: {email: "c@example.com"}) { edges { node { id } } } }'))["contacts"]["edges"][0]["node"]["id"]
    await api.gql("mutation D($id: ID!) { deleteContact(id: $id) { deletedId } }", {"id": contact_id})
    assert await members(api, segment_id) == ["d@example.com"], "a deleted contact leaves"

    # filter: {segmentId} wherever a filter goes: combined, negated, counted
    emails = lambda page: [e["node"]["email"] for e in page["contacts"]["edges"]]  # noqa: E731
    assert emails(await api.gql(PAGE, {"f": {"segmentId": segment_id}})) == ["d@example.com"]
    assert emails(await api.gql(PAGE, {"f": {"or": [{"segmentId": segment_id}, {"email": "b@example.com"}]}})) == ["b@example.com", "d@example.com"]
    assert emails(await api.gql(PAGE, {"f": {"not": {"segmentId": segment_id}}})) == ["a@example.com", "b@example.com"]
    assert emails(await api.gql(PAGE, {"f": {"segmentId": segment_id, "listIds": [vip]}})) == ["d@example.com"]
    stats = await api.gql("query S($f: ContactFilter) { contactStats(filter: $f) { total byList { list { name } count } } }", {"f": {"segmentId": segment_id}})
    assert stats["contactStats"] == {"total": 1, "byList": [{"list": {"name": "VIP"}, "count": 1}]}


async def test_segments_are_listed_and_deleted(api: Api) -> None:
    ids = [(await create(api, f"S{i}", {"hasEmail": True}))["segment"]["id"] for i in range(3)]
    page = (await api.gql("{ segments(first: 2) { totalCount edges { node { id name } } pageInfo { hasNextPage endCursor } } }"))["segments"]
    assert page["totalCount"] == 3 and [e["node"]["name"] for e in page["edges"]] == ["S0", "S1"] and page["pageInfo"]["hasNextPage"]
    rest = (await api.gql("query R($a: String) { segments(after: $a) { edges { node { id } } } }", {"a": page["pageInfo"]["endCursor"]}))["segments"]
    assert [e["node"]["id"] for e in rest["edges"]] == [ids[2]]
    deleted = (await api.gql("mutation D($id: ID!) { deleteSegment(id: $id) { deletedId userErrors { code } } }", {"id": ids[0]}))["deleteSegment"]
    assert deleted == {"deletedId": ids[0], "userErrors": []}
    again = (await api.gql("mutation D($id: ID!) { deleteSegment(id: $id) { deletedId userErrors { code } } }", {"id": ids[0]}))["deleteSegment"]
    assert again == {"deletedId": None, "userErrors": [{"code": "NOT_FOUND"}]}
    assert (await api.gql("query G($id: ID!) { segment(id: $id) { id } }", {"id": ids[0]}))["segment"] is None
    errors = await api.errors(PAGE, {"f": {"segmentId": ids[0]}})
    assert errors[0]["extensions"]["code"] == "INVALID_INPUT" and "no segment" in errors[0]["message"] and "filter.segmentId" in errors[0]["message"]


async def test_what_cannot_be_a_segment_is_refused_with_its_field(api: Api, reader: Api) -> None:
    first = (await create(api, "Mine", {"hasEmail": True}))["segment"]["id"]
    for name, filter_, field, says in [
        ("Nested", {"or": [{"segmentId": first}]}, ["filter", "segmentId"], "cannot name a segment"),
        ("Deleted", {"includeDeleted": True}, ["filter", "includeDeleted"], "not deleted"),
        ("Unknown", {"properties": [{"name": "nope", "eq": "1"}]}, ["filter", "properties", "0", "name"], "no property named"),
        ("mine", None, ["name"], "already exists"),
        ("  ", None, ["name"], "1 to"),
    ]:
        refused = await create(api, name, filter_)
        assert refused["segment"] is None and refused["userErrors"][0]["code"] == "INVALID_INPUT", refused
        assert refused["userErrors"][0]["field"][: len(field)] == field[: len(refused["userErrors"][0]["field"])] and says in refused["userErrors"][0]["message"], refused
    errors = await reader.errors(CREATE, {"name": "Read-only", "f": None, "s": None})
    assert errors[0]["extensions"]["code"] == "FORBIDDEN"


async def test_another_workspace_s_segment_is_not_found(api: Api, other_workspace: Api) -> None:
    await api.upsert({"email": "mine@example.com"})
    segment_id = (await create(api, "Everyone", {"hasEmail": True}))["segment"]["id"]
    assert (await other_workspace.gql("query G($id: ID!) { segment(id: $id) { id } }", {"id": segment_id}))["segment"] is None
    errors = await other_workspace.errors(PAGE, {"f": {"segmentId": segment_id}})
    assert errors[0]["extensions"]["code"] == "INVALID_INPUT" and "no segment" in errors[0]["message"]
    assert (await other_workspace.gql("{ segments { totalCount } }"))["segments"]["totalCount"] == 0
    refused = (await other_workspace.gql("mutation D($id: ID!) { deleteSegment(id: $id) { deletedId userErrors { code } } }", {"id": segment_id}))["deleteSegment"]
    assert refused["userErrors"] == [{"code": "NOT_FOUND"}]
    assert await members(api, segment_id) == ["mine@example.com"]


async def test_names_are_one_name_however_written_and_nothing_invisible(api: Api) -> None:
    assert (await create(api, "STRASSE"))["userErrors"] == []
    for name in ("straße", "Strasse "):
        refused = await create(api, name)
        assert "already exists" in refused["userErrors"][0]["message"], refused
    assert (await create(api, "Cafe\u0301"))["userErrors"] == []
    assert "already exists" in (await create(api, "Café"))["userErrors"][0]["message"], "composed and decomposed é"
    for name in ("Bergs\u200b", "two\nlines", "bell\x07"):
        refused = await create(api, name)
        assert refused["segment"] is None and "invisible" in refused["userErrors"][0]["message"], name
    blank = await create(api, "Blank search", search="   ")
    assert blank["segment"]["search"] is None, "a blank search is no search"


async def test_a_segment_s_filter_reads_back_as_the_input_that_makes_it(api: Api) -> None:
    await api.property_field("score", "NUMBER")
    await api.upsert({"email": "a@example.com", "properties": [{"name": "score", "value": "1"}]})
    await api.upsert({"email": "b@example.com", "properties": [{"name": "score", "value": "2"}]})
    given = {
        "or": [{"emailIn": ["A@example.com"]}, {"properties": [{"name": "score", "gte": "5", "in": ["7", "9"]}]}],
        "not": {"hasMobile": True}, "createdAfter": "2026-01-01T00:00:00+00:00", "property": {"name": "score", "value": "1"},
    }  # fmt: skip
    made = await api.gql("mutation C($f: ContactFilter) { createSegment(name: \"Shaped\", filter: $f) { segment { id filter size } userErrors { message } } }", {"f": given})
    back = made["createSegment"]["segment"]["filter"]
    assert back == {**given, "or": [{"emailIn": ["A@example.com"]}, {"properties": [{"name": "score", "in": ["7", "9"], "gte": "5"}]}]}
    again = await create(api, "Same again", back)
    assert again["userErrors"] == [] and again["segment"]["size"] == made["createSegment"]["segment"]["size"] == 1, (again, made)


@pytest.mark.parametrize("property_", [{"name": "score", "value": None}, {"name": "score", "isNull": True}, {"name": "score", "gt": "1"}])
async def test_the_older_property_form_reads_back_as_given(api: Api, property_: dict[str, Any]) -> None:
    """`property: {name, value: null}` gave back `{name}` alone, which is now refused."""
    await api.property_field("score", "NUMBER")
    await api.upsert({"email": "a@example.com", "properties": [{"name": "score", "value": "2"}]})
    await api.upsert({"email": "b@example.com"})
    made = await api.gql("mutation C($f: ContactFilter) { createSegment(name: \"Old\", filter: $f) { segment { filter size } userErrors { message } } }", {"f": {"property": property_}})
    back = made["createSegment"]["segment"]["filter"]
    again = await create(api, "Old again", back)
    assert again["userErrors"] == [] and again["segment"]["size"] == made["createSegment"]["segment"]["size"] == 1, (back, again)
