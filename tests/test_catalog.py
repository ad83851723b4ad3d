"""Renaming and deleting lists and property fields (issue 22): history for every contact a
delete changes, refusals naming the segments and batches in the way, and every process's cache
of lists and fields following the change."""

from __future__ import annotations

from typing import Any

import pytest

from contactql.config import Settings
from contactql.store.model import Scope
from tests.conftest import running
from tests.helpers import Api

RENAME_LIST = "mutation R($id: ID!, $name: String!) { renameList(id: $id, name: $name) { list { id name } userErrors { field code message } } }"
DELETE_LIST = "mutation D($id: ID!) { deleteList(id: $id) { deletedId removedMembers userErrors { field code message } } }"
UPDATE_FIELD = "mutation U($id: ID!, $input: UpdatePropertyFieldInput!) { updatePropertyField(id: $id, input: $input) { field { id name options } userErrors { field code message } } }"
DELETE_FIELD = "mutation D($id: ID!) { deletePropertyField(id: $id) { deletedId removedValues userErrors { field code message } } }"
LISTS_OF = '{ contacts(filter: {email: "$email"}, first: 1) { edges { node { lists { name } history(first: 20) { edges { node { changes { field old new } } } } } } } }'
SEGMENT = "mutation S($name: String!, $filter: ContactFilter) { createSegment(name: $name, filter: $filter) { segment { id } userErrors { code message } } }"


def node_of(found: dict[str, Any]) -> dict[str, Any]:
    [edge] = found["contacts"]["edges"]
    return dict(edge["node"])


async def test_a_renamed_list_keeps_its_members_and_its_old_name_is_free(admin: Api, api: Api) -> None:
    list_id = await api.create_list("Newsleter")
    await api.upsert({"email": "a@example.com", "lists": {"add": [{"name": "Newsleter"}]}})
    renamed = (await admin.gql(RENAME_LIST, {"id": list_id, "name": "Newsletter"}))["renameList"]
    assert renamed == {"list": {"id": list_id, "name": "Newsletter"}, "userErrors": []}
    # by its new name in any case, the same list; the old name is a new list now
    await api.upsert({"email": "b@example.com", "lists": {"add": [{"name": "NEWSLETTER"}]}})
    await api.upsert({"email": "c@example.com", "lists": {"add": [{"name": "Newsleter"}]}})
    lists = await api.gql("{ lists { edges { node { id name size } } } }")
    assert sorted((e["node"]["name"], e["node"]["size"]) for e in lists["lists"]["edges"]) == [("Newsleter", 1), ("Newsletter", 2)]
    taken = (await admin.gql(RENAME_LIST, {"id": list_id, "name": "newsleter"}))["renameList"]
    assert [(e["field"], e["code"]) for e in taken["userErrors"]] == [(["name"], "INVALID_INPUT")] and "already exists" in taken["userErrors"][0]["message"]
    for name in ("", " ", "x" * 101, "News\nletter", "News\u200bletter"):
        refused = (await admin.gql(RENAME_LIST, {"id": list_id, "name": name}))["renameList"]
        assert refused["list"] is None and refused["userErrors"][0]["field"] == ["name"]
    unknown = (await admin.gql(RENAME_LIST, {"id": "no-such-list", "name": "X"}))["renameList"]
    assert unknown["userErrors"][0]["code"] == "LIST_NOT_FOUND"


