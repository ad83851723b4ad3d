"""CSV import: importContacts by multipart upload or https URL, and `contactql import`."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from contactql.config import Settings
from tests.conftest import running
from tests.helpers import POSTGRES, Api, free_port, query
from tests.test_batches import status, wait_finished

IMPORT_REPORT = """
mutation Import($input: ImportContactsInput!) {
  importContacts(input: $input) {
    batch { id total }
    importReport { delimiter rows fieldColumns propertyColumns createdProperties ignoredColumns }
    userErrors { field code message }
  }
}
"""
IMPORT = "mutation Import($input: ImportContactsInput!) { importContacts(input: $input) { batch { id total } userErrors { field code message } } }"
CSV = (
    "email,Mobile,First Name,last_name,External ID,Email Status,SMS status,city\n"
    "anna@example.com,+4790000101,Anna,Berg,crm-1,SUBSCRIBED,1,Oslo\n"
    "bjorn@example.com,004790000102,Bjørn,Dahl,crm-2,2,,Bergen\n"
    "not-an-email,,Bad,Row,crm-3,,,\n"
    "carla@example.com,,Carla,Eide,crm-4,MAYBE,,\n"
    "\n"
    "anna@example.com,,,Berg-Lie,crm-1,,,\n"
)


async def upload(api: Api, data: bytes, document: str = IMPORT, **input_: Any) -> httpx.Response:
    operations = {"query": document, "variables": {"input": {"file": None, **input_}}}
    files = {"0": ("contacts.csv", data, "text/csv")}
    form = {"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.input.file"]})}
    return await api.http.post("/graphql", data=form, files=files, headers={"Authorization": f"Bearer {api.key}"})


async def test_an_uploaded_csv_becomes_a_batch_with_a_result_per_row(api: Api) -> None:
    await api.property_field("city")
    response = await upload(api, CSV.encode(), listName="Imported", match={"rules": ["EXTERNAL_ID", "EMAIL"]})
    assert response.status_code == 200, response.text
    payload = response.json()["data"]["importContacts"]
    assert payload["userErrors"] == [] and payload["batch"]["total"] == 5
    done = await wait_finished(api, payload["batch"]["id"])
    assert (done["created"], done["updated"], done["failed"]) == (2, 1, 2)
    results = {r["node"]["clientRef"]: r["node"] for r in (await status(api, done["id"]))["results"]["edges"]}
    assert results["row 4"]["errors"][0]["code"] == "INVALID_EMAIL"
    assert results["row 5"]["outcome"] is None and results["row 5"]["errors"][0]["field"] == ["contacts", "3", "emailStatus"]
    assert results["row 7"]["outcome"] == "UPDATED" and results["row 7"]["matchedBy"] == "EXTERNAL_ID"
    anna = (await api.gql('{ contacts(filter: {externalId: "crm-1"}) { edges { node { email mobile firstName lastName emailStatus smsStatus source lists { name } property(name: "city") } } } }'))
    node = anna["contacts"]["edges"][0]["node"]
    assert node == {
        "email": "anna@example.com", "mobile": "+4790000101", "firstName": "Anna", "lastName": "Berg-Lie", "emailStatus": "SUBSCRIBED",
        "smsStatus": "SUBSCRIBED", "source": "CSV_IMPORT", "lists": [{"name": "Imported"}], "property": "Oslo",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"email\n" + "anna@example.com\nbj\xf8rn@example.com\n".encode("latin-1"), "not UTF-8"),
        ("email\nanna@example.com\n".encode("utf-16"), "NUL byte"),
        (b"", "empty"),
        (b"email\n", "no rows"),
        (b"email,EMAIL\na@example.com,b@example.com\n", "more than once"),
        # A quote never closed would read every later row into one cell: the file is refused, naming the row.
        (b'email,firstName\np1@example.com,A\np2@example.com,"Unclosed\np3@example.com,C\np4@example.com,D\n', "line 3: a quoted cell opens"),
        (b'email\np1@example.com\n"p2@example.com', "line 3: a quoted cell opens"),
        # opened early in a big file: the parser's cell limit stops it first, and the refusal names the row all the same
        (b'email,notes\nq@example.com,"open\n' + b"".join(b"u%d@example.com,x\n" % i for i in range(40_000)), "line 2: a cell of this row is longer than"),
    ],
)
async def test_unreadable_files_are_refused_with_a_clear_error(api: Api, data: bytes, message: str) -> None:
    payload = (await upload(api, data)).json()["data"]["importContacts"]
    assert payload["batch"] is None
    [error] = payload["userErrors"]
    assert (error["field"], error["code"]) == (["file"], "INVALID_INPUT") and message in error["message"]


async def test_multipart_is_only_for_import_contacts(api: Api) -> None:
    operations = {"query": 'mutation { createList(name: "x") { list { id } } }', "variables": {}}
    response = await api.http.post(
        "/graphql", data={"operations": json.dumps(operations), "map": "{}"}, files={"0": ("x", b"x")}, headers={"Authorization": f"Bearer {api.key}"}
    )
    assert response.status_code == 400
    assert (await api.gql("{ lists { totalCount } }"))["lists"]["totalCount"] == 0


@pytest.mark.parametrize(
    ("input_", "field"),
    [
        ({"url": "https://127.0.0.1/contacts.csv"}, ["url"]),
        ({"url": "http://93.184.216.34/contacts.csv"}, ["url"]),
        ({}, ["file"]),
        ({"url": "https://93.184.216.34/x.csv", "listId": "a", "listName": "b"}, ["listName"]),
        ({"url": "https://93.184.216.34/x.csv", "listName": " "}, ["listName"]),
        ({"url": "https://93.184.216.34/x.csv", "listName": "line\nbreak"}, ["listName"]),
    ],
)
async def test_refused_import_requests(api: Api, input_: dict[str, Any], field: list[str]) -> None:
    payload = (await api.gql(IMPORT, {"input": input_}))["importContacts"]
    assert payload["batch"] is None and payload["userErrors"][0]["field"] == field


@pytest.fixture
async def private_ok(settings: Settings) -> AsyncIterator[Api]:
    async with running(settings, allow_private_webhooks=True) as (_, api):
        yield api


@pytest.fixture
async def file_server() -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    """A real HTTP server on 127.0.0.1 serving CSV at /contacts.csv; yields (URL, request headers seen)."""
    seen: list[dict[str, str]] = []

    async def csv_file(request: Request) -> Response:
        seen.append(dict(request.headers))
        return Response(CSV.encode(), media_type="text/csv")

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(Starlette(routes=[Route("/contacts.csv", csv_file)]), host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    for _ in range(3000):  # bounded: until the server listens
        if server.started:
            break
        await asyncio.sleep(0.01)
    yield f"http://importer:s3cret@127.0.0.1:{port}/contacts.csv", seen
    server.should_exit = True
    await task


async def test_a_csv_fetched_from_a_url_with_credentials(private_ok: Api, file_server: tuple[str, list[dict[str, str]]]) -> None:
    url, seen = file_server
    payload = (await private_ok.gql(IMPORT, {"input": {"url": url}}))["importContacts"]
    assert payload["userErrors"] == [] and payload["batch"]["total"] == 5
    assert seen[-1]["authorization"] == "Basic aW1wb3J0ZXI6czNjcmV0", "seed 004: user:password in the URL"
    done = await wait_finished(private_ok, payload["batch"]["id"])
    assert done["created"] == 2


@pytest.mark.system
def test_the_cli_imports_fifty_thousand_rows(tmp_path: Path, database_url: str) -> None:
    rows = ["email,mobile,firstName,External ID,tier"]
    rows += [f"user{i}@example.com,+4791{i:06d},First{i},ext-{i},{'Gold' if i % 2 else 'Silver'}" for i in range(50_000)]
    rows[12_345] = "broken-email,,Broken,ext-broken,"
    rows.append("user7@example.com,,Again,,")  # the same contact again: updated, not duplicated
    csv_file = tmp_path / "big.csv"
    csv_file.write_text("\n".join(rows) + "\n")
    result = subprocess.run(
        [sys.executable, "-m", "contactql.cli", "import", str(csv_file), "--database", database_url, "--list", "Big", "--dedupe-on", "email"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 1, "some rows failed: " + result.stderr
    summary = dict(line.split(None, 1) for line in result.stdout.splitlines() if line and not line.startswith(" "))
    assert (summary["rows"], summary["created"], summary["updated"], summary["failed"]) == ("50001", "49999", "1", "1")
    assert summary["ignored"] == "columns  tier (neither contact fields nor properties; --create-properties creates them)"
    assert "  INVALID_EMAIL email  1" in result.stdout
    assert "row 12346: email: invalid email address" in result.stdout
    assert "importing" in result.stderr, "a progress bar is shown"
    assert query(database_url, "SELECT count(*) FROM contact") == [(49_999,)]
    assert query(database_url, "SELECT count(*) FROM list_membership") == [(49_999,)]
    assert query(database_url, "SELECT DISTINCT source FROM contact") == [("CSV_IMPORT",)]
    if POSTGRES is None:  # SQLite's own check; PostgreSQL has none like it
        assert query(database_url, "PRAGMA integrity_check") == [("ok",)]


async def test_a_multi_line_cell_closed_later_and_a_quote_inside_a_cell_are_read_as_written(api: Api, database_url: str) -> None:
    """The refusal above is for a quote the file never closes; a cell whose line breaks are
    quoted, or an inch mark in an unquoted cell, is data."""
    await api.property_field("notes")
    data = b'email,notes\r\na@example.com,"first line\r\nsecond line"\r\nb@example.com,27" screen\r\nc@example.com,"said ""hi"""\r\n'
    payload = (await upload(api, data)).json()["data"]["importContacts"]
    assert payload["userErrors"] == []
    done = await wait_finished(api, payload["batch"]["id"])
    assert (done["created"], done["failed"]) == (3, 0)
    assert sorted(query(database_url, "SELECT value FROM property_value")) == sorted([("27\" screen",), ('said "hi"',), ("first line\r\nsecond line",)])


