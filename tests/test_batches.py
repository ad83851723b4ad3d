"""upsertContacts: accepted whole and QUEUED, applied in the background with upsertContact's
rules, results in input order, set-based, idempotent."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from contactql.app import create_app
from contactql.config import Settings
from contactql.outbound import tls
from contactql.store.db.database import Database
from contactql.store.model import Scope
from contactql.workers.batches import BatchWorker, ProgressHub
from tests.conftest import count_statements, make_key, running
from tests.helpers import Api, query

SUBMIT = """
mutation Submit($input: UpsertContactsInput!) {
  upsertContacts(input: $input) {
    batch { id status total processed created updated unchanged skipped failed startedAt finishedAt }
    userErrors { field code message }
  }
}
"""
STATUS = """
query Status($id: ID!, $first: Int, $after: String, $outcome: UpsertOutcome, $failedOnly: Boolean) {
  batch(id: $id) {
    id status total processed created updated unchanged skipped failed startedAt finishedAt
    results(first: $first, after: $after, outcome: $outcome, failedOnly: $failedOnly) {
      totalCount
      edges { cursor node { index clientRef outcome matchedBy contactIds changedFields
                            invalidProperties { name reason } invalidContactIds errors { field code message } } }
      pageInfo { hasNextPage endCursor }
    }
    webhook { status }
  }
}
"""


@pytest.fixture
async def paused(settings: Settings) -> AsyncIterator[tuple[Any, Api]]:
    """An app whose batch worker does not run by itself: tests call `drain`."""
    application = create_app(settings.replace(workers=False, max_batch_size=50, batch_chunk_size=4))
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(verify=tls(), transport=transport, base_url="http://testserver") as http:
            yield application, Api(http, await make_key(application, scope=Scope.WRITE, name="batcher"))


async def submit(api: Api, contacts: list[dict[str, Any]], **options: Any) -> dict[str, Any]:
    return (await api.gql(SUBMIT, {"input": {"contacts": contacts, **options}}))["upsertContacts"]


async def status(api: Api, batch_id: str, **variables: Any) -> dict[str, Any]:
    return (await api.gql(STATUS, {"id": batch_id, **variables}))["batch"]


async def wait_finished(api: Api, batch_id: str, within: float = 20) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        batch = await status(api, batch_id)
        if batch["status"] in ("COMPLETED", "FAILED"):
            return batch
        assert asyncio.get_running_loop().time() < deadline, batch
        await asyncio.sleep(0.05)


async def test_a_batch_is_queued_before_any_contact_is_written(paused: tuple[Any, Api]) -> None:
    app, api = paused
    accepted = await submit(api, [{"email": f"q{i}@example.com"} for i in range(10)])
    assert accepted["userErrors"] == []
    batch = accepted["batch"]
    assert (batch["status"], batch["total"], batch["processed"], batch["startedAt"]) == ("QUEUED", 10, 0, None)
    assert (await api.gql("{ contacts { totalCount } }"))["contacts"]["totalCount"] == 0
    assert (await status(api, batch["id"]))["results"]["totalCount"] == 0

    await app.state.batch_worker.drain()
    done = await status(api, batch["id"])
    assert (done["status"], done["processed"], done["created"]) == ("COMPLETED", 10, 10)
    assert done["startedAt"] is not None and done["finishedAt"] is not None
    assert (await api.gql("{ contacts { totalCount } }"))["contacts"]["totalCount"] == 10


async def test_items_follow_upsert_contact_rules_and_one_bad_item_never_fails_its_neighbours(paused: tuple[Any, Api]) -> None:
    app, api = paused
    await api.property_field("city")
    existing = await api.upsert({"email": "old@example.com", "firstName": "Old"})
    contacts = [
        {"email": "new@example.com", "firstName": "New", "clientRef": "r0"},
        {"email": "bad-email", "clientRef": "r1"},
        {"email": "old@example.com", "firstName": "Old", "clientRef": "r2"},
        {"email": "old@example.com", "lastName": "Updated", "clientRef": "r3"},
        {"email": "new@example.com", "properties": [{"name": "city", "value": "Oslo"}, {"name": "nope", "value": "x"}], "clientRef": "r4"},
        {"id": "999999", "mobile": "+4790000099", "clientRef": "r5"},
        {"firstName": "Nobody", "clientRef": "r6"},
    ]
    batch = (await submit(api, contacts))["batch"]
    await app.state.batch_worker.drain()
    done = await status(api, batch["id"])
    assert done["status"] == "COMPLETED"
    assert (done["created"], done["updated"], done["unchanged"], done["skipped"], done["failed"]) == (2, 2, 1, 0, 2)
    assert done["created"] + done["updated"] + done["unchanged"] + done["skipped"] + done["failed"] == done["total"] == 7
    results = [e["node"] for e in done["results"]["edges"]]
    assert [r["index"] for r in results] == list(range(7))
    assert [r["clientRef"] for r in results] == [f"r{i}" for i in range(7)]
    assert [r["outcome"] for r in results] == ["CREATED", None, "UNCHANGED", "UPDATED", "UPDATED", "CREATED", None]
    assert results[1]["errors"] == [{"field": ["contacts", "1", "email"], "code": "INVALID_EMAIL", "message": results[1]["errors"][0]["message"]}]
    assert results[2]["contactIds"] == [existing["contact"]["id"]] and results[2]["matchedBy"] == "EMAIL_AND_MOBILE"
    assert results[3]["changedFields"] == ["lastName"]
    # items sharing an identity give one contact: item 4 updates what item 0 created
    assert results[4]["contactIds"] == results[0]["contactIds"]
    assert results[4]["changedFields"] == ["properties.city"]
    assert results[4]["invalidProperties"] == [{"name": "nope", "reason": "no property with this name 'nope'"}]
    assert results[5]["invalidContactIds"] == ["999999"]
    assert [(e["field"], e["code"]) for e in results[6]["errors"]] == [(["contacts", "6"], "IDENTITY_REQUIRED")]
    created = await api.contact(results[0]["contactIds"][0])
    assert created["source"] == "BATCH" and created["createdBy"] == "batcher" and created["confirmed"] is True
    assert (await api.gql("{ contacts { totalCount } }"))["contacts"]["totalCount"] == 3


def refuse_email(database_url: str, email: str) -> None:
    """A fault the database itself raises: inserting a contact with this email aborts."""
    if database_url.startswith("postgresql"):
        query(database_url, f"CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN IF NEW.email = '{email}' THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql")
        query(database_url, "CREATE TRIGGER refuse BEFORE INSERT ON contact FOR EACH ROW EXECUTE FUNCTION refuse()")
    else:
        query(database_url, f"CREATE TRIGGER refuse BEFORE INSERT ON contact WHEN NEW.email = '{email}' BEGIN SELECT RAISE(ABORT, 'refused'); END")


async def test_an_item_the_database_keeps_refusing_fails_alone_and_the_batch_goes_on(
    paused: tuple[Any, Api], database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    app, api = paused
    refuse_email(database_url, "refused@example.com")
    contacts = [{"email": "fine@example.com"}, {"email": "refused@example.com", "clientRef": "poisoned"}, {"email": "after@example.com"}]
    batch = (await submit(api, contacts))["batch"]
    pauses: list[float] = []

    async def pause(seconds: float) -> None:
        pauses.append(seconds)

    app.state.batch_worker.pause = pause
    with caplog.at_level(logging.WARNING, logger="contactql.batches"):
        await app.state.batch_worker.drain()  # the refused item is retried (it could be a busy database), then blamed
    # SQLite's RAISE(ABORT) is an IntegrityError, which a concurrent writer can also cause: the
    # chunk is tried again after growing pauses: the chunk of three, then the half holding the
    # item, then the item alone. PostgreSQL's RAISE EXCEPTION cannot pass.
    sqlite = database_url.startswith("sqlite")
    assert pauses == ([0.2, 0.4, 0.8, 1.6] * 3 if sqlite else []), pauses
    done = await status(api, batch["id"])
    assert (done["status"], done["processed"], done["created"], done["failed"]) == ("COMPLETED", 3, 2, 1)
    [failed] = [e["node"] for e in done["results"]["edges"] if e["node"]["outcome"] is None]
    [error] = failed["errors"]
    assert (failed["index"], failed["clientRef"], error["code"], error["field"]) == (1, "poisoned", "INTERNAL", ["contacts", "1"])
    incident = error["message"].split("incident ")[1].split(" ")[0]
    assert any(incident in record.getMessage() and record.exc_info for record in caplog.records), "the traceback is logged under the incident"
    emails = {e["node"]["email"] for e in (await api.gql("{ contacts { edges { node { email } } } }"))["contacts"]["edges"]}
    assert emails == {"fine@example.com", "after@example.com"}


async def test_results_page_in_input_order_and_filter(paused: tuple[Any, Api]) -> None:
    app, api = paused
    contacts = [{"email": f"p{i}@example.com"} if i % 3 else {"email": f"broken{i}"} for i in range(12)]
    batch = (await submit(api, contacts))["batch"]
    await app.state.batch_worker.drain()
    seen, after = [], None
    while True:
        page = (await status(api, batch["id"], first=5, after=after))["results"]
        seen += [e["node"]["index"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == list(range(12))
    failed = (await status(api, batch["id"], failedOnly=True))["results"]
    assert [e["node"]["index"] for e in failed["edges"]] == [0, 3, 6, 9]
    assert failed["totalCount"] == 4
    created = (await status(api, batch["id"], outcome="CREATED"))["results"]
    assert created["totalCount"] == 8
    errors = await api.errors(STATUS, {"id": batch["id"], "first": 1001})
    assert errors[0]["extensions"]["code"] == "INVALID_INPUT"


@pytest.mark.parametrize(
    ("options", "contacts", "error"),
    [
        ({}, [{"email": f"x{i}@example.com"} for i in range(51)], (["contacts"], "BATCH_TOO_LARGE")),
        ({}, [], (["contacts"], "INVALID_INPUT")),
        ({"listId": "3fa85f64-5717-4562-b3fc-2c963f66afa6"}, [{"email": "a@example.com"}], (["listId"], "LIST_NOT_FOUND")),
        ({"webhookUrl": "https://127.0.0.1/hook"}, [{"email": "a@example.com"}], (["webhookUrl"], "INVALID_INPUT")),
        ({"webhookUrl": "http://hooks.example.com/x"}, [{"email": "a@example.com"}], (["webhookUrl"], "INVALID_INPUT")),
        ({"match": {"rules": []}}, [{"email": "a@example.com"}], (["match", "rules"], "INVALID_INPUT")),
    ],
)
async def test_refused_batches_store_nothing(paused: tuple[Any, Api], options: dict[str, Any], contacts: list[Any], error: tuple[list[str], str]) -> None:
    _, api = paused
    refused = await submit(api, contacts, **options)
    assert refused["batch"] is None
    assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [error]
    assert (await api.gql("{ batches { totalCount } }"))["batches"]["totalCount"] == 0


async def test_a_batch_is_a_handful_of_statements_per_chunk(settings: Settings) -> None:
    async with running(settings, workers=False, batch_chunk_size=500) as (app, api):
        for name in ("a", "b", "c", "d", "e"):
            await api.property_field(name)
        contacts = [
            {"email": f"s{i}@example.com", "firstName": f"F{i}", "lists": {"add": [{"name": "Imported"}]},
             "properties": [{"name": n, "value": f"{n}{i}"} for n in ("a", "b", "c", "d", "e")]}
            for i in range(200)
        ]  # fmt: skip
        batch = (await submit(api, contacts))["batch"]
        with count_statements(app) as statements:
            await app.state.batch_worker.drain()
        done = await status(api, batch["id"], first=1)
        assert done["created"] == 200
        # one chunk (200 items, under CONTACTQL_BATCH_CHUNK_SIZE): a few reads and executemany
        # writes — not one round trip per contact, property or membership (200 contacts, 1400
        # rows); one of the reads is the workspace's catalog version (upsert/cache.py)
        # Besides: two claims (each also looks for stalled imports) and reading the batch's part.
        chunks = 1
        assert len(statements) <= 8 + 15 * chunks, statements


async def test_only_a_batch_s_last_chunk_waits_for_the_disk(paused: tuple[Any, Api]) -> None:
    # The batch is stored durably when accepted; a power loss that took back chunks before the
    # last would only make it resume before them. The last chunk (COMPLETED) and every other
    # write still wait for the disk — whichever pooled connection an earlier chunk used.
    app, api = paused
    engine = app.state.services.db.engine
    postgres = engine.dialect.name == "postgresql"
    durable, redoable = ("on", "off") if postgres else ("2", "1")  # synchronous_commit / synchronous FULL, NORMAL
    commits: list[str] = []

    def on_commit(conn: Any) -> None:
        cursor = conn.connection.cursor()
        cursor.execute("SHOW synchronous_commit" if postgres else "PRAGMA synchronous")
        commits.append(str(cursor.fetchone()[0]))
        cursor.close()

    batch = (await submit(api, [{"email": f"disk{i}@example.com"} for i in range(12)]))["batch"]  # 3 chunks of 4
    event.listen(engine, "commit", on_commit)
    try:
        await app.state.batch_worker.drain()
        for i in range(8):
            assert (await api.upsert({"email": f"after{i}@example.com"}))["outcome"] == "CREATED"
    finally:
        event.remove(engine, "commit", on_commit)
    done = await status(api, batch["id"])
    assert (done["status"], done["created"]) == ("COMPLETED", 12)
    assert commits.count(redoable) == 2, commits
    assert redoable not in commits[commits.index(redoable) + 2 :], commits  # the last chunk and everything after


async def test_batches_query_filters_by_status_newest_first(paused: tuple[Any, Api]) -> None:
    app, api = paused
    first = (await submit(api, [{"email": "b1@example.com"}]))["batch"]["id"]
    await app.state.batch_worker.drain()
    second = (await submit(api, [{"email": "b2@example.com"}]))["batch"]["id"]
    listing = await api.gql("{ batches { totalCount edges { node { id status } } } }")
    assert [e["node"]["id"] for e in listing["batches"]["edges"]] == [second, first]
    queued = await api.gql("{ batches(status: QUEUED) { edges { node { id } } } }")
    assert [e["node"]["id"] for e in queued["batches"]["edges"]] == [second]


async def test_batch_idempotency_returns_the_same_batch_and_refuses_another_input(paused: tuple[Any, Api]) -> None:
    _, api = paused
    contacts = [{"email": "i1@example.com"}, {"email": "i2@example.com"}]
    first = await submit(api, contacts, idempotencyKey="import-7")
    again = await submit(api, contacts, idempotencyKey="import-7")
    assert again["batch"]["id"] == first["batch"]["id"]
    other = await submit(api, [{"email": "i3@example.com"}], idempotencyKey="import-7")
    assert other["batch"] is None
    assert [(e["field"], e["code"]) for e in other["userErrors"]] == [(["idempotencyKey"], "IDEMPOTENCY_KEY_REUSED")]
    assert (await api.gql("{ batches { totalCount } }"))["batches"]["totalCount"] == 1


async def test_upsert_contact_idempotency_applies_once_even_concurrently(api: Api) -> None:
    contact = {"email": "once@example.com", "firstName": "Once"}
    results = await asyncio.gather(*(api.upsert(contact, idempotencyKey="k-1") for _ in range(10)))
    assert {r["outcome"] for r in results} == {"CREATED"}, "every replay answers with the first call's result"
    assert len({r["contact"]["id"] for r in results}) == 1
    assert all(r["contact"]["email"] == "once@example.com" for r in results)
    assert (await api.gql("{ contacts { totalCount } }"))["contacts"]["totalCount"] == 1

    changed = await api.upsert({"email": "once@example.com", "firstName": "Twice"}, idempotencyKey="k-1")
    assert changed["outcome"] is None
    assert [(e["field"], e["code"]) for e in changed["userErrors"]] == [(["idempotencyKey"], "IDEMPOTENCY_KEY_REUSED")]
    assert (await api.upsert(contact, idempotencyKey="k-2"))["outcome"] == "UNCHANGED"


async def test_keys_are_per_workspace(api: Api, other_workspace: Api) -> None:
    mine = await api.upsert({"email": "w@example.com"}, idempotencyKey="shared")
    theirs = await other_workspace.upsert({"email": "w@example.com"}, idempotencyKey="shared")
    assert mine["outcome"] == theirs["outcome"] == "CREATED"
    assert mine["contact"]["id"] != theirs["contact"]["id"]


async def test_the_worker_in_the_app_completes_batches_by_itself(api: Api) -> None:
    batch = (await submit(api, [{"email": f"auto{i}@example.com"} for i in range(30)]))["batch"]
    done = await wait_finished(api, batch["id"])
    assert (done["status"], done["created"]) == ("COMPLETED", 30)


async def test_the_server_stops_promptly_even_as_work_arrives(settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    # Shutdown cancels the batch worker and the webhook sender in the very tick a batch (and its
    # webhook) woke them: neither may swallow that cancellation and hold the shutdown up.
    app = create_app(settings)
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    await app.state.batch_worker.settled()  # both idle, waiting to be woken
    await app.state.webhook_sender.settled()
    app.state.batch_worker.wake()
    app.state.webhook_sender.wake()
    await lifespan.__aexit__(None, None, None)
    assert "did not stop" not in caplog.text


async def test_a_batch_cut_off_by_a_shutdown_resumes_at_once_after_a_restart(settings: Settings, database_url: str) -> None:
    """Without the lease given back, the restarted server would wait out the 30 s lease."""
    contacts = [{"email": f"r{i}@example.com"} for i in range(400)]
    async with running(settings, max_batch_size=500, batch_chunk_size=4) as (_, api):
        batch = (await submit(api, contacts))["batch"]
        for _ in range(1000):  # bounded: until the worker is under way
            if (await status(api, batch["id"]))["processed"]:
                break
            await asyncio.sleep(0.005)
    [(state, processed, lease)] = query(database_url, f"SELECT status, processed, lease_expires_at FROM batch WHERE id = '{batch['id']}'")
    assert state == "PROCESSING" and 0 < processed < 400 and lease is None, (state, processed, lease)
    async with running(settings, max_batch_size=500, batch_chunk_size=4) as (_, api):
        done = await wait_finished(api, batch["id"], within=15)  # half the lease it gave back
    assert (done["status"], done["created"], done["failed"]) == ("COMPLETED", 400, 0)


async def test_a_number_that_once_failed_a_batch_is_one_item_s_invalid_property(paused: tuple[Any, Api]) -> None:
    app, api = paused
    await api.property_field("score", "NUMBER")
    contacts = [{"email": f"n{i}@example.com", "properties": [{"name": "score", "value": "1e1000000" if i == 5 else str(i)}]} for i in range(12)]
    batch = (await submit(api, contacts))["batch"]
    await app.state.batch_worker.drain()
    done = await status(api, batch["id"])
    assert (done["status"], done["created"], done["failed"]) == ("COMPLETED", 12, 0)
    results = [e["node"] for e in done["results"]["edges"]]
    assert [r["invalidProperties"] for r in results if r["invalidProperties"]] == [
        [{"name": "score", "reason": "a number has at most 100 digits written out in full (no exponent); this one has 1000001"}]
    ]


async def test_an_unexpected_error_in_one_item_fails_that_item_alone(
    paused: tuple[Any, Api], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A fault injected into deciding one item, in the middle of a chunk: the rest are applied."""
    from contactql.store.upsert import pipeline as upsert

    real = upsert.decide

    def poisoned(state: Any, work: Any, now: Any) -> Any:
        if work.item.values.get("email") == "poison@example.com":
            raise ZeroDivisionError("injected")
        return real(state, work, now)

    monkeypatch.setattr(upsert, "decide", poisoned)
    app, api = paused
    contacts = [{"email": f"g{i}@example.com"} for i in range(10)]
    contacts[6] = {"email": "poison@example.com", "clientRef": "the poisoned one"}
    batch = (await submit(api, contacts))["batch"]
    await app.state.batch_worker.drain()
    done = await status(api, batch["id"])
    assert (done["status"], done["processed"], done["created"], done["failed"]) == ("COMPLETED", 10, 9, 1)
    [failed] = [e["node"] for e in done["results"]["edges"] if e["node"]["outcome"] is None]
    assert (failed["index"], failed["clientRef"], failed["errors"][0]["code"]) == (6, "the poisoned one", "INTERNAL")
    assert "incident" in failed["errors"][0]["message"] and "injected" not in failed["errors"][0]["message"], "no internals reach the client"
    assert any(r.exc_info and r.exc_info[0] is ZeroDivisionError for r in caplog.records)