async def test_deleting_a_list_gives_each_member_a_history_entry(admin: Api, api: Api) -> None:
    keep = await api.create_list("Keep")
    gone = await api.create_list("Gone")
    for email in ("m1@example.com", "m2@example.com"):
        await api.upsert({"email": email, "lists": {"add": [{"id": keep}, {"id": gone}]}})
    await api.upsert({"email": "outsider@example.com"})
    deleted = (await admin.gql(DELETE_LIST, {"id": gone}))["deleteList"]
    assert deleted == {"deletedId": gone, "removedMembers": 2, "userErrors": []}
    member = node_of(await api.gql(LISTS_OF.replace("$email", "m1@example.com")))
    assert member["lists"] == [{"name": "Keep"}]
    last = member["history"]["edges"][-1]["node"]["changes"]
    assert last == [{"field": "lists", "old": sorted([keep, gone]), "new": [keep]}]
    outsider = node_of(await api.gql(LISTS_OF.replace("$email", "outsider@example.com")))
    assert len(outsider["history"]["edges"]) == 1  # untouched
    assert (await api.gql("query L($id: ID!) { list(id: $id) { id } }", {"id": gone}))["list"] is None
    again = (await admin.gql(DELETE_LIST, {"id": gone}))["deleteList"]
    assert again["deletedId"] is None and again["userErrors"][0]["code"] == "LIST_NOT_FOUND"


async def test_a_list_a_segment_uses_cannot_be_deleted(admin: Api, api: Api) -> None:
    list_id = await api.create_list("VIP")
    made = await api.gql(SEGMENT, {"name": "VIP or new", "filter": {"or": [{"listIds": [list_id]}, {"createdAfter": "2026-01-01T00:00:00Z"}]}})
    segment_id = made["createSegment"]["segment"]["id"]
    refused = (await admin.gql(DELETE_LIST, {"id": list_id}))["deleteList"]
    [error] = refused["userErrors"]
    assert error["code"] == "IN_USE" and f"segment 'VIP or new' ({segment_id})" in error["message"]
    await api.gql("mutation D($id: ID!) { deleteSegment(id: $id) { deletedId } }", {"id": segment_id})
    assert (await admin.gql(DELETE_LIST, {"id": list_id}))["deleteList"]["deletedId"] == list_id


async def test_a_list_an_unfinished_batch_adds_to_is_renamed_not_deleted(settings: Settings) -> None:
    """A batch adds to its listId whatever the list is called by the time it runs; while it waits
    the list cannot be deleted."""
    async with running(settings, scope=Scope.ADMIN, workers=False) as (app, admin):
        list_id = await admin.create_list("Imported")
        submit = "mutation S($input: UpsertContactsInput!) { upsertContacts(input: $input) { batch { id } } }"
        contacts = [{"email": f"i{i}@example.com"} for i in range(40)]
        batch_id = (await admin.gql(submit, {"input": {"contacts": contacts, "listId": list_id}}))["upsertContacts"]["batch"]["id"]
        refused = (await admin.gql(DELETE_LIST, {"id": list_id}))["deleteList"]
        assert refused["userErrors"][0]["code"] == "IN_USE" and f"unfinished batch {batch_id}" in refused["userErrors"][0]["message"]
        assert (await admin.gql(RENAME_LIST, {"id": list_id, "name": "Imported 2026"}))["renameList"]["userErrors"] == []
        await app.state.batch_worker.drain()
        found = await admin.gql("query L($id: ID!) { list(id: $id) { name size } }", {"id": list_id})
        assert found["list"] == {"name": "Imported 2026", "size": 40}
        assert (await admin.gql(DELETE_LIST, {"id": list_id}))["deleteList"]["removedMembers"] == 40


