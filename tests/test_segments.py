"""Static segments (seed 004): attach / detach by id or externalId, list contents and size."""

from __future__ import annotations

from tests.helpers import Api

ATTACH = """
mutation A($list: ID!, $ids: [ID!], $ext: [String!]) {
  addContactsToList(listId: $list, contactIds: $ids, externalIds: $ext) { list { id size } changed unknownIds userErrors { field code } }
}
"""
DETACH = """
mutation D($list: ID!, $ids: [ID!], $ext: [String!]) {
  removeContactsFromList(listId: $list, contactIds: $ids, externalIds: $ext) { list { id size } changed unknownIds userErrors { field code } }
}
"""
MEMBERS = "query M($id: ID!) { list(id: $id) { size contacts(first: 100) { totalCount edges { node { id externalId } } } } }"


async def test_attach_and_detach_by_id_and_external_id(api: Api) -> None:
    list_id = await api.create_list("Segment")
    ids = [(await api.upsert({"externalId": f"ext-{i}", "email": f"s{i}@example.com"}))["contact"]["id"] for i in range(4)]
    attached = (await api.gql(ATTACH, {"list": list_id, "ids": [ids[0], ids[1], "999999", "nope"], "ext": ["ext-2", "ext-missing"]}))["addContactsToList"]
    assert attached["changed"] == 3 and attached["list"]["size"] == 3
    assert attached["unknownIds"] == ["999999", "nope", "ext-missing"]
    again = (await api.gql(ATTACH, {"list": list_id, "ids": [ids[0]]}))["addContactsToList"]
    assert again["changed"] == 0

    members = (await api.gql(MEMBERS, {"id": list_id}))["list"]
    assert [e["node"]["externalId"] for e in members["contacts"]["edges"]] == ["ext-0", "ext-1", "ext-2"]

    detached = (await api.gql(DETACH, {"list": list_id, "ext": ["ext-1", "ext-3"]}))["removeContactsFromList"]
    assert detached["changed"] == 1 and detached["list"]["size"] == 2 and detached["unknownIds"] == []
    emptied = (await api.gql(DETACH, {"list": list_id}))["removeContactsFromList"]
    assert emptied["changed"] == 2 and emptied["list"]["size"] == 0, "no ids: the list is emptied (seed 004)"
    assert (await api.contact(ids[0]))["lists"] == []


async def test_at_most_500_ids_and_the_list_must_exist(api: Api) -> None:
    list_id = await api.create_list("Big")
    too_many = (await api.gql(ATTACH, {"list": list_id, "ids": [str(i) for i in range(1, 502)]}))["addContactsToList"]
    assert too_many["userErrors"] == [{"field": ["contactIds"], "code": "INVALID_INPUT"}] and too_many["list"] is None
    missing = (await api.gql(ATTACH, {"list": "3fa85f64-5717-4562-b3fc-2c963f66afa6", "ids": ["1"]}))["addContactsToList"]
    assert missing["userErrors"] == [{"field": ["listId"], "code": "LIST_NOT_FOUND"}]


async def test_other_workspaces_contacts_are_unknown(api: Api, other_workspace: Api) -> None:
    list_id = await api.create_list("Mine")
    theirs = (await other_workspace.upsert({"email": "x@example.com", "externalId": "t-1"}))["contact"]["id"]
    result = (await api.gql(ATTACH, {"list": list_id, "ids": [theirs], "ext": ["t-1"]}))["addContactsToList"]
    assert result["changed"] == 0 and result["unknownIds"] == [theirs, "t-1"]
    foreign = (await other_workspace.gql(ATTACH, {"list": list_id, "ids": [theirs]}))["addContactsToList"]
    assert foreign["userErrors"] == [{"field": ["listId"], "code": "LIST_NOT_FOUND"}]


async def test_deleted_members_do_not_count(api: Api) -> None:
    list_id = await api.create_list("Live")
    a = (await api.upsert({"email": "a@example.com"}, listId=list_id))["contact"]["id"]
    await api.upsert({"email": "b@example.com"}, listId=list_id)
    await api.gql("mutation D($id: ID!) { deleteContact(id: $id) { deletedId } }", {"id": a})
    members = (await api.gql(MEMBERS, {"id": list_id}))["list"]
    assert members["size"] == 1 and members["contacts"]["totalCount"] == 1