async def test_multi_line_cells_that_look_like_rows_are_data(api: Api, database_url: str) -> None:
    """A quote closed rows later by a stray one cannot be told from a cell that holds line
    breaks: notes quoting someone's email line by line, a JSON blob, a call log are imported as
    written (a guard that failed such rows refused real exports: see the user guide)."""
    await api.property_field("notes")
    data = (
        b'email,firstName,notes\nc1@example.com,Ann,"Wife:\nkari@example.com, Kari, Nordmann"\n'
        b'c2@example.com,Bo,"{\n""tier"": ""gold"",\n""since"": ""2024-03-01""\n}"\nc3@example.com,Cy,"2024-03-01,answered,5min\n2024-03-05,voicemail,0"\n'
    )
    done = await wait_finished(api, (await upload(api, data)).json()["data"]["importContacts"]["batch"]["id"])
    assert (done["created"], done["failed"]) == (3, 0)
    assert query(database_url, "SELECT count(*) FROM property_value WHERE value LIKE '%' || char(10) || '%'" if "sqlite" in database_url else
                 "SELECT count(*) FROM property_value WHERE value LIKE '%' || chr(10) || '%'") == [(3,)]


async def test_a_heading_wrapped_in_its_cell_is_read_as_one_name(api: Api, database_url: str) -> None:
    data = b'email,"First\nName",lastName\r\na@example.com,Ann,Berg\r\n'
    payload = (await upload(api, data, IMPORT_REPORT)).json()["data"]["importContacts"]
    assert payload["importReport"]["fieldColumns"] == ["email", "First Name", "lastName"]
    await wait_finished(api, payload["batch"]["id"])
    assert query(database_url, "SELECT first_name, last_name FROM contact") == [("Ann", "Berg")]


@pytest.mark.system
def test_the_cli_refuses_a_file_with_a_quote_never_closed_and_imports_nothing(tmp_path: Path, database_url: str) -> None:
    csv_file = tmp_path / "unclosed.csv"
    csv_file.write_bytes(b'email,firstName\np1@example.com,A\np2@example.com,"Unclosed\np3@example.com,C\n')
    result = subprocess.run(
        [sys.executable, "-m", "contactql.cli", "import", str(csv_file), "--database", database_url],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("contactql import: line 3: a quoted cell opens in this row")
    assert "Traceback" not in result.stderr
    assert query(database_url, "SELECT count(*) FROM contact") == [(0,)]


@pytest.mark.system
def test_the_cli_refuses_a_file_that_is_not_utf8(tmp_path: Path, database_url: str) -> None:
    csv_file = tmp_path / "latin1.csv"
    csv_file.write_bytes("email,city\na@example.com,Tromsø\n".encode("latin-1"))
    result = subprocess.run(
        [sys.executable, "-m", "contactql.cli", "import", str(csv_file), "--database", database_url],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "not UTF-8" in result.stderr and "Traceback" not in result.stderr
