"""`duplicates(rule:)` (issue 22): groups of contacts a match rule says are one person, for a
review screen — by email whatever the mobiles, by mobile, by name and email."""

from __future__ import annotations

from typing import Any

from tests.helpers import Api

GROUPS = """query D($rule: DuplicateRule, $first: Int, $after: String) {
  duplicates(rule: $rule, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { key size contacts { email mobile firstName } } }
  }
}"""


async def seed(api: Api) -> None:
    for contact in [
        {"email": "ann@example.com", "mobile": "+4790000001", "firstName": "Ann"},
        {"email": "ANN@example.com", "mobile": "+4790000002", "firstName": "ann"},  # the same address, other case
        {"email": "ann@example.com", "firstName": "Anna"},
        {"email": "bob@example.com", "mobile": "+4790000003", "firstName": "Bob"},
        {"email": "bo@example.com", "mobile": "+4790000003", "firstName": "Bob"},  # the same mobile
        {"email": "cy@example.com", "firstName": "Cy"},  # alone
        {"email": "gone@example.com", "mobile": "+4790000009"},
        {"email": "gone@example.com", "mobile": "+4790000008"},
    ]:
        await api.upsert(contact, match={"rules": ["EXTERNAL_ID"]})  # no match rule finds them: each is created


async def groups(api: Api, **variables: Any) -> dict[str, Any]:
    return dict((await api.gql(GROUPS, variables))["duplicates"])


async def test_groups_by_email_mobile_and_name_with_deleted_contacts_left_out(api: Api) -> None:
    await seed(api)
    found = await api.gql('{ contacts(filter: {email: "gone@example.com"}, first: 1) { edges { node { id } } } }')
    await api.gql("mutation D($id: ID!) { deleteContact(id: $id) { deletedId } }", {"id": found["contacts"]["edges"][0]["node"]["id"]})
    by_email = await groups(api)
    assert by_email["totalCount"] == 1
    [ann] = [e["node"] for e in by_email["edges"]]
    assert (ann["key"], ann["size"]) == (["ann@example.com"], 3)
    assert [c["firstName"] for c in ann["contacts"]] == ["Ann", "ann", "Anna"]  # oldest first
    by_mobile = await groups(api, rule="MOBILE")
    assert [(e["node"]["key"], e["node"]["size"]) for e in by_mobile["edges"]] == [(["+4790000003"], 2)]
    by_name = await groups(api, rule="NAME_AND_EMAIL")
    assert [(e["node"]["key"], e["node"]["size"]) for e in by_name["edges"]] == [(["ann@example.com", "ann", ""], 2)]


async def test_groups_come_in_pages_by_what_they_share(api: Api) -> None:
    for i in range(7):
        for mobile in ("+4791000001", "+4791000002"):
            await api.upsert({"email": f"p{i}@example.com", "mobile": mobile}, match={"rules": ["EXTERNAL_ID"]})
    seen, after = [], None
    for _ in range(5):  # bounded: 7 groups, 3 a page
        page = await groups(api, first=3, after=after)
        seen += [e["node"]["key"][0] for e in page["edges"]]
        after = page["pageInfo"]["endCursor"]
        if not page["pageInfo"]["hasNextPage"]:
            break
    assert seen == [f"p{i}@example.com" for i in range(7)]
    for bad in ("junk", "WzFd"):  # not base64 JSON; a cursor of [1]
        assert (await api.errors(GROUPS, {"after": bad}))[0]["extensions"]["code"] == "INVALID_INPUT"
    assert (await api.errors(GROUPS, {"first": 51}))[0]["extensions"]["code"] == "INVALID_INPUT"


async def test_a_group_shows_at_most_fifty_contacts_and_its_whole_size(api: Api) -> None:
    for i in range(55):
        await api.upsert({"email": "many@example.com", "mobile": f"+47920000{i:02d}"}, match={"rules": ["EXTERNAL_ID"]})
    [group] = [e["node"] for e in (await groups(api))["edges"]]
    assert group["size"] == 55 and len(group["contacts"]) == 50
    assert group["contacts"][0]["mobile"] == "+4792000000"


async def test_another_workspaces_duplicates_are_not_shown(api: Api, other_workspace: Api) -> None:
    await seed(other_workspace)
    assert (await groups(api))["edges"] == []
