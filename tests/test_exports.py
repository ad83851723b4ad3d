"""Exports: exportContacts queues a job, export(id) and exportProgress watch it, GET /exports/{id}
downloads the file with the same key, and `contactql export` writes one locally. A CSV export
imports back unchanged — through HTTP on both engines."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
import subprocess
import sys
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from contactql.config import Settings
from contactql.outbound import tls
from contactql.store.db.tables import property_field_t, workspace_t
from tests.conftest import running
from tests.helpers import Api, pushed_over_websocket, serve
from tests.test_batches import status, wait_finished
from tests.test_import import upload

EXPORT = """mutation E($input: ExportContactsInput!) {
  exportContacts(input: $input) { export { id status format } userErrors { field code message } }
}"""
STATE = "query S($id: ID!) { export(id: $id) { id status format total processed size error url expiresAt } }"
# Names a spreadsheet would run as formulas, a quote, a comma, a line break, accents.
MESSY = [
    {"email": "formula@example.com", "firstName": "=HYPERLINK(\"http://evil\")", "lastName": "+1 pudding", "properties": [{"name": "score", "value": "-3.5"}]},
    {"email": "at@example.com", "firstName": "@SUM(A1)", "lastName": "-dash", "mobile": "+4790000001", "externalId": "x-1"},
    {"email": "quote@example.com", "firstName": 'Anne "Q", Jr.', "lastName": "Line\nBreak", "emailStatus": "BOUNCED"},
    {"email": "accent@example.com", "firstName": "Zoë", "lastName": "Ångström", "privacyConsent": True, "properties": [{"name": "city", "value": "Ålesund"}]},
    {"mobile": "+4790000005", "firstName": "No Email", "smsStatus": "SUBSCRIBED", "properties": [{"name": "score", "value": "1e2"}, {"name": "born", "value": "1990-05-01"}]},
    {"externalId": "only-external", "properties": [{"name": "member", "value": "true"}]},
]


async def fill(api: Api) -> None:
    for name, kind in (("score", "NUMBER"), ("city", "TEXT"), ("born", "DATE"), ("member", "BOOLEAN")):
        await api.property_field(name, kind)
    for contact in MESSY:
        made = await api.upsert(contact)
        assert made["userErrors"] == [] and made["invalidProperties"] == [], made


async def start(api: Api, **input_: Any) -> dict[str, Any]:
    return (await api.gql(EXPORT, {"input": input_}))["exportContacts"]


async def finished(api: Api, export_id: str) -> dict[str, Any]:
    for _ in range(400):  # bounded: the worker is woken by exportContacts
        state = (await api.gql(STATE, {"id": export_id}))["export"]
        if state["status"] in ("COMPLETED", "FAILED"):
            return state
        await asyncio.sleep(0.02)
    raise AssertionError(f"export {export_id} did not finish")


async def download(api: Api, export_id: str) -> httpx.Response:
    return await api.http.get(f"/exports/{export_id}", headers={"Authorization": f"Bearer {api.key}"})


async def test_a_csv_export_imports_back_unchanged(api: Api) -> None:
    await fill(api)
    made = await start(api)
    assert made["userErrors"] == [] and made["export"]["status"] == "QUEUED" and made["export"]["format"] == "CSV"
    state = await finished(api, made["export"]["id"])
    assert (state["status"], state["total"], state["processed"]) == ("COMPLETED", 6, 6)
    assert state["url"] == f"/exports/{state['id']}" and state["expiresAt"]
    response = await download(api, state["id"])
    assert response.status_code == 200 and response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == f'attachment; filename="contacts-{state["id"]}.csv"'
    assert len(response.content) == state["size"] == int(response.headers["content-length"])
    assert response.content.startswith("\ufeff".encode()), "a byte-order mark: Excel reads the file as UTF-8"
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert list(rows[0]) == ["email", "mobile", "firstName", "lastName", "externalId", "emailStatus", "smsStatus", "privacyConsent", "score", "city", "born", "member"]
    by_email = {r["email"] or r["externalId"] or r["mobile"]: r for r in rows}
    formula = by_email["formula@example.com"]
    assert (formula["firstName"], formula["lastName"], formula["score"]) == ("'=HYPERLINK(\"http://evil\")", "'+1 pudding", "-3.5"), "formulas guarded, numbers not"
    assert (by_email["at@example.com"]["firstName"], by_email["at@example.com"]["mobile"]) == ("'@SUM(A1)", "+4790000001"), "a mobile's + is not a formula"
    assert by_email["quote@example.com"]["lastName"] == "Line\nBreak" and by_email["quote@example.com"]["firstName"] == 'Anne "Q", Jr.'
    assert by_email["accent@example.com"]["privacyConsent"] == "true" and by_email["+4790000005"]["score"] == "100"

    imported = (await upload(api, response.content)).json()["data"]["importContacts"]
    assert imported["userErrors"] == []
    done = await wait_finished(api, imported["batch"]["id"])
    outcomes = [r["node"]["outcome"] for r in (await status(api, done["id"]))["results"]["edges"]]
    assert outcomes == ["UNCHANGED"] * 6, "re-importing an export changes nothing"
    again = (await api.gql('{ contacts(filter: {email: "formula@example.com"}) { edges { node { firstName lastName } } } }'))["contacts"]["edges"]
    assert again[0]["node"] == {"firstName": '=HYPERLINK("http://evil")', "lastName": "+1 pudding"}


async def test_ndjson_with_fields_a_filter_a_search_and_an_order(api: Api) -> None:
    await fill(api)
    customers = await api.create_list("Customers")
    await api.upsert({"email": "accent@example.com"}, listId=customers)
    made = await start(
        api, format="NDJSON", fields=["id", "email", "lastName", "lists", "SCORE", "createdAt"], search="example.com",
        filter={"not": {"emailStatus": "BOUNCED"}}, orderBy=[{"field": "LAST_NAME", "direction": "DESC"}],
    )  # fmt: skip
    state = await finished(api, made["export"]["id"])
    response = await download(api, state["id"])
    assert response.headers["content-type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in response.content.decode().splitlines()]
    assert [line["lastName"] for line in lines] == ["Ångström", "-dash", "+1 pudding"], "by lastName descending: Å after the ASCII signs"
    accent = lines[0]
    assert set(accent) == {"id", "email", "lastName", "lists", "createdAt", "properties"}
    assert accent["lists"] == ["Customers"] and accent["properties"] == {"score": None}
    assert lines[2]["properties"] == {"score": "-3.5"} and lines[2]["lastName"] == "+1 pudding", "NDJSON holds values as they are"


async def test_a_segment_is_exported_and_paths_name_what_is_refused(api: Api) -> None:
    await fill(api)
    segment = (await api.gql('mutation { createSegment(name: "Scored", filter: {properties: [{name: "score", isNull: false}]}) { segment { id } } }'))
    made = await start(api, filter={"segmentId": segment["createSegment"]["segment"]["id"]}, fields=["email", "score"])
    rows = list(csv.reader(io.StringIO((await download(api, (await finished(api, made["export"]["id"]))["id"])).content.decode("utf-8-sig"))))
    assert rows == [["email", "score"], ["formula@example.com", "-3.5"], ["", "100"]]
    for input_, field, says in [
        ({"fields": ["email", "nope"]}, ["input", "fields", "1"], "neither a contact field"),
        ({"fields": []}, ["input", "fields"], "1 to 300"),
        ({"fields": ["score", "SCORE"]}, ["input", "fields"], "named twice"),
        ({"filter": {"properties": [{"name": "nope", "eq": "1"}]}}, ["input", "filter"], "no property named"),
        ({"search": "x" * 201}, ["input", "search"], "at most 200"),
        ({"orderBy": [{"field": "PROPERTY", "property": "nope"}]}, ["input", "orderBy", "0", "property"], "no property named"),
    ]:
        refused = await start(api, **input_)
        assert refused["export"] is None, refused
        error = refused["userErrors"][0]
        assert error["code"] == "INVALID_INPUT" and error["field"][: len(field)] == field and says in error["message"], (input_, error)


async def test_exports_are_the_workspace_s_own(api: Api, other_workspace: Api, reader: Api) -> None:
    await fill(api)
    made = await start(reader)  # a read key may export: it writes nothing of the workspace
    assert made["userErrors"] == []
    state = await finished(api, made["export"]["id"])
    assert (await download(reader, state["id"])).status_code == 200
    assert (await other_workspace.gql(STATE, {"id": state["id"]}))["export"] is None
    assert (await download(other_workspace, state["id"])).status_code == 404
    assert (await api.http.get(f"/exports/{state['id']}")).status_code == 401
    assert (await api.http.get(f"/exports/{state['id']}", headers={"Authorization": "Bearer cql_wrong"})).status_code == 401
    assert (await download(api, "../../etc/passwd")).status_code == 404
    assert (await download(api, "x" * 10_000)).status_code == 404


async def test_an_export_not_finished_is_not_downloaded_and_at_most_three_wait(settings: Settings) -> None:
    async with running(settings, workers=False) as (_, api):  # nothing runs the jobs
        ids = [(await start(api))["export"]["id"] for _ in range(3)]
        response = await download(api, ids[0])
        assert response.status_code == 409 and response.json()["errors"][0]["extensions"]["code"] == "NOT_READY"
        assert "QUEUED" in response.json()["errors"][0]["message"]
        refused = await start(api)
        assert refused["export"] is None and "3 exports" in refused["userErrors"][0]["message"]


async def test_a_restarted_server_runs_a_queued_export(settings: Settings) -> None:
    async with running(settings, workers=False) as (_, api):
        await api.upsert({"email": "kept@example.com"})
        export_id = (await start(api))["export"]["id"]
    async with running(settings) as (_, api):  # its worker finds the job at start
        assert (await finished(api, export_id))["processed"] == 1


@pytest.mark.system
async def test_export_progress_over_websocket_and_the_command_line_agree(tmp_path: Any) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'exports.db'}"
    with serve(url) as (base, key, _):
        assert key is not None
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(verify=tls(), base_url=base, headers=headers, timeout=60) as http:
            for part in range(6):  # 6 000 contacts of ~230 bytes: more than one megabyte, so more than one chunk
                contacts = [{"email": f"p{part}-{i}@example.com", "firstName": f"Name {i}", "lastName": "x" * 200} for i in range(1000)]
                batch = (await http.post("/graphql", json={"query": "mutation B($c: [ContactInput!]!) { upsertContacts(input: {contacts: $c}) { batch { id } } }", "variables": {"c": contacts}})).json()
                batch_id = batch["data"]["upsertContacts"]["batch"]["id"]
                for _ in range(600):  # bounded
                    done = (await http.post("/graphql", json={"query": "query B($id: ID!) { batch(id: $id) { status } }", "variables": {"id": batch_id}})).json()
                    if done["data"]["batch"]["status"] == "COMPLETED":
                        break
                    await asyncio.sleep(0.1)
            made = (await http.post("/graphql", json={"query": EXPORT, "variables": {"input": {}}})).json()["data"]["exportContacts"]["export"]
            document = "subscription P($id: ID!) { exportProgress(id: $id) { status processed total size } }"
            pushed = await pushed_over_websocket(base, headers, document, {"id": made["id"]}, "exportProgress")
            assert pushed[-1]["status"] == "COMPLETED" and pushed[-1]["processed"] == pushed[-1]["total"] == 6000
            processed = [p["processed"] for p in pushed]
            assert processed == sorted(processed) and len(set(processed)) >= 2, f"progress while it ran: {processed}"
            served = (await http.get(f"/exports/{made['id']}")).content
        command = [sys.executable, "-m", "contactql.cli", "export", "--database", url]
        local = await asyncio.to_thread(subprocess.run, command, capture_output=True, timeout=120, check=False)
    assert local.returncode == 0, local.stderr.decode()
    assert local.stdout == served, "the command writes the file the server serves"
    assert b"exporting" in local.stderr and b"6000/6000" in local.stderr, "a progress bar on stderr"


async def test_apostrophes_and_a_legacy_property_named_like_a_field_round_trip(api: Api, app: Any) -> None:
    """A value that itself starts with an apostrophe before a formula character gets one more
    apostrophe; a property named like a contact field before such names were refused is written
    as property:NAME, which an import leaves alone."""
    await api.upsert({"email": "apos@example.com", "firstName": "'=already", "lastName": "'+", "externalId": "''-x"})
    refused = await api.gql('mutation { createPropertyField(input: {name: "Id", type: TEXT}) { userErrors { field message } } }')
    assert "the contact's own id" in refused["createPropertyField"]["userErrors"][0]["message"]

    def legacy(conn: Any) -> None:  # as an older ContactQL let it be made
        workspace_id = conn.scalar(sa.select(workspace_t.c.id).where(workspace_t.c.name == "default"))
        row = {"id": "legacy-id-field", "workspace_id": workspace_id, "name": "id", "name_key": "id", "type": "TEXT", "options": None, "created_at": dt.datetime.now(dt.UTC)}
        conn.execute(sa.insert(property_field_t), row)

    await app.state.services.db.write(legacy)
    await api.upsert({"email": "apos@example.com", "properties": [{"name": "id", "value": "ours"}]})
    state = await finished(api, (await start(api))["export"]["id"])
    text = (await download(api, state["id"])).content.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0]["firstName"] == "''=already" and rows[0]["lastName"] == "''+" and rows[0]["externalId"] == "'''-x"
    assert rows[0]["property:id"] == "ours" and "id" not in rows[0]
    imported = (await upload(api, text.encode())).json()["data"]["importContacts"]
    done = await wait_finished(api, imported["batch"]["id"])
    outcomes = [r["node"]["outcome"] for r in (await status(api, done["id"]))["results"]["edges"]]
    assert outcomes == ["UNCHANGED"]
    again = (await api.gql('{ contacts { edges { node { firstName lastName externalId property(name: "id") } } } }'))["contacts"]["edges"][0]["node"]
    assert again == {"firstName": "'=already", "lastName": "'+", "externalId": "''-x", "property": "ours"}


@pytest.mark.parametrize(("name", "says"), [("phone", "the contact's mobile"), ("First-Name", "firstName"), ("lists", "own lists"), ("=cmd", "formula"), ("country", "country")])
async def test_a_property_cannot_be_named_like_a_csv_column_of_the_contact(api: Api, name: str, says: str) -> None:
    made = await api.gql("mutation P($n: String!) { createPropertyField(input: {name: $n, type: TEXT}) { field { id } userErrors { field message } } }", {"n": name})
    assert made["createPropertyField"]["field"] is None and says in made["createPropertyField"]["userErrors"][0]["message"], made


@pytest.mark.system
def test_the_command_checks_everything_before_it_touches_the_output_file(tmp_path: Any, database_url: str) -> None:
    def export(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "contactql.cli", "export", *args], capture_output=True, text=True, timeout=120, check=False)

    made = subprocess.run([sys.executable, "-m", "contactql.cli", "keys", "create", "--database", database_url], capture_output=True, timeout=120, check=False)
    assert made.returncode == 0  # the workspace "default"
    kept = tmp_path / "kept.csv"
    kept.write_text("keep me\n")
    for args, says in [
        (("--fields", "nope"), "'nope' is neither a contact field"),
        (("--workspace", "nosuch"), "no workspace named 'nosuch'"),
        (("--filter-json", '{"emal": "x"}'), "--filter-json: at the top"),
        (("--order-json", '[{"field": "SIZE"}]'), "--order-json: at 0.field"),
    ]:
        refused = export("--database", database_url, "-o", str(kept), *args)
        assert (refused.returncode, refused.stderr.count("\n")) == (2, 1) and says in refused.stderr, refused.stderr
        assert kept.read_text() == "keep me\n", "a refused export leaves the file alone"
    missing = tmp_path / "missing.db"
    refused = export("--database", f"sqlite:///{missing}")
    assert refused.returncode == 2 and "no database at" in refused.stderr and not missing.exists(), "export never makes a database"
    written = export("--database", database_url, "-o", str(kept), "--format", "ndjson")
    assert written.returncode == 0 and kept.read_text() == "", "an empty workspace: an empty NDJSON file"
