"""Provenance: source, createdBy and a history entry per write — a consent ledger."""

from __future__ import annotations

from typing import Any

from tests.helpers import Api
from tests.test_batches import submit, wait_finished

HISTORY = """
query H($id: ID!, $after: String) {
  contact(id: $id) {
    source createdBy
    history(first: 10, after: $after) {
      totalCount
      edges { node { at source keyName batchId changes { field old new } } }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""


async def history(api: Api, contact_id: str) -> list[dict[str, Any]]:
    return [e["node"] for e in (await api.gql(HISTORY, {"id": contact_id}))["contact"]["history"]["edges"]]


async def test_every_write_leaves_one_entry_with_old_and_new_values(api: Api) -> None:
    await api.property_field("city")
    made = await api.upsert({"email": "h@example.com", "emailOptIn": True, "properties": [{"name": "city", "value": "Oslo"}]})
    contact_id = made["contact"]["id"]
    await api.upsert({"id": contact_id, "emailOptIn": False, "smsStatus": "SUBSCRIBED"})
    await api.upsert({"id": contact_id, "emailOptIn": False})  # UNCHANGED: no entry
    await api.upsert({"id": contact_id, "properties": [{"name": "city", "value": "Bergen"}], "lists": {"add": [{"name": "L"}]}})
    await api.gql("mutation D($id: ID!) { deleteContact(id: $id) { deletedId } }", {"id": contact_id})

    entries = await history(api, contact_id)
    assert [e["source"] for e in entries] == ["API"] * 4
    assert all(e["keyName"] == "test-writer" and e["batchId"] is None and e["at"] for e in entries)
    created, consent, changed, deleted = (e["changes"] for e in entries)
    assert {"field": "emailStatus", "old": None, "new": "SUBSCRIBED"} in created
    assert {"field": "properties.city", "old": None, "new": "Oslo"} in created
    assert consent == [
        {"field": "emailStatus", "old": "SUBSCRIBED", "new": "UNSUBSCRIBED"},
        {"field": "smsStatus", "old": "NO_MARKETING", "new": "SUBSCRIBED"},
    ]
    assert changed[0] == {"field": "properties.city", "old": "Oslo", "new": "Bergen"}
    assert changed[1]["field"] == "lists" and changed[1]["old"] == [] and len(changed[1]["new"]) == 1
    assert deleted[0]["field"] == "deletedAt" and deleted[0]["old"] is None and deleted[0]["new"]


async def test_batch_writes_name_their_batch_and_source(api: Api) -> None:
    batch = (await submit(api, [{"email": "b@example.com", "firstName": "B"}]))["batch"]
    await wait_finished(api, batch["id"])
    contact_id = (await api.gql('{ contacts(filter: {email: "b@example.com"}) { edges { node { id } } } }'))["contacts"]["edges"][0]["node"]["id"]
    [entry] = await history(api, contact_id)
    assert (entry["source"], entry["batchId"], entry["keyName"]) == ("BATCH", batch["id"], "test-writer")
    data = (await api.gql(HISTORY, {"id": contact_id}))["contact"]
    assert (data["source"], data["createdBy"]) == ("BATCH", "test-writer")


async def test_history_pages(api: Api) -> None:
    contact_id = (await api.upsert({"email": "p@example.com"}))["contact"]["id"]
    for i in range(12):
        await api.upsert({"id": contact_id, "firstName": f"N{i}"})
    first = (await api.gql(HISTORY, {"id": contact_id}))["contact"]["history"]
    assert first["totalCount"] == 13 and first["pageInfo"]["hasNextPage"]
    rest = (await api.gql(HISTORY, {"id": contact_id, "after": first["pageInfo"]["endCursor"]}))["contact"]["history"]
    names = [e["node"]["changes"][0]["new"] for e in first["edges"][1:] + rest["edges"]]
    assert names == [f"N{i}" for i in range(12)]