async def test_every_process_follows_a_rename_or_delete(settings: Settings) -> None:
    """Two servers on one database, each with its own cache of lists and fields: what one renames
    or deletes, the other's next write sees — never the old name finding the renamed list, never
    a deleted one."""
    async with running(settings, scope=Scope.ADMIN) as (_, one), running(settings, scope=Scope.ADMIN) as (_, two):
        list_id = await one.create_list("Old name")
        doomed = await one.create_list("Doomed")
        await one.property_field("colour")
        # process one caches them
        await one.upsert({"email": "a@example.com", "lists": {"add": [{"name": "Old name"}, {"name": "Doomed"}]}, "properties": [{"name": "colour", "value": "red"}]})
        await two.gql(RENAME_LIST, {"id": list_id, "name": "New name"})
        await two.gql(DELETE_LIST, {"id": doomed})
        field_id = (await two.gql("{ properties { id name } }"))["properties"][0]["id"]
        await two.gql(UPDATE_FIELD, {"id": field_id, "input": {"name": "color"}})
        written = await one.upsert({"email": "b@example.com", "lists": {"add": [{"name": "Old name"}, {"name": "Doomed"}]}, "properties": [{"name": "colour", "value": "blue"}]})
        assert written["invalidProperties"][0]["name"] == "colour" and "no property" in written["invalidProperties"][0]["reason"]
        lists = await one.gql("{ lists { edges { node { id name size } } } }")
        by_name = {e["node"]["name"]: e["node"] for e in lists["lists"]["edges"]}
        assert by_name["New name"] == {"id": list_id, "name": "New name", "size": 1}
        assert by_name["Old name"]["id"] != list_id and by_name["Doomed"]["id"] != doomed  # new lists, made by name
        assert (await one.upsert({"email": "c@example.com", "properties": [{"name": "color", "value": "green"}]}))["invalidProperties"] == []


async def test_a_select_fields_options_change_but_not_from_under_its_contacts(admin: Api, api: Api) -> None:
    field_id = await api.property_field("tier", "SELECT", ["Gold", "Silver"])
    await api.upsert({"email": "g@example.com", "properties": [{"name": "tier", "value": "gold"}]})
    grown = (await admin.gql(UPDATE_FIELD, {"id": field_id, "input": {"options": ["Bronze", "Silver", "Gold"]}}))["updatePropertyField"]
    assert grown == {"field": {"id": field_id, "name": "tier", "options": ["Bronze", "Silver", "Gold"]}, "userErrors": []}
    assert (await api.upsert({"email": "b@example.com", "properties": [{"name": "tier", "value": "BRONZE"}]}))["invalidProperties"] == []
    refused = (await admin.gql(UPDATE_FIELD, {"id": field_id, "input": {"options": ["Bronze"]}}))["updatePropertyField"]
    [error] = refused["userErrors"]
    assert (error["field"], error["code"]) == (["input", "options"], "IN_USE") and "'Gold' (1 contacts)" in error["message"] and "Silver" not in error["message"]
    shrunk = (await admin.gql(UPDATE_FIELD, {"id": field_id, "input": {"options": ["Bronze", "Gold"]}}))["updatePropertyField"]
    assert shrunk["field"]["options"] == ["Bronze", "Gold"]
    text_id = await api.property_field("note")
    for input_, field in (({"options": ["a"]}, "options"), ({"name": "email"}, "name"), ({"name": "TIER"}, "name"), ({"name": ""}, "name")):
        bad = (await admin.gql(UPDATE_FIELD, {"id": text_id, "input": input_}))["updatePropertyField"]
        assert bad["field"] is None and bad["userErrors"][0]["field"] == ["input", field], input_


async def test_renaming_a_property_keeps_the_segments_that_use_it(admin: Api, api: Api) -> None:
    field_id = await api.property_field("plan")
    await api.upsert({"email": "p@example.com", "properties": [{"name": "plan", "value": "pro"}]})
    await api.upsert({"email": "f@example.com", "properties": [{"name": "plan", "value": "free"}]})
    made = await api.gql(SEGMENT, {"name": "Pro", "filter": {"and": [{"properties": [{"name": "PLAN", "eq": "pro"}]}, {"emailStatusIn": ["NO_MARKETING"]}]}})
    segment_id = made["createSegment"]["segment"]["id"]
    assert (await admin.gql(UPDATE_FIELD, {"id": field_id, "input": {"name": "Subscription plan"}}))["updatePropertyField"]["field"]["name"] == "Subscription plan"
    members = await api.gql('query S($id: ID!) { contacts(filter: {segmentId: $id}) { edges { node { email } } } }', {"id": segment_id})
    assert [e["node"]["email"] for e in members["contacts"]["edges"]] == ["p@example.com"]
    refused = (await admin.gql(DELETE_FIELD, {"id": field_id}))["deletePropertyField"]
    assert refused["userErrors"][0]["code"] == "IN_USE" and f"segment 'Pro' ({segment_id})" in refused["userErrors"][0]["message"]


