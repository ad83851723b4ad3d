"""Bulk changes by filter (issue 22): deleteContacts, restoreContacts, and addContactsToList /
removeContactsFromList given a filter run as bulk jobs — durable, resumable, in slices, with
progress, a webhook and dryRun counts — through HTTP on both engines."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from standardwebhooks.webhooks import Webhook

from contactql.app import create_app
from contactql.config import Settings
from contactql.outbound import tls
from contactql.store.db.tables import bulk_job_t, history_t
from contactql.store.model import Scope
from contactql.store.workspace import bulk_jobs
from tests.conftest import TestClock, make_key, running
from tests.helpers import Api, pushed_over_websocket, serve
from tests.test_batches import submit, wait_finished

DELETE = """mutation D($filter: ContactFilter!, $search: String, $dryRun: Boolean! = false, $hook: String) {
  deleteContacts(filter: $filter, search: $search, dryRun: $dryRun, webhookUrl: $hook) {
    job { id kind status total changed } count userErrors { field code message }
  }
}"""
RESTORE = """mutation R($filter: ContactFilter!, $dryRun: Boolean! = false) {
  restoreContacts(filter: $filter, dryRun: $dryRun) { job { id kind status total changed } count userErrors { field code message } }
}"""
ADD = """mutation A($list: ID!, $ids: [ID!], $filter: ContactFilter, $search: String, $dryRun: Boolean! = false, $hook: String) {
  addContactsToList(listId: $list, contactIds: $ids, filter: $filter, search: $search, dryRun: $dryRun, webhookUrl: $hook) {
    list { id name } changed count job { id kind status listId total changed } userErrors { field code message }
  }
}"""
REMOVE = """mutation M($list: ID!, $filter: ContactFilter, $dryRun: Boolean! = false) {
  removeContactsFromList(listId: $list, filter: $filter, dryRun: $dryRun) {
    list { id } changed count job { id kind status total changed } userErrors { field code message }
  }
}"""
JOB = "query J($id: ID!) { bulkJob(id: $id) { id kind status listId total changed error finishedAt webhook { url status attempts } } }"
JOBS = "query L($status: BulkJobStatus) { bulkJobs(status: $status) { totalCount edges { node { id status } } } }"
CANCEL = "mutation X($id: ID!) { cancelBulkJob(id: $id) { job { id status changed } userErrors { field code message } } }"
COUNT = "query C($filter: ContactFilter) { contacts(filter: $filter, first: 1) { totalCount } }"


async def seed(api: Api, count: int, *, prefix: str, **options: Any) -> None:
    """`count` contacts by batches of at most 1 000, each batch waited for."""
    for start in range(0, count, 1000):
        contacts = [{"email": f"{prefix}{i}@example.com", "firstName": f"N{i}"} for i in range(start, min(count, start + 1000))]
        batch = (await submit(api, contacts, **options))["batch"]
        assert (await wait_finished(api, batch["id"], within=60))["status"] == "COMPLETED"


async def finished(api: Api, job_id: str, within: float = 60) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        job = (await api.gql(JOB, {"id": job_id}))["bulkJob"]
        if job["status"] in ("COMPLETED", "FAILED"):
            return job
        assert asyncio.get_running_loop().time() < deadline, job
        await asyncio.sleep(0.05)


async def total(api: Api, filter: dict[str, Any] | None = None) -> int:
    return int((await api.gql(COUNT, {"filter": filter}))["contacts"]["totalCount"])


async def test_a_bad_import_is_deleted_by_filter_and_restored(api: Api) -> None:
    """1 100 contacts of a bad import (three slices) among five good ones: dryRun counts them,
    the job deletes exactly them, each with one BULK history entry; restoreContacts brings them back."""
    bad = await api.create_list("bad import")
    await seed(api, 1100, prefix="bad", listId=bad)
    for i in range(5):
        await api.upsert({"email": f"good{i}@example.com"})
    in_bad = {"listIds": [bad]}

    dry = (await api.gql(DELETE, {"filter": in_bad, "dryRun": True}))["deleteContacts"]
    assert dry == {"job": None, "count": 1100, "userErrors": []}
    assert await total(api) == 1105, "a dry run writes nothing"

    made = (await api.gql(DELETE, {"filter": in_bad}))["deleteContacts"]
    assert made["userErrors"] == [] and made["count"] is None
    assert made["job"]["kind"] == "DELETE" and made["job"]["status"] in ("QUEUED", "RUNNING") and made["job"]["total"] == 1100
    job = await finished(api, made["job"]["id"])
    assert (job["status"], job["changed"], job["total"], job["error"]) == ("COMPLETED", 1100, 1100, None)
    assert await total(api) == 5 and await total(api, {**in_bad, "includeDeleted": True}) == 1100
    one = (await api.gql('query { contacts(filter: {email: "bad7@example.com", includeDeleted: true}) { edges { node { id deletedAt } } } }'))["contacts"]["edges"][0]["node"]
    assert one["deletedAt"] is not None
    history = await api.gql('query H($id: ID!) { contact(id: $id) { history(first: 5) { edges { node { source keyName changes { field } } } } } }', {"id": one["id"]})
    newest = history["contact"]["history"]["edges"][-1]["node"]  # oldest first
    assert (newest["source"], newest["keyName"], newest["changes"]) == ("BULK", "test-writer", [{"field": "deletedAt"}])

    assert (await api.gql(RESTORE, {"filter": in_bad, "dryRun": True}))["restoreContacts"]["count"] == 1100
    again = (await api.gql(DELETE, {"filter": in_bad, "dryRun": True}))["deleteContacts"]
    assert again["count"] == 0, "deleted contacts are not counted twice"
    restored = (await api.gql(RESTORE, {"filter": {"email": "bad7@example.com"}}))["restoreContacts"]
    assert (await finished(api, restored["job"]["id"]))["changed"] == 1
    rest = (await api.gql(RESTORE, {"filter": in_bad}))["restoreContacts"]
    assert rest["job"]["total"] == 1099
    assert (await finished(api, rest["job"]["id"]))["changed"] == 1099
    assert await total(api) == 1105


async def test_a_list_is_filled_and_emptied_by_filter(api: Api) -> None:
    vip = await api.create_list("VIP")
    for i in range(6):
        await api.upsert({"email": f"s{i}@example.com", "emailStatus": "SUBSCRIBED" if i % 2 == 0 else "UNSUBSCRIBED"})
    first = (await api.gql('query { contacts(filter: {email: "s0@example.com"}) { edges { node { id } } } }'))["contacts"]["edges"][0]["node"]["id"]
    assert (await api.gql(ADD, {"list": vip, "ids": [first]}))["addContactsToList"]["changed"] == 1, "by ids it is still at once"
    subscribed = {"emailStatus": "SUBSCRIBED"}

    dry = (await api.gql(ADD, {"list": vip, "filter": subscribed, "dryRun": True}))["addContactsToList"]
    assert (dry["count"], dry["job"], dry["list"]["name"]) == (2, None, "VIP"), "a member already is not counted"
    made = (await api.gql(ADD, {"list": vip, "filter": subscribed}))["addContactsToList"]
    assert made["job"]["kind"] == "ADD_TO_LIST" and made["job"]["listId"] == vip and made["changed"] == 0
    assert (await finished(api, made["job"]["id"]))["changed"] == 2
    assert await total(api, {"listIds": [vip]}) == 3
    entry = (await api.gql('query H($id: ID!) { contact(id: $id) { history(first: 1) { edges { node { source changes { field old new } } } } } }',
                           {"id": first}))["contact"]["history"]["edges"][0]["node"]  # fmt: skip
    assert entry["source"] == "API", "the contact already in the list got no entry from the job"

    everyone = (await api.gql(REMOVE, {"list": vip, "filter": {}}))["removeContactsFromList"]
    assert everyone["job"]["total"] == 3
    assert (await finished(api, everyone["job"]["id"]))["changed"] == 3
    assert await total(api, {"listIds": [vip]}) == 0


@pytest.mark.parametrize(
    ("document", "variables", "field", "says"),
    [
        (ADD, {"ids": ["1"], "filter": {}}, "filter", "not both"),
        (ADD, {"dryRun": True}, "dryRun", "go with filter"),
        (ADD, {"hook": "https://hooks.example.com/x"}, "webhookUrl", "go with filter"),
        (ADD, {"filter": {"createdAfter": "2026-01-01T00:00:00+00:00", "properties": [{"name": "nope", "eq": "1"}]}}, "filter.properties.0.name", "nope"),
        (ADD, {"filter": {}, "hook": "http://hooks.example.com/x"}, "webhookUrl", "https"),
    ],
)
async def test_what_cannot_run_is_refused_naming_the_field(api: Api, document: str, variables: dict[str, Any], field: str, says: str) -> None:
    vip = await api.create_list("VIP")
    answer = (await api.gql(document, {"list": vip, **variables}))["addContactsToList"]
    assert answer["job"] is None and answer["changed"] == 0
    [error] = answer["userErrors"]
    assert error["field"] == field.split(".") and says in error["message"], error


async def test_a_missing_list_and_a_bad_filter_make_no_job(api: Api) -> None:
    missing = (await api.gql(ADD, {"list": "00000000-0000-0000-0000-000000000000", "filter": {}}))["addContactsToList"]
    assert missing["userErrors"][0]["code"] == "LIST_NOT_FOUND" and missing["job"] is None
    await api.upsert({"email": "spare-me@example.com"})
    for filter_, field in (({"notInListIds": ["bad import"]}, ["filter", "notInListIds", "0"]), ({"or": [{"listId": "nope"}]}, ["filter", "or", "0", "listId"])):
        for dry_run in (True, False):
            refused = (await api.gql(DELETE, {"filter": filter_, "dryRun": dry_run}))["deleteContacts"]
            assert refused["job"] is None and refused["userErrors"][0]["code"] == "LIST_NOT_FOUND" and refused["userErrors"][0]["field"] == field
    assert await total(api) == 1, "a list name where its id goes deletes nobody"
    both = (await api.gql(DELETE, {"filter": {}, "dryRun": True, "hook": "https://hooks.example.com/x"}))["deleteContacts"]
    assert both["userErrors"][0]["field"] == ["webhookUrl"]
    bad = (await api.gql(DELETE, {"filter": {"or": []}}))["deleteContacts"]
    assert bad["job"] is None and bad["userErrors"][0]["field"] == ["filter", "or"]
    assert (await api.gql(JOB, {"id": "nope"}))["bulkJob"] is None


async def test_jobs_are_the_workspace_s_own(api: Api, other_workspace: Api, reader: Api) -> None:
    await api.upsert({"email": "mine@example.com"})
    await other_workspace.upsert({"email": "theirs@example.com"})
    made = (await other_workspace.gql(DELETE, {"filter": {}}))["deleteContacts"]
    assert (await finished(other_workspace, made["job"]["id"]))["changed"] == 1
    assert await total(api) == 1, "a job of another workspace never touches this one's contacts"
    assert (await api.gql(JOB, {"id": made["job"]["id"]}))["bulkJob"] is None
    refused = await reader.errors(DELETE, {"filter": {}})
    assert refused[0]["extensions"]["code"] == "FORBIDDEN"
    assert await total(api) == 1


async def test_contacts_created_after_the_request_are_not_touched_and_a_restart_goes_on(settings: Settings) -> None:
    """The job is asked for with no worker running; a matching contact made after it is left
    alone; a server started later runs it."""
    async with running(settings) as (_, api):
        await seed(api, 20, prefix="old")
    async with running(settings, workers=False) as (_, api):  # an API-only server (CONTACTQL_WORKERS=false): the job waits for a worker
        made = (await api.gql(DELETE, {"filter": {}, "search": "example"}))["deleteContacts"]
        assert made["job"]["status"] == "QUEUED" and made["job"]["total"] == 20
        await api.upsert({"email": "new@example.com"})
    async with running(settings) as (_, api):
        job = await finished(api, made["job"]["id"])
        assert (job["status"], job["changed"]) == ("COMPLETED", 20)
        assert await total(api) == 1


async def test_a_job_cut_off_mid_way_goes_on_from_its_cursor(settings: Settings, clock: TestClock) -> None:
    """A worker that died after one slice (its lease still held): once the lease runs out, a
    new server's worker takes it over and changes only the rest — each contact once."""
    async with running(settings) as (_, api):
        await seed(api, 1200, prefix="cut")
    app = create_app(settings.replace(workers=False))  # the slices are run by hand: a worker that dies after one
    async with app.router.lifespan_context(app):
        db = app.state.services.db
        key = await make_key(app, scope=Scope.WRITE)
        async with httpx.AsyncClient(verify=tls(), transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            made = (await Api(http, key).gql(DELETE, {"filter": {}}))["deleteContacts"]["job"]
        claimed = await db.write(bulk_jobs.claim_next, owner="dead-worker", lease_seconds=settings.lease_seconds, now=clock())
        assert claimed is not None and claimed.id == made["id"]
        after_one = await db.write(bulk_jobs.run_slice, job_id=claimed.id, owner="dead-worker", lease_seconds=settings.lease_seconds, now=clock())
        assert (after_one.status.value, after_one.changed) == ("RUNNING", bulk_jobs.SLICE)
    clock.advance(settings.lease_seconds + 1)  # the dead worker's lease runs out
    app = create_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(verify=tls(), transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            api = Api(http, await make_key(app, scope=Scope.WRITE))
            job = await finished(api, made["id"])
            assert (job["status"], job["changed"]) == ("COMPLETED", 1200)
            assert await total(api) == 0

        def bulk_entries(conn: sa.Connection) -> list[int]:
            h = history_t.c
            return list(conn.scalars(sa.select(sa.func.count()).where(h.source == "BULK").group_by(h.contact_id)))

        counts = await app.state.services.db.read(bulk_entries)
        assert len(counts) == 1200 and set(counts) == {1}, "every contact deleted once, none twice"


async def test_a_list_in_use_by_a_job_is_not_deleted_and_a_filter_gone_fails_the_job(settings: Settings) -> None:
    async with running(settings, workers=False, scope=Scope.ADMIN) as (_, api):  # the jobs stay unfinished while deleteList is tried; deleteList: admin keys
        await api.property_field("tier")
        await api.upsert({"email": "x@example.com", "properties": [{"name": "tier", "value": "gold"}]})
        vip = await api.create_list("VIP")
        adding = (await api.gql(ADD, {"list": vip, "filter": {}}))["addContactsToList"]["job"]
        refused = (await api.gql("mutation D($id: ID!) { deleteList(id: $id) { userErrors { code message } } }", {"id": vip}))["deleteList"]
        assert refused["userErrors"][0]["code"] == "IN_USE" and f"unfinished bulk job {adding['id']}" in refused["userErrors"][0]["message"]
        spared = await api.create_list("spared")
        sparing = (await api.gql(DELETE, {"filter": {"notInListIds": [spared]}}))["deleteContacts"]["job"]
        kept = (await api.gql("mutation D($id: ID!) { deleteList(id: $id) { userErrors { code message } } }", {"id": spared}))["deleteList"]
        assert kept["userErrors"][0]["code"] == "IN_USE" and sparing["id"] in kept["userErrors"][0]["message"], "its notInListIds would find everyone"
        assert (await api.gql(CANCEL, {"id": sparing["id"]}))["cancelBulkJob"]["job"]["status"] == "CANCELLED"
        by_tier = (await api.gql(DELETE, {"filter": {"properties": [{"name": "tier", "eq": "gold"}]}}))["deleteContacts"]["job"]
        fields = await api.gql("query { properties { id name } }")
        tier = next(f["id"] for f in fields["properties"] if f["name"] == "tier")
        gone = await api.gql("mutation P($id: ID!) { deletePropertyField(id: $id) { userErrors { message } } }", {"id": tier})
        assert gone["deletePropertyField"]["userErrors"] == []
    async with running(settings) as (_, api):
        assert (await finished(api, adding["id"]))["changed"] == 1
        failed = await finished(api, by_tier["id"])
        assert failed["status"] == "FAILED" and "no longer holds" in failed["error"] and "tier" in failed["error"]
        assert await total(api) == 1, "nothing deleted by a filter that no longer holds"


async def test_at_most_five_jobs_wait_and_the_refusal_names_them(settings: Settings) -> None:
    async with running(settings, workers=False) as (_, api):  # nothing runs the jobs: five stay unfinished
        waiting = [(await api.gql(DELETE, {"filter": {}}))["deleteContacts"]["job"]["id"] for _ in range(bulk_jobs.MAX_ACTIVE)]
        refused = (await api.gql(DELETE, {"filter": {}}))["deleteContacts"]
        assert refused["job"] is None and "5 bulk jobs" in refused["userErrors"][0]["message"]
        assert all(job_id in refused["userErrors"][0]["message"] for job_id in waiting)
        listed = (await api.gql(JOBS, {"status": "QUEUED"}))["bulkJobs"]
        assert [e["node"]["id"] for e in listed["edges"]] == waiting[::-1] and listed["totalCount"] == 5, "newest first"
        cancelled = (await api.gql(CANCEL, {"id": waiting[0]}))["cancelBulkJob"]
        assert cancelled["job"]["status"] == "CANCELLED" and cancelled["userErrors"] == []
        assert (await api.gql(DELETE, {"filter": {}}))["deleteContacts"]["job"] is not None, "a cancelled job makes room"
        again = (await api.gql(CANCEL, {"id": waiting[0]}))["cancelBulkJob"]
        assert again["job"] is None and again["userErrors"][0]["field"] == ["id"] and "CANCELLED already" in again["userErrors"][0]["message"]


async def test_a_job_cancelled_mid_way_stops_after_its_slice(settings: Settings, clock: TestClock) -> None:
    async with running(settings) as (_, api):
        await seed(api, 1200, prefix="stop")
    async with running(settings, workers=False) as (app, api):  # the slices are run here
        made = (await api.gql(DELETE, {"filter": {}}))["deleteContacts"]["job"]
        db = app.state.services.db
        assert await db.write(bulk_jobs.claim_next, owner="by-hand", lease_seconds=settings.lease_seconds, now=clock()) is not None
        await db.write(bulk_jobs.run_slice, job_id=made["id"], owner="by-hand", lease_seconds=settings.lease_seconds, now=clock())
        stranger = Api(api.http, await make_key(app, workspace="other"))
        assert (await stranger.gql(CANCEL, {"id": made["id"]}))["cancelBulkJob"]["userErrors"][0]["code"] == "NOT_FOUND"
        assert (await api.gql(CANCEL, {"id": made["id"]}))["cancelBulkJob"]["job"]["changed"] == bulk_jobs.SLICE
        with pytest.raises(bulk_jobs.Cancelled):
            await db.write(bulk_jobs.run_slice, job_id=made["id"], owner="by-hand", lease_seconds=settings.lease_seconds, now=clock())
    async with running(settings) as (app, api):
        await app.state.bulk_worker.settled()
        job = (await api.gql(JOB, {"id": made["id"]}))["bulkJob"]
        assert (job["status"], job["changed"]) == ("CANCELLED", bulk_jobs.SLICE), "no worker takes a cancelled job up"
        assert await total(api) == 1200 - bulk_jobs.SLICE
        restored = (await api.gql(RESTORE, {"filter": {}}))["restoreContacts"]["job"]
        assert (await finished(api, restored["id"]))["changed"] == bulk_jobs.SLICE


async def test_a_property_condition_left_empty_deletes_nobody(api: Api) -> None:
    """`eq: $region` sent with $region unset is no condition: refused, not "everyone without a region"."""
    await api.property_field("region")
    await api.upsert({"email": "kept@example.com"})
    document = "mutation D($r: String) { deleteContacts(filter: {properties: [{name: \"region\", eq: $r}]}) { job { id } userErrors { field message } } }"
    answer = (await api.gql(document, {}))["deleteContacts"]
    assert answer["job"] is None and answer["userErrors"][0]["field"] == ["filter", "properties", "0"]
    assert await total(api) == 1


async def test_a_finished_job_calls_its_webhook_signed(settings: Settings, receiver: Any) -> None:
    hook = await receiver([204])
    async with running(settings, allow_private_webhooks=True, scope=Scope.ADMIN) as (_, api):  # the receiver is on 127.0.0.1
        secret = (await api.gql("query { workspace { webhookSecret } }"))["workspace"]["webhookSecret"]
        await api.upsert({"email": "w@example.com"})
        made = (await api.gql(DELETE, {"filter": {}, "hook": hook.url}))["deleteContacts"]["job"]
        await finished(api, made["id"])
        for _ in range(400):  # bounded: the sender is woken when the job finishes
            job = (await api.gql(JOB, {"id": made["id"]}))["bulkJob"]
            if job["webhook"]["status"] == "DELIVERED":
                break
            await asyncio.sleep(0.05)
        assert job["webhook"] == {"url": hook.url, "status": "DELIVERED", "attempts": 1}
    [(headers, body)] = hook.calls
    Webhook(secret).verify(body, headers)
    assert json.loads(body) == {"jobId": made["id"], "kind": "DELETE", "status": "COMPLETED", "listId": None, "total": 1, "changed": 1, "error": None}


async def test_the_request_is_not_kept_once_the_job_is_done(api: Api, app: Any) -> None:
    """A filter may quote an email: a finished job keeps its counts, not its request."""
    await api.upsert({"email": "quoted@example.com"})
    made = (await api.gql(DELETE, {"filter": {"email": "quoted@example.com"}}))["deleteContacts"]["job"]
    await finished(api, made["id"])
    request = await app.state.services.db.read(lambda conn: conn.scalar(sa.select(bulk_job_t.c.request).where(bulk_job_t.c.id == made["id"])))
    assert request == {}


async def test_a_slice_looks_through_a_bounded_range_of_ids(settings: Settings, clock: TestClock) -> None:
    """A filter that finds few contacts far apart: each slice reads at most `span` ids past the
    cursor (never the whole table in one transaction), starting at the workspace's first
    contact, and the job ends at its ceiling with every match changed once."""
    async with running(settings, workers=False) as (app, api):  # the slices are run here, one by one
        for i in range(30):
            await api.upsert({"email": f"r{i}@example.com", "firstName": "Match" if i in (0, 13, 29) else "Other"})
        made = (await api.gql(DELETE, {"filter": {}, "search": "Match"}))["deleteContacts"]["job"]
        assert made["total"] == 3
        db = app.state.services.db
        job = await db.write(bulk_jobs.claim_next, owner="by-hand", lease_seconds=settings.lease_seconds, now=clock())
        assert job is not None and job.id == made["id"]
        seen = []
        for _ in range(10):  # bounded: 30 ids, 10 a slice
            job = await db.write(bulk_jobs.run_slice, job_id=made["id"], owner="by-hand", lease_seconds=settings.lease_seconds, now=clock(), limit=2, span=10)
            seen.append(job.changed)
            if job.finished:
                break
        assert job.status.value == "COMPLETED" and seen == [1, 2, 3], seen
        assert await total(api) == 27


@pytest.mark.system
async def test_progress_over_websocket_from_a_real_server(tmp_path: Any) -> None:
    """`contactql serve` as README starts it: 1 500 contacts deleted by filter, bulkJobProgress
    over graphql-transport-ws pushes the job until it COMPLETED, never going back."""
    with serve(f"sqlite+aiosqlite:///{tmp_path / 'bulk.db'}") as (base, key, _):
        assert key is not None
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(verify=tls(), base_url=base, headers=headers, timeout=60) as http:
            await seed(Api(http, key), 1500, prefix="ws")
            made = (await Api(http, key).gql(DELETE, {"filter": {}}))["deleteContacts"]["job"]
        document = "subscription P($id: ID!) { bulkJobProgress(id: $id) { status changed total } }"
        pushed = await pushed_over_websocket(base, headers, document, {"id": made["id"]}, "bulkJobProgress")
    assert pushed[-1] == {"status": "COMPLETED", "changed": 1500, "total": 1500}
    changed = [p["changed"] for p in pushed]
    assert changed == sorted(changed)
