"""Two `contactql serve` processes on one database (SPEC §8): no duplicate contacts, every batch
applied once, every webhook sent once. Runs on both engines: PostgreSQL is the target; two
processes on one SQLite file work too (BEGIN IMMEDIATE and the busy timeout serialise them)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing
import random
import threading
from collections import Counter
from typing import Any

import httpx
import pytest

from contactql.outbound import tls
from tests.helpers import UPSERT, query, serve

pytestmark = pytest.mark.system  # real servers, browsers, npm clients or processes: left out of the fast loop

SUBMIT = "mutation S($input: UpsertContactsInput!) { upsertContacts(input: $input) { batch { id } userErrors { code } } }"
STATUS = "query B($id: ID!) { batch(id: $id) { status total processed created updated failed webhook { status attempts } } }"
ENV = {"CONTACTQL_ALLOW_PRIVATE_WEBHOOKS": "true", "CONTACTQL_LEASE_SECONDS": "3"}


async def test_two_processes_share_one_database_without_duplicates_or_double_work(database_url: str, receiver: Any) -> None:
    hook = await receiver([200])
    with serve(database_url, env=ENV) as (first, key, _), serve(database_url, env=ENV) as (second, again, _):
        assert key is not None and again is None, "one first-start key for the shared database"
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(verify=tls(), headers=headers, timeout=60) as http:

            async def upsert(i: int) -> str:
                base = (first, second)[i % 2]
                match = {"rules": ["EMAIL"]} if i % 4 < 2 else None  # half by an advisory-locked rule
                contact = {"email": f"shared{i % 50}@example.com", "firstName": f"N{i}", "lists": {"add": [{"name": "Both"}]}}
                response = await http.post(f"{base}/graphql", json={"query": UPSERT, "variables": {"input": {"contact": contact, **({"match": match} if match else {})}}})
                payload = response.json()
                assert "errors" not in payload, payload
                result = payload["data"]["upsertContact"]
                assert result["userErrors"] == [], result
                return str(result["outcome"])

            order = list(range(200))
            random.Random(7).shuffle(order)
            outcomes = Counter(await asyncio.gather(*(upsert(i) for i in order)))
            assert outcomes["CREATED"] == 50, outcomes

            batches = []
            for b in range(10):
                contacts = [{"email": f"batch{b}.{i}@example.com"} for i in range(150)] + [{"email": f"shared{b}@example.com", "lastName": "B"}]
                base = (first, second)[b % 2]
                body = {"query": SUBMIT, "variables": {"input": {"contacts": contacts, "webhookUrl": hook.url}}}
                batches.append((await http.post(f"{base}/graphql", json=body)).json()["data"]["upsertContacts"]["batch"]["id"])

            done: dict[str, Any] = {}
            for _ in range(600):
                for batch_id in batches:
                    if batch_id not in done:
                        batch = (await http.post(f"{first}/graphql", json={"query": STATUS, "variables": {"id": batch_id}})).json()["data"]["batch"]
                        if batch["webhook"]["status"] == "DELIVERED":
                            done[batch_id] = batch
                if len(done) == len(batches):
                    break
                await asyncio.sleep(0.1)
            assert len(done) == 10, f"{len(done)} of 10 batches finished and delivered"
            for batch in done.values():
                assert (batch["status"], batch["processed"], batch["created"], batch["updated"], batch["failed"]) == ("COMPLETED", 151, 150, 1, 0)
                assert batch["webhook"]["attempts"] == 1
            totals = (await http.post(f"{second}/graphql", json={"query": "{ contacts { totalCount } lists { edges { node { name size } } } }"})).json()["data"]
    assert totals["contacts"]["totalCount"] == 50 + 10 * 150
    assert {"name": "Both", "size": 50} in [e["node"] for e in totals["lists"]["edges"]]
    sent = Counter(headers["webhook-id"] for headers, _ in hook.calls)
    assert len(sent) == 10 and set(sent.values()) == {1}, "each batch's webhook sent once"
    assert sorted(json.loads(body)["batchId"] for _, body in hook.calls) == sorted(batches)


def _decide_then_wait(database_url: str, mobile: str, barrier: Any, results: Any) -> None:
    """A process that upserts by EMAIL and, having decided, waits at `barrier` before writing."""
    import contactql.store.upsert.pipeline as upsert_module
    from contactql.config import Settings
    from contactql.store.db.database import Database
    from contactql.store.model import MatchRule, MatchStrategy, UpsertOptions
    from contactql.store.upsert.chunk import Work
    from contactql.store.upsert.pipeline import upsert_chunk
    from contactql.store.upsert.validate import validate_contact
    from contactql.store.workspace.keys import ensure_workspace

    real_flush = upsert_module.flush

    def flush_after_the_other_decided(*args: Any, **kwargs: Any) -> None:
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=3)  # when the other process is blocked, this times out
        real_flush(*args, **kwargs)

    upsert_module.flush = flush_after_the_other_decided

    async def run() -> str:
        db = Database(Settings(database_url=database_url))
        try:
            workspace = (await db.write(ensure_workspace, name="default")).id
            item, _ = validate_contact({"email": "same@example.com", "mobile": mobile})
            options = UpsertOptions(match=MatchStrategy(rules=(MatchRule.EMAIL,)))
            [result] = await db.write(upsert_chunk, workspace_id=workspace, work=[Work(item, options)], catalog=db.catalog)
            return str(result.outcome)
        finally:
            await db.dispose()

    results.put(asyncio.run(run()))


def test_a_rule_no_index_covers_cannot_create_twice_in_two_processes(database_url: str) -> None:
    """Two processes match by EMAIL (no unique index covers it: the mobiles differ) and both
    decide before either writes. Serialisation — advisory locks on PostgreSQL, BEGIN
    IMMEDIATE on SQLite — must make the second see the first's contact. Without it, both
    would pass the barrier and create."""
    serve_once = serve(database_url)
    with serve_once:  # migrate the database first (on SQLite the file is created here)
        pass
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(2), context.Queue()
    workers = [context.Process(target=_decide_then_wait, args=(database_url, m, barrier, results)) for m in ("+4791000001", "+4791000002")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    assert sorted(results.get(timeout=5) for _ in workers) == ["CREATED", "UPDATED"]
    assert query(database_url, "SELECT count(*) FROM contact") == [(1,)]


PROGRESS = "subscription P($id: ID!) { batchProgress(id: $id) { status processed created } }"


async def test_an_api_only_process_and_a_worker_process_split_the_batch_work(database_url: str) -> None:
    """The split topology of docs/operations.md: batches accepted by a `CONTACTQL_WORKERS=false` process are
    applied by the other process, and a `batchProgress` subscriber of the API process sees the
    batch finish (from the database, as no worker of its own reports to it)."""
    import websockets

    with serve(database_url, env={"CONTACTQL_WORKERS": "false"}) as (api, key, _), serve(database_url) as (_, again, _):
        assert key is not None and again is None
        contacts = [{"email": f"split{i % 250}@example.com", "firstName": f"S{i}"} for i in range(300)]
        async with httpx.AsyncClient(verify=tls(), headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:
            response = await http.post(f"{api}/graphql", json={"query": SUBMIT, "variables": {"input": {"contacts": contacts}}})
            batch_id = response.json()["data"]["upsertContacts"]["batch"]["id"]
        socket = await websockets.connect(api.replace("http", "ws") + "/graphql", subprotocols=["graphql-transport-ws"])
        try:
            await socket.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {key}"}}))
            assert json.loads(await socket.recv()) == {"type": "connection_ack"}
            await socket.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": PROGRESS, "variables": {"id": batch_id}}}))
            pushed = []
            while (message := json.loads(await asyncio.wait_for(socket.recv(), 60)))["type"] != "complete":
                assert message["type"] == "next", message
                pushed.append(message["payload"]["data"]["batchProgress"])
        finally:
            await socket.close()
    assert pushed[-1] == {"status": "COMPLETED", "processed": 300, "created": 250}
    assert query(database_url, "SELECT count(*) FROM contact") == [(250,)]


MERGE = "mutation M($input: MergeContactsInput!) { mergeContacts(input: $input) { mergedIds userErrors { code message } } }"


async def test_merges_in_one_process_while_the_other_writes_both_identities(database_url: str) -> None:
    """Issue 22: one process merges pairs of duplicates while the other upserts both identities
    of each pair. Nothing is lost (every upsert answers, without errors) and no duplicate comes
    back: one contact per pair at the end, found by either identity."""
    with serve(database_url) as (first, key, _), serve(database_url) as (second, _, _):
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=60) as http:

            async def upsert(base: str, email: str, name: str) -> dict[str, Any]:
                variables = {"input": {"contact": {"email": email, "firstName": name}, "match": {"rules": ["EMAIL"]}}}
                payload = (await http.post(f"{base}/graphql", json={"query": UPSERT, "variables": variables})).json()
                assert "errors" not in payload, payload
                return dict(payload["data"]["upsertContact"])

            pairs = [((await upsert(first, f"keep{i}@example.com", "k"))["contact"]["id"], (await upsert(first, f"old{i}@example.com", "o"))["contact"]["id"]) for i in range(20)]

            async def merge(into: str, from_: str) -> dict[str, Any]:
                payload = (await http.post(f"{first}/graphql", json={"query": MERGE, "variables": {"input": {"into": into, "from": [from_]}}})).json()
                return dict(payload["data"]["mergeContacts"])

            writes = [upsert(second, f"{kind}{i}@example.com", f"{kind}-{i}-{n}") for n in range(2) for i in range(20) for kind in ("keep", "old")]
            results = await asyncio.gather(*(merge(a, b) for a, b in pairs), *writes)
            merged, written = results[: len(pairs)], results[len(pairs) :]
            assert all(m["userErrors"] == [] for m in merged), merged
            assert all(w["userErrors"] == [] and w["outcome"] == "UPDATED" for w in written), [w["outcome"] for w in written]
            total = (await http.post(f"{second}/graphql", json={"query": "{ contacts { totalCount } }"})).json()["data"]["contacts"]["totalCount"]
            assert total == len(pairs)
            for i, (into, _) in enumerate(pairs):
                again = await upsert(second, f"old{i}@example.com", "after")
                assert (again["outcome"], again["contact"]["id"], again["contact"]["email"]) == ("UPDATED", into, f"keep{i}@example.com")