async def test_deleting_a_property_removes_its_values_with_history(admin: Api, api: Api) -> None:
    field_id = await api.property_field("shoe size", "NUMBER")
    await api.upsert({"email": "s@example.com", "properties": [{"name": "shoe size", "value": "42"}]})
    await api.upsert({"email": "n@example.com"})
    deleted = (await admin.gql(DELETE_FIELD, {"id": field_id}))["deletePropertyField"]
    assert deleted == {"deletedId": field_id, "removedValues": 1, "userErrors": []}
    found = await api.gql('{ contacts(filter: {email: "s@example.com"}, first: 1) { edges { node { properties { field { name } value } history(first: 20) { edges { node { changes { field old new } } } } } } } }')
    node = node_of(found)
    assert node["properties"] == []
    assert node["history"]["edges"][-1]["node"]["changes"] == [{"field": "properties.shoe size", "old": "42", "new": None}]
    assert (await api.gql("{ properties { id } }"))["properties"] == []
    # the name is free again, for any type
    await api.property_field("shoe size", "TEXT")


@pytest.mark.parametrize(
    "document",
    [
        'mutation { renameList(id: "x", name: "y") { list { id } } }',
        'mutation { deleteList(id: "x") { deletedId } }',
        'mutation { updatePropertyField(id: "x", input: {name: "y"}) { field { id } } }',
        'mutation { deletePropertyField(id: "x") { deletedId } }',
    ],
)
async def test_only_admin_keys_rename_or_delete(api: Api, document: str) -> None:
    assert (await api.errors(document))[0]["extensions"]["code"] == "FORBIDDEN"


async def test_a_batch_stored_after_its_list_was_deleted_is_refused_not_left_to_fail(settings: Settings) -> None:
    """The request checks its listId, then stores the batch in a transaction of its own; a
    deleteList between the two must not leave a batch whose every item fails: the store checks
    again (and on PostgreSQL locks the list's row, as deleteList does)."""
    from contactql.store.batches.queue import accept_batch
    from contactql.store.errors import NotFound
    from contactql.store.model import UpsertOptions
    from contactql.store.workspace.keys import workspace_named

    async with running(settings, scope=Scope.ADMIN, workers=False) as (app, admin):
        list_id = await admin.create_list("Short-lived")
        await admin.gql(DELETE_LIST, {"id": list_id})
        db = app.state.services.db
        workspace = (await db.read(workspace_named, name="default")).id
        with pytest.raises(NotFound) as refused:
            await db.write(accept_batch, workspace_id=workspace, entries=[], options=UpsertOptions(list_id=list_id), webhook_url=None)
        assert refused.value.problems[0].code == "LIST_NOT_FOUND" and refused.value.problems[0].path == ("listId",)


async def test_an_export_whose_property_was_renamed_before_it_ran_fails_saying_why(settings: Settings) -> None:
    from tests.test_exports import EXPORT, STATE

    async with running(settings, scope=Scope.ADMIN, workers=False) as (app, admin):
        field_id = await admin.property_field("Plan")
        await admin.upsert({"email": "e@example.com", "properties": [{"name": "Plan", "value": "pro"}]})
        made = await admin.gql(EXPORT, {"input": {"fields": ["email", "Plan"], "filter": {"properties": [{"name": "Plan", "eq": "pro"}]}}})
        export_id = made["exportContacts"]["export"]["id"]
        await admin.gql(UPDATE_FIELD, {"id": field_id, "input": {"name": "Tier"}})
        await app.state.export_worker.drain()
        state = (await admin.gql(STATE, {"id": export_id}))["export"]
        assert state["status"] == "FAILED" and state["error"].startswith("the export's request no longer holds:") and "Plan" in state["error"]
