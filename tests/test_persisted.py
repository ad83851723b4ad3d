"""Automatic persisted queries (contactql/persisted.py): Apollo's protocol as a client meets it
over HTTP, by POST and GET; the store's bounds. Apollo Client's own link is driven in
tests/test_clients.py."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

import pytest

from contactql.config import Settings
from contactql.persisted import PersistedQueries, PersistedQueryError
from contactql.store.workspace import persisted as persisted_rows
from contactql.workers.housekeeping import Housekeeper
from tests.conftest import running
from tests.helpers import Api

QUERY = "{ workspace { name } }"
MUTATION = 'mutation { createList(name: "By hash") { list { name } } }'


def persisted(document: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": hashlib.sha256(document.encode()).hexdigest()}}


async def post(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    answer = await api.http.post("/graphql", json=body, headers={"Authorization": f"Bearer {api.key}"})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def test_an_unknown_hash_is_asked_for_once_then_runs_by_hash(api: Api) -> None:
    missed = await post(api, {"extensions": persisted(QUERY)})
    assert missed["errors"] == [{"message": "PersistedQueryNotFound", "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"}}]
    assert not missed.get("data")
    sent = await post(api, {"query": QUERY, "extensions": persisted(QUERY)})
    assert sent["data"] == {"workspace": {"name": "default"}}
    by_hash = await post(api, {"extensions": persisted(QUERY)})
    assert by_hash["data"] == {"workspace": {"name": "default"}}
    assert by_hash["extensions"]["cost"]["requestedQueryCost"] == 1  # costed and charged as any request
    by_get = await api.http.get("/graphql", params={"extensions": json.dumps(persisted(QUERY))}, headers={"Authorization": f"Bearer {api.key}"})
    assert by_get.status_code == 200 and by_get.json()["data"] == {"workspace": {"name": "default"}}


async def test_a_persisted_mutation_still_needs_post_and_its_scope(api: Api, reader: Api) -> None:
    assert (await post(api, {"query": MUTATION, "extensions": persisted(MUTATION)}))["data"]["createList"]["list"]["name"] == "By hash"
    by_get = await api.http.get("/graphql", params={"extensions": json.dumps(persisted(MUTATION))}, headers={"Authorization": f"Bearer {api.key}"})
    assert by_get.status_code == 405
    await post(reader, {"query": MUTATION, "extensions": persisted(MUTATION)})  # the reader's workspace keeps it too
    refused = await post(reader, {"extensions": persisted(MUTATION)})
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_a_hash_finds_only_what_the_same_workspace_sent(api: Api, other_workspace: Api) -> None:
    await post(api, {"query": QUERY, "extensions": persisted(QUERY)})
    assert (await post(other_workspace, {"extensions": persisted(QUERY)}))["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


@pytest.mark.parametrize(
    ("extensions", "code", "says"),
    [
        (persisted("{ contacts { totalCount } }"), "INVALID_INPUT", "is not the SHA-256 of the query"),
        ({"persistedQuery": "abc"}, "INVALID_INPUT", "must be an object"),
        ({"persistedQuery": {"version": 2, "sha256Hash": "0" * 64}}, "PERSISTED_QUERY_NOT_SUPPORTED", "only version 1"),
        ({"persistedQuery": {"version": 1, "sha256Hash": "A" * 64}}, "INVALID_INPUT", "64 lowercase hex digits"),
        ({"persistedQuery": {"version": 1, "sha256Hash": 5}}, "INVALID_INPUT", "64 lowercase hex digits"),
        ({"persistedQuery": {"version": 1}}, "INVALID_INPUT", "64 lowercase hex digits"),
    ],
)
async def test_a_persisted_query_that_cannot_be_used_is_refused_naming_why(api: Api, extensions: Any, code: str, says: str) -> None:
    answer = await post(api, {"query": QUERY, "extensions": extensions})
    assert answer["errors"][0]["extensions"]["code"] == code and says in answer["errors"][0]["message"]
    assert (await post(api, {"extensions": persisted(QUERY)}))["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"  # nothing kept


REFUSED = [
    "this is not graphql",  # does not parse
    "{ workspace { nosuchfield } }",  # invalid
    "{ contacts(first: 100) { edges { node { history(first: 100) { edges { node { at } } } } } } }",  # over the cost limit
]


@pytest.mark.parametrize("document", REFUSED)
async def test_a_document_refused_before_it_ran_is_not_kept(api: Api, document: str) -> None:
    """Only what ran is kept: a refused request must not fill the store (memory or database)."""
    refused = await post(api, {"query": document, "extensions": persisted(document)})
    assert refused["errors"] and refused.get("data") is None
    again = await post(api, {"extensions": persisted(document)})
    assert again["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


async def sent(store: PersistedQueries, document: str) -> None:
    """A document sent with its hash, as the view handles it: checked, run, then kept."""
    assert await store.document(1, document, persisted(document)) == document
    await store.remember(1, document, persisted(document))


async def test_the_memory_keeps_the_most_recently_used_within_its_bounds() -> None:
    """Without a database (memory alone), so what goes is gone."""
    store = PersistedQueries(None, max_entries=3, max_bytes=10_000)
    documents = [f"{{ q{i}: workspace {{ name }} }}" for i in range(5)]
    for document in documents[:3]:
        await sent(store, document)
    await store.document(1, None, persisted(documents[0]))  # used: the oldest is now q1
    await sent(store, documents[3])
    assert len(store) == 3
    with pytest.raises(PersistedQueryError, match="PersistedQueryNotFound"):
        await store.document(1, None, persisted(documents[1]))
    assert await store.document(1, None, persisted(documents[0])) == documents[0]
    # Bytes bound too: one large document pushes the others out.
    small = PersistedQueries(None, max_entries=100, max_bytes=200)
    big = "{ workspace { name } }" + " " * 160
    for document in (*documents[:2], big):
        await sent(small, document)
    assert len(small) == 1 and await small.document(1, None, persisted(big)) == big


async def test_a_hash_one_server_learned_is_found_by_another_on_the_same_database(app: Any, api: Api, settings: Settings) -> None:
    """Two servers of one database (as behind a load balancer), each with its own memory: the
    document the first was sent runs by hash on the second, with no PersistedQueryNotFound."""
    sent = await post(api, {"query": QUERY, "extensions": persisted(QUERY)})
    assert sent["data"] == {"workspace": {"name": "default"}}
    async with running(settings) as (_, other):
        found = await post(other, {"extensions": persisted(QUERY)})
        assert found["data"] == {"workspace": {"name": "default"}}
        # and the other way: what the second learned, the first finds
        first = await post(other, {"query": MUTATION, "extensions": persisted(MUTATION)})
        assert first["data"] == {"createList": {"list": {"name": "By hash"}}}
    again = await post(api, {"extensions": persisted(MUTATION), "operationName": None})
    assert "errors" not in again and again["data"]["createList"]["list"] is None  # it ran: the name is taken now


async def test_housekeeping_keeps_each_workspaces_newest_documents(app: Any, api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(persisted_rows, "MAX_DOCUMENTS", 2)
    documents = [f"{{ q{i}: workspace {{ name }} }}" for i in range(4)]
    clock = iter(dt.datetime(2026, 12, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=i) for i in range(4))
    store = PersistedQueries(app.state.services.db, clock=lambda: next(clock))
    for document in documents:
        await sent(store, document)
    assert await Housekeeper(app.state.services.db).sweep() == 2
    fresh = PersistedQueries(app.state.services.db)  # a server started since: memory empty
    for document in documents[2:]:
        assert await fresh.document(1, None, persisted(document)) == document
    for document in documents[:2]:
        with pytest.raises(PersistedQueryError, match="PersistedQueryNotFound"):
            await fresh.document(1, None, persisted(document))