async def test_an_idle_worker_finds_a_batch_another_process_queued(paused: tuple[Any, Api], settings: Settings) -> None:
    """The API of `paused` has no worker running (as a `contactql serve` with
    CONTACTQL_WORKERS=false) and cannot wake one in another process. The worker here, on a
    Database of its own, polls only once an hour: it finds the batch by its queue watch."""
    _, api = paused
    db = Database(settings)
    worker = BatchWorker(db, settings, ProgressHub(), on_finished=lambda: None)
    worker.idle_poll_seconds = 3600  # the poll is not what finds it
    running_worker = asyncio.create_task(worker.run())
    try:
        await worker.settled()  # idle: it looked once and found nothing
        accepted = await submit(api, [{"email": f"w{i}@example.com"} for i in range(5)])
        light = "query($id: ID!) { batch(id: $id) { status created } }"  # polled: cheap for the rate limit
        for _ in range(200):  # bounded: 20 s
            done = (await api.gql(light, {"id": accepted["batch"]["id"]}))["batch"]
            if done["status"] != "QUEUED":
                break
            await asyncio.sleep(0.1)
        assert done["status"] != "QUEUED", "the worker never found the batch"
        for _ in range(200):
            if (done := (await api.gql(light, {"id": accepted["batch"]["id"]}))["batch"])["status"] == "COMPLETED":
                break
            await asyncio.sleep(0.1)
        assert (done["status"], done["created"]) == ("COMPLETED", 5)
    finally:
        running_worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running_worker
        await db.dispose()
