"""eraseContact (GDPR) and the suppression list (issue 22): nothing personal left anywhere in
the database — on SQLite not even in the bytes of the file and its WAL — and the erased
identity kept from coming back by an upsert, a batch or an import, until fresh consent."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import secrets
import shutil
import sqlite3
from pathlib import Path
from typing import Any

from contactql.config import Settings
from contactql.store.db.database import sqlite_path
from contactql.store.db.tables import metadata
from contactql.store.model import Scope
from contactql.store.upsert.cache import Catalog
from tests.conftest import make_key, running
from tests.helpers import POSTGRES, Api, query
from tests.test_batches import STATUS, submit, wait_finished
from tests.test_exports import EXPORT, finished
from tests.test_import import upload
from tests.test_subscribe import CONFIRM, SUBSCRIBE, events

ERASE = "mutation E($id: ID!, $reason: String!) { eraseContact(id: $id, reason: $reason) { erasure { id contactId reason erasedBy erasedAt suppressed } userErrors { field code message } } }"
SUPPRESSIONS = "{ suppressions { totalCount edges { node { digest kind erasure { contactId reason erasedBy suppressed } } } } }"
ENDPOINT = "mutation E($url: String!) { createWebhookEndpoint(url: $url, eventTypes: [\"*\"]) { endpoint { id } userErrors { message } } }"


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


# A letter nothing else holds. The search index keeps each term (trigram) prefix-compressed
# against the one before it in its segment, so a whole word is not found in its bytes; but every
# term that holds this letter keeps the letter's three bytes (no other term starts alike), and
# the segments keep a deleted contact's terms until they are merged.
RARE = "\ua66e"


def person(tag: str) -> dict[str, Any]:
    """A contact whose every value is a token found nowhere else."""
    t = f"{tag}{secrets.token_hex(4)}"
    return {
        "email": f"{t}mail@example.com",
        "mobile": f"+4798{int(t[-4:], 16) % 1_000_000:06d}",
        "externalId": f"{t}ext",
        "firstName": f"{t}first",
        "lastName": f"{t}last {RARE}",
        "address": {"town": f"{t}town", "address": f"{t}street"},
        "properties": [{"name": "note", "value": f"{t}note"}],
        "externalUrls": [{"ref": "site", "url": f"https://example.com/{t}url"}],
    }


def needles(contact: dict[str, Any], *more: str) -> list[str]:
    values = [contact["email"], contact["mobile"], contact["externalId"], contact["firstName"], contact["lastName"]]
    values += [contact["address"]["town"], contact["address"]["address"], contact["properties"][0]["value"], contact["externalUrls"][0]["url"]]
    return values + [RARE, *more]


def rows_holding(database_url: str, values: list[str]) -> list[str]:
    """Every (table, value) where a row of any table holds one of the values, in any column."""
    found = []
    for table in metadata.sorted_tables:
        for row in query(database_url, f"SELECT * FROM {table.name}"):  # noqa: S608  # table names from our metadata
            text = " ".join(bytes(v).decode("utf-8", "replace") if isinstance(v, (bytes, memoryview)) else str(v) for v in row).lower()
            found += [f"{table.name}: {v}" for v in values if v.lower() in text]
    return found


def bytes_holding(database_url: str, values: list[str]) -> list[str]:
    """Which values are in the SQLite database file or its WAL, as bytes, anywhere."""
    path = Path(sqlite_path(database_url))
    data = path.read_bytes() + (path.with_name(path.name + "-wal").read_bytes() if path.with_name(path.name + "-wal").exists() else b"")
    return [v for v in values if v.encode() in data or v.lower().encode() in data]


async def test_an_erased_contact_leaves_no_personal_value_in_the_database(settings: Settings) -> None:
    async with running(settings, allow_private_webhooks=True) as (app, api):  # an endpoint on 127.0.0.1, whose deliveries hold the person
        if not POSTGRES:  # the search index never merges its segments by itself: only the erasure may
            with contextlib.closing(sqlite3.connect(sqlite_path(settings.database_url))) as db, db:
                db.execute("INSERT INTO contact_search(contact_search, rank) VALUES ('automerge', 0)")
        admin = Api(api.http, await make_key(app, scope=Scope.ADMIN, name="dpo"))
        assert (await admin.gql(ENDPOINT, {"url": "http://127.0.0.1:9/hook"}))["createWebhookEndpoint"]["userErrors"] == []
        await api.property_field("note")
        gone, kept = person("gone"), {**person("kept"), "lastName": "Kept"}
        made = await api.upsert(gone, events={"onCreate": ["newContact"]}, idempotencyKey=f"k-{secrets.token_hex(4)}")
        cid = made["contact"]["id"]
        renamed = {**gone, "firstName": gone["firstName"] + "renamed"}
        await api.upsert(renamed, events={"onUpdate": ["changed"]})  # history holds the old first name
        await api.upsert(kept)
        # a subscription's consent evidence, a confirmation token, an event with the address
        ua = f"agent-{secrets.token_hex(4)}"
        subscribed = await api.http.post(
            "/graphql", json={"query": SUBSCRIBE, "variables": {"input": {"contact": {"email": gone["email"]}, "formType": "news"}}},
            headers={"Authorization": f"Bearer {api.key}", "User-Agent": ua},
        )  # fmt: skip
        assert subscribed.json()["data"]["subscribeContact"]["userErrors"] == []
        # a batch that names it (its payload and results), and an export that holds it
        batch = (await submit(api, [{"email": gone["email"], "mobile": gone["mobile"], "firstName": gone["firstName"]}, {"email": kept["email"], "mobile": kept["mobile"]}]))["batch"]
        await app.state.batch_worker.drain()
        export = (await api.gql(EXPORT, {"input": {"format": "CSV"}}))["exportContacts"]["export"]
        await app.state.export_worker.drain()
        assert (await finished(api, export["id"]))["status"] == "COMPLETED"
        # a persisted query that quotes it
        document = f'{{ contacts(filter: {{email: "{gone["email"]}"}}) {{ totalCount }} }}'
        extensions = {"persistedQuery": {"version": 1, "sha256Hash": sha(document)}}
        stored = await api.http.post("/graphql", json={"query": document, "extensions": extensions}, headers={"Authorization": f"Bearer {api.key}"})
        assert stored.json()["data"]["contacts"]["totalCount"] == 1
        secret = needles(gone, renamed["firstName"], ua)
        assert rows_holding(settings.database_url, secret), "the test must see the values before the erasure"

        reason = "ticket DSR-1042"
        erased = (await admin.gql(ERASE, {"id": cid, "reason": reason}))["eraseContact"]
        assert erased["userErrors"] == []
        record = erased["erasure"]
        assert (record["contactId"], record["reason"], record["erasedBy"], sorted(record["suppressed"])) == (cid, reason, "dpo", ["EMAIL", "EXTERNAL_ID", "MOBILE"])

        assert rows_holding(settings.database_url, secret) == []
        if not POSTGRES:
            assert bytes_holding(settings.database_url, secret) == []
        # what remains: the other contact, whole; the batch's counts; the record and digests
        assert await api.contact(cid) is None
        assert (await api.gql(f'{{ contacts(search: "{gone["lastName"]}") {{ totalCount }} }}'))["contacts"]["totalCount"] == 0
        assert (await api.gql(f'{{ contacts(search: "{kept["lastName"]}") {{ totalCount }} }}'))["contacts"]["totalCount"] == 1
        assert rows_holding(settings.database_url, [kept["email"], kept["lastName"], kept["properties"][0]["value"]])
        assert (await api.gql(STATUS, {"id": batch["id"]}))["batch"]["created"] == 0  # both existed; the counts stay
        assert await events(admin, contactId=cid) == []
        assert (await api.gql("query S($id: ID!) { export(id: $id) { id } }", {"id": export["id"]}))["export"] is None
        listed = (await admin.gql(SUPPRESSIONS))["suppressions"]
        assert listed["totalCount"] == 3
        assert {(e["node"]["kind"], e["node"]["digest"]) for e in listed["edges"]} == {
            ("EMAIL", sha(gone["email"])), ("MOBILE", sha(gone["mobile"])), ("EXTERNAL_ID", sha(gone["externalId"]))
        }  # fmt: skip
        assert all(e["node"]["erasure"] == {"contactId": cid, "reason": reason, "erasedBy": "dpo", "suppressed": ["EMAIL", "MOBILE", "EXTERNAL_ID"]} for e in listed["edges"])


async def test_erased_identities_are_skipped_until_fresh_consent(admin: Api, api: Api) -> None:
    gone = {"email": "erased@example.com", "mobile": "+4790000077", "externalId": "crm-77", "firstName": "Erin"}
    made = await api.upsert(gone)
    other = await api.upsert({"email": "mobile-twin@example.com"})
    assert (await admin.gql(ERASE, {"id": made["contact"]["id"], "reason": "request 7"}))["eraseContact"]["userErrors"] == []

    # the same CSV again: every row naming an erased identity, in any case or format, is skipped
    csv = (
        "email,mobile,externalId,firstName\n"
        "erased@example.com,,,Erin\n"
        "ERASED@Example.COM,,,Erin again\n"
        ",+47 900 00 077,,by mobile\n"
        ",,crm-77,by external id\n"
        "new@example.com,,,Nina\n"
        "mobile-twin@example.com,004790000077,,twin takes the erased mobile\n"
    )
    imported = (await upload(api, csv.encode(), match={"rules": ["EXTERNAL_ID", "EMAIL", "MOBILE"]})).json()["data"]["importContacts"]
    done = await wait_finished(api, imported["batch"]["id"])
    assert (done["created"], done["updated"], done["skipped"], done["failed"]) == (1, 0, 5, 0)
    results = (await api.gql(STATUS, {"id": done["id"], "outcome": "SKIPPED"}))["batch"]["results"]["edges"]
    assert sorted((r["node"]["errors"][0]["code"], tuple(r["node"]["errors"][0]["field"])) for r in results) == sorted(
        [("SUPPRESSED", ("contacts", str(i), field)) for i, field in ((0, "email"), (1, "email"), (2, "mobile"), (3, "externalId"), (5, "mobile"))]
    ), [(r["node"]["index"], r["node"]["errors"]) for r in results]
    assert (await api.contact(other["contact"]["id"]))["mobile"] is None

    # a single upsert, a dry run and a batch say the same
    single = await api.upsert({"email": "erased@example.com"})
    assert single["outcome"] == "SKIPPED" and [(e["field"], e["code"]) for e in single["userErrors"]] == [(["contact", "email"], "SUPPRESSED")]
    assert (await api.upsert({"externalId": "crm-77"}, dryRun=True))["outcome"] == "SKIPPED"
    batch = (await submit(api, [{"mobile": "+4790000077"}, {"email": "fine@example.com"}]))["batch"]
    assert ((b := await wait_finished(api, batch["id"]))["created"], b["skipped"]) == (1, 1)
    # only an admin key may override
    refused = await api.upsert({"email": "erased@example.com"}, overrideSuppression=True)
    assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [(["overrideSuppression"], "FORBIDDEN")]

    # the person subscribes again: pending until they confirm, and imports still skip them meanwhile
    subscribed = (await api.gql(SUBSCRIBE, {"input": {"contact": {"email": "erased@example.com"}, "formType": "news"}}))["subscribeContact"]
    assert subscribed["outcome"] == "CREATED" and subscribed["contact"]["emailStatus"] == "PENDING_CONFIRMATION"
    assert (await api.upsert({"email": "erased@example.com", "firstName": "Import"}))["outcome"] == "SKIPPED"
    token = next(e["params"]["ConfirmationToken"] for e in await events(admin) if e["params"].get("ConfirmationToken"))
    assert (await api.gql(CONFIRM, {"t": token}))["confirmContact"]["contact"]["emailStatus"] == "SUBSCRIBED"
    back = await api.upsert({"email": "erased@example.com", "firstName": "Import"})
    assert back["outcome"] == "UPDATED" and back["userErrors"] == []
    # the mobile and externalId stay suppressed until an admin brings them back
    kinds = {e["node"]["kind"] for e in (await admin.gql(SUPPRESSIONS))["suppressions"]["edges"]}
    assert kinds == {"MOBILE", "EXTERNAL_ID"}
    forced = await admin.upsert({"externalId": "crm-77"}, overrideSuppression=True)
    assert forced["outcome"] == "CREATED" and forced["userErrors"] == []
    assert {e["node"]["kind"] for e in (await admin.gql(SUPPRESSIONS))["suppressions"]["edges"]} == {"MOBILE"}
    assert (await api.upsert({"externalId": "crm-77", "firstName": "Again"}))["outcome"] == "UPDATED"


async def test_a_queued_batch_item_of_an_erased_contact_is_skipped_and_its_payload_scrubbed(settings: Settings) -> None:
    async with running(settings, workers=False) as (app, api):
        admin = Api(api.http, await make_key(app, scope=Scope.ADMIN))
        made = await api.upsert({"email": "queued@example.com", "firstName": "Quinn"})
        batch = (await submit(api, [{"email": "a1@example.com"}, {"email": "queued@example.com", "firstName": "Quentin"}, {"email": "a2@example.com"}]))["batch"]
        assert (await admin.gql(ERASE, {"id": made["contact"]["id"], "reason": "before the batch ran"}))["eraseContact"]["userErrors"] == []
        payload = query(settings.database_url, "SELECT items FROM batch_part")
        assert "queued@example.com" not in json.dumps([list(map(str, row)) for row in payload]) and "Quentin" not in str(payload)
        await app.state.batch_worker.drain()
        done = await wait_finished(api, batch["id"])
        assert (done["created"], done["skipped"], done["failed"]) == (2, 1, 0)
        [skipped] = (await api.gql(STATUS, {"id": batch["id"], "outcome": "SKIPPED"}))["batch"]["results"]["edges"]
        assert skipped["node"]["index"] == 1 and skipped["node"]["errors"][0]["code"] == "SUPPRESSED"


async def test_a_reader_holding_the_wal_delays_its_emptying_until_it_finishes(tmp_path: Path, sqlite_template: Path) -> None:
    # SQLite's WAL file, whatever engine the rest of the run uses (PostgreSQL's WAL is the server's)
    shutil.copyfile(sqlite_template, tmp_path / "wal.db")
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'wal.db'}")
    async with running(settings) as (app, api):
        admin = Api(api.http, await make_key(app, scope=Scope.ADMIN))
        gone = person("held")
        made = await api.upsert(gone)
        # a long reader (an export, a backup) keeps a snapshot from before the erasure
        with contextlib.closing(sqlite3.connect(sqlite_path(settings.database_url), isolation_level=None)) as reader:
            reader.execute("BEGIN")
            assert reader.execute("SELECT count(*) FROM contact").fetchone() == (1,)
            assert (await admin.gql(ERASE, {"id": made["contact"]["id"], "reason": "while read"}))["eraseContact"]["userErrors"] == []
            assert rows_holding(settings.database_url, [gone["email"]]) == []
            assert gone["email"] in bytes_holding(settings.database_url, needles(gone)), "the reader's pages are still in the WAL"
            reader.execute("COMMIT")
        # the checkpointer empties it once the reader has gone, with no write needed to wake it
        for _ in range(200):
            if not bytes_holding(settings.database_url, needles(gone)):
                break
            await asyncio.sleep(0.05)
        assert bytes_holding(settings.database_url, needles(gone)) == []


async def test_erasing_is_for_admin_keys_with_a_reason(admin: Api, api: Api, other_workspace: Api) -> None:
    made = await api.upsert({"email": "keep@example.com"})
    cid = made["contact"]["id"]
    [error] = await api.errors(ERASE, {"id": cid, "reason": "r"})
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert "suppressions" in (await api.errors(SUPPRESSIONS))[0]["path"]
    for reason in ("", "   ", "x" * 501, "line\nbreak"):
        refused = (await admin.gql(ERASE, {"id": cid, "reason": reason}))["eraseContact"]
        assert refused["erasure"] is None and [(e["field"], e["code"]) for e in refused["userErrors"]] == [(["reason"], "INVALID_INPUT")]
    for unknown in ("999999", "abc", "-1", "1e3"):
        missing = (await admin.gql(ERASE, {"id": unknown, "reason": "r"}))["eraseContact"]
        assert [(e["field"], e["code"]) for e in missing["userErrors"]] == [(["id"], "NOT_FOUND")]
    theirs = await other_workspace.upsert({"email": "theirs@example.com"})
    elsewhere = (await admin.gql(ERASE, {"id": theirs["contact"]["id"], "reason": "r"}))["eraseContact"]
    assert elsewhere["userErrors"][0]["code"] == "NOT_FOUND"
    assert (await other_workspace.contact(theirs["contact"]["id"])) is not None
    # a deleted contact can be erased too; erasing twice finds nothing the second time
    await api.gql("mutation D($id: ID!) { deleteContact(id: $id) { deletedId } }", {"id": cid})
    assert (await admin.gql(ERASE, {"id": cid, "reason": "r"}))["eraseContact"]["erasure"]["contactId"] == cid
    assert (await admin.gql(ERASE, {"id": cid, "reason": "r"}))["eraseContact"]["userErrors"][0]["code"] == "NOT_FOUND"


async def test_an_erased_contacts_id_is_never_given_to_another(settings: Settings) -> None:
    """SQLite gives a new row the largest id plus one: erasing the newest contact must not free
    its id for a stranger that a queued item, an idempotent replay or the record then names."""
    async with running(settings, workers=False) as (app, api):
        admin = Api(api.http, await make_key(app, scope=Scope.ADMIN))
        await api.upsert({"email": "older@example.com"})
        first = await api.upsert({"email": "newest@example.com"}, idempotencyKey="create-newest")
        gone = int(first["contact"]["id"])
        queued = (await submit(api, [{"id": str(gone), "lastName": "Secret", "properties": []}]))["batch"]
        newest_history = query(settings.database_url, "SELECT max(id) FROM contact_history")[0][0]  # the erased contact's
        assert (await admin.gql(ERASE, {"id": str(gone), "reason": "newest"}))["eraseContact"]["userErrors"] == []

        bob = await api.upsert({"email": "bob@example.com", "firstName": "Bob"})
        assert int(bob["contact"]["id"]) > gone
        assert query(settings.database_url, f"SELECT min(id) FROM contact_history WHERE contact_id = {int(bob['contact']['id'])}")[0][0] > newest_history  # a change feed's cursor there misses nothing
        await app.state.batch_worker.drain()
        done = await wait_finished(api, queued["id"])
        assert (done["updated"], done["skipped"]) == (0, 1)
        assert (await api.contact(bob["contact"]["id"]))["lastName"] is None
        # the erased person's create, replayed with its key, is not answered with anyone
        replay = await api.upsert({"email": "newest@example.com"}, idempotencyKey="create-newest")
        assert replay["outcome"] == "SKIPPED" and replay["userErrors"][0]["code"] == "SUPPRESSED"
        [node] = [e["node"] for e in (await admin.gql(SUPPRESSIONS))["suppressions"]["edges"]]
        assert node["erasure"]["contactId"] == str(gone)


async def test_an_external_id_in_capitals_is_scrubbed_from_queued_items_and_exports(settings: Settings) -> None:
    async with running(settings, workers=False) as (app, api):
        admin = Api(api.http, await make_key(app, scope=Scope.ADMIN))
        made = await api.upsert({"externalId": "CRM-ÅSE-ÖRJAN-1", "firstName": "Åse", "lastName": "Örjansdottir"})
        batch = (await submit(api, [{"externalId": "CRM-ÅSE-ÖRJAN-1", "lastName": "Örjansdottir"}, {"email": "other@example.com"}]))["batch"]
        export = (await api.gql(EXPORT, {"input": {"format": "CSV"}}))["exportContacts"]["export"]
        await app.state.export_worker.drain()
        assert (await finished(api, export["id"]))["status"] == "COMPLETED"
        assert rows_holding(settings.database_url, ["Örjansdottir"])
        assert (await admin.gql(ERASE, {"id": made["contact"]["id"], "reason": "r"}))["eraseContact"]["userErrors"] == []
        assert rows_holding(settings.database_url, ["CRM-ÅSE-ÖRJAN-1", "Örjansdottir", "Åse"]) == []
        await app.state.batch_worker.drain()
        done = await wait_finished(api, batch["id"])
        assert (done["created"], done["skipped"]) == (1, 1)


async def test_a_subscription_vouches_only_for_its_own_email(admin: Api, api: Api) -> None:
    gone = await api.upsert({"email": "victim@example.com", "mobile": "+4794444445", "externalId": "victim-ext"})
    assert (await admin.gql(ERASE, {"id": gone["contact"]["id"], "reason": "r"}))["eraseContact"]["userErrors"] == []
    # another address cannot carry the erased mobile or externalId back through a form
    for extra in ({"mobile": "+4794444445"}, {"externalId": "victim-ext"}):
        carried = (await api.gql(SUBSCRIBE, {"input": {"contact": {"email": "attacker@example.com", **extra}, "formType": "news"}}))["subscribeContact"]
        assert carried["outcome"] == "SKIPPED" and [e["code"] for e in carried["userErrors"]] == ["SUPPRESSED"], carried
    mine = (await api.gql(SUBSCRIBE, {"input": {"contact": {"email": "attacker@example.com"}, "formType": "news"}}))["subscribeContact"]
    assert mine["outcome"] == "CREATED"
    token = next(e["params"]["ConfirmationToken"] for e in await events(admin) if e["params"].get("ConfirmationToken"))
    assert (await api.gql(CONFIRM, {"t": token}))["confirmContact"]["contact"]["emailStatus"] == "SUBSCRIBED"
    # confirming the attacker's address lifted nothing of the victim's
    listed = (await admin.gql(SUPPRESSIONS))["suppressions"]["edges"]
    assert {e["node"]["kind"] for e in listed} == {"EMAIL", "MOBILE", "EXTERNAL_ID"}
    assert all(sorted(e["node"]["erasure"]["suppressed"]) == ["EMAIL", "EXTERNAL_ID", "MOBILE"] for e in listed)
    assert (await api.upsert({"mobile": "+4794444445"}))["outcome"] == "SKIPPED"


async def test_persisted_queries_of_the_workspace_go_with_an_erasure(admin: Api, api: Api) -> None:
    made = await api.upsert({"email": "orjan@example.com"})
    document = f'mutation {{ upsertContact(input: {{contact: {{id: "{made["contact"]["id"]}", firstName: "ÖRJAN"}}}}) {{ outcome }} }}'
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": sha(document)}}
    sent = await api.http.post("/graphql", json={"query": document, "extensions": extensions}, headers={"Authorization": f"Bearer {api.key}"})
    assert sent.json()["data"]["upsertContact"]["outcome"] == "UPDATED"
    assert (await admin.gql(ERASE, {"id": made["contact"]["id"], "reason": "r"}))["eraseContact"]["userErrors"] == []
    again = await api.http.post("/graphql", json={"extensions": extensions}, headers={"Authorization": f"Bearer {api.key}"})
    assert again.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


async def test_a_reader_of_an_older_snapshot_never_answers_a_newer_writer(tmp_path: Path, sqlite_template: Path) -> None:
    """Whether a workspace suppresses anything is cached per process; a reader whose snapshot
    predates the first erasure must not leave "nothing suppressed" for a writer that sees it."""
    shutil.copyfile(sqlite_template, tmp_path / "snap.db")  # SQLite: a read transaction keeps its snapshot
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'snap.db'}")
    async with running(settings) as (app, api):
        admin = Api(api.http, await make_key(app, scope=Scope.ADMIN))
        made = await api.upsert({"email": "late@example.com"})
        db = app.state.services.db
        catalog, ws = Catalog(), int(query(settings.database_url, "SELECT id FROM workspace")[0][0])
        with db.engine.connect() as reader, reader.begin():
            assert reader.exec_driver_sql("SELECT count(*) FROM contact").scalar() == 1  # its snapshot starts here
            assert (await admin.gql(ERASE, {"id": made["contact"]["id"], "reason": "r"}))["eraseContact"]["userErrors"] == []
            with db.engine.connect() as writer, writer.begin():
                assert catalog.suppressing(writer, ws) is True
                assert catalog.suppressing(reader, ws) is False  # still before the erasure
                assert catalog.suppressing(writer, ws) is True


async def test_items_applied_to_the_contact_are_scrubbed_however_they_matched(settings: Settings) -> None:
    async with running(settings) as (app, api):
        admin = Api(api.http, await make_key(app, scope=Scope.ADMIN))
        await api.property_field("favcolor")
        await api.property_field("age", "NUMBER")
        made = await api.upsert({"email": "zorb@example.com", "properties": [{"name": "favcolor", "value": "ultramarinezz"}]})
        sent = [{"firstName": "ZorbPropMatch", "properties": [{"name": "favcolor", "value": "ultramarinezz"}, {"name": "age", "value": "zorb-secret-age"}]}]
        batch = (await submit(api, sent, match={"rules": ["PROPERTIES"], "properties": ["favcolor"], "onNoMatch": "SKIP"}))["batch"]
        done = await wait_finished(api, batch["id"])
        assert done["updated"] == 1
        assert (await admin.gql(ERASE, {"id": made["contact"]["id"], "reason": "r"}))["eraseContact"]["userErrors"] == []
        assert rows_holding(settings.database_url, ["ZorbPropMatch", "zorb-secret-age", "ultramarinezz"]) == []
        [result] = (await api.gql(STATUS, {"id": batch["id"]}))["batch"]["results"]["edges"]
        assert result["node"]["outcome"] == "UPDATED" and result["node"]["invalidProperties"] == [{"name": "[erased]", "reason": "[erased]"}]


async def test_a_pending_resubscription_is_not_filled_in_before_its_confirmation(admin: Api, api: Api) -> None:
    gone = await api.upsert({"email": "pending@example.com", "firstName": "Pat"})
    assert (await admin.gql(ERASE, {"id": gone["contact"]["id"], "reason": "r"}))["eraseContact"]["userErrors"] == []
    pending = (await api.gql(SUBSCRIBE, {"input": {"contact": {"email": "pending@example.com"}, "formType": "news"}}))["subscribeContact"]
    assert pending["outcome"] == "CREATED" and pending["contact"]["emailStatus"] == "PENDING_CONFIRMATION"
    cid = pending["contact"]["id"]
    for by in ({"id": cid}, {"email": "pending@example.com"}):
        filled = await api.upsert({**by, "lastName": "Enriched", "address": {"town": "Elsewhere"}})
        assert filled["outcome"] == "SKIPPED" and [e["code"] for e in filled["userErrors"]] == ["SUPPRESSED"], filled
    assert (await api.contact(cid))["lastName"] is None
    token = next(e["params"]["ConfirmationToken"] for e in await events(admin) if e["params"].get("ConfirmationToken"))
    assert (await api.gql(CONFIRM, {"t": token}))["confirmContact"]["contact"]["emailStatus"] == "SUBSCRIBED"
    assert (await api.upsert({"id": cid, "lastName": "Now"}))["outcome"] == "UPDATED"
