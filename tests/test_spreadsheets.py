"""Spreadsheet exports as people have them, through `contactql import` and importContacts, with
every count checked against what the generator wrote (tests/spreadsheets.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import Api, query
from tests.spreadsheets import export
from tests.test_batches import wait_finished
from tests.test_import import IMPORT_REPORT, upload

FAILURES = "query F($id: ID!) { batch(id: $id) { failures { code field count exampleClientRef hint } } }"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "contactql.cli", *args], capture_output=True, text=True, timeout=600, check=False)


def summary(stdout: str) -> dict[str, str]:
    """The `name  value` lines of the import summary."""
    return {line[:16].strip(): line[16:].strip() for line in stdout.splitlines() if line and not line.startswith(" ") and "  " in line}


def check_database(database_url: str, made: Any, list_name: str | None = None) -> None:
    assert query(database_url, "SELECT count(*) FROM contact") == [(made.created,)]
    assert query(database_url, "SELECT count(*) FROM contact WHERE mobile LIKE '+47%'") == [(made.norwegian,)]
    assert query(database_url, "SELECT count(*) FROM contact WHERE mobile LIKE '+1%'") == [(made.american,)]
    assert query(database_url, "SELECT count(*) FROM contact WHERE email <> lower(email)") == [(0,)]
    newline = "chr(10)" if database_url.startswith("postgresql") else "char(10)"
    assert query(database_url, f"SELECT count(*) FROM property_value WHERE value LIKE '%' || {newline} || '%'") == [(made.multi_line_notes,)]
    if list_name is not None:
        assert query(database_url, "SELECT count(*) FROM list_membership") == [(made.created,)]


@pytest.mark.system
def test_the_cli_imports_an_excel_semicolon_export_of_fifty_thousand_rows(tmp_path: Path, database_url: str) -> None:
    made = export(50_000)  # byte-order mark, CRLF, ';', quoted line breaks, national numbers
    path = tmp_path / "Contacts (Excel).csv"
    path.write_bytes(made.data)
    result = cli("import", str(path), "--database", database_url, "--default-country", "no", "--create-properties", "--list", "Fair 2026")
    assert result.returncode == 1, result.stderr  # some rows failed
    shown = summary(result.stdout)
    assert shown["delimiter"] == "semicolon" and shown["status"] == "COMPLETED"
    counts = {name: int(shown[name]) for name in ("rows", "created", "updated", "unchanged", "skipped", "failed")}
    assert counts == {"rows": made.rows, "created": made.created, "updated": 0, "unchanged": made.unchanged, "skipped": 0, "failed": made.failed}
    assert shown["new properties"] == "Notes"
    assert f"INVALID_EMAIL email  {made.bad_emails:,}".replace(",", " ") in result.stdout
    assert f"INVALID_PHONE mobile  {made.bad_phones:,}".replace(",", " ") + "  — give --default-country" in result.stdout
    assert "Traceback" not in result.stderr
    check_database(database_url, made, list_name="Fair 2026")


@pytest.mark.system
async def test_importcontacts_imports_fifty_thousand_rows_of_another_dialect(api: Api, database_url: str) -> None:
    made = export(50_000, delimiter=",", excel=False, seed=11)
    payload = (await upload(api, made.data, defaultCountry="NO", createMissingProperties=True)).json()["data"]["importContacts"]
    assert payload["userErrors"] == [] and payload["batch"]["total"] == made.rows
    done = await wait_finished(api, payload["batch"]["id"], within=300)
    assert (done["status"], done["total"], done["created"], done["updated"], done["unchanged"], done["failed"]) == (
        "COMPLETED", made.rows, made.created, 0, made.unchanged, made.failed,
    )  # fmt: skip
    failures = (await api.gql(FAILURES, {"id": done["id"]}))["batch"]["failures"]
    assert sorted((f["code"], f["field"], f["count"]) for f in failures) == [("INVALID_EMAIL", ["email"], made.bad_emails), ("INVALID_PHONE", ["mobile"], made.bad_phones)]
    check_database(database_url, made)


async def test_importcontacts_imports_a_classic_mac_export_with_lines_ending_in_cr(api: Api, database_url: str) -> None:
    """Lines ending in CR alone ("CSV (Macintosh)"): the header was split on LF only and the
    file ended in an INTERNAL error (a traceback from `contactql import`)."""
    made = export(400, seed=5, mac=True)
    assert b"\r\n" not in made.data.replace(b"\n", b"")  # only CR ends a line (a notes cell holds an LF)
    payload = (await upload(api, made.data, IMPORT_REPORT, defaultCountry="NO", createMissingProperties=True)).json()["data"]["importContacts"]
    assert payload["userErrors"] == [] and payload["importReport"]["delimiter"] == "semicolon"
    assert payload["importReport"]["fieldColumns"] == ["E-mail", "Mobile", "First name", "Last name", "Country"]
    done = await wait_finished(api, payload["batch"]["id"])
    assert (done["total"], done["created"], done["unchanged"], done["failed"]) == (made.rows, made.created, made.unchanged, made.failed)
    check_database(database_url, made)


async def test_the_import_report_says_how_the_file_was_read(api: Api) -> None:
    await api.property_field("tier")
    data = "\ufeffEmail\tTIER\tFavourite colour\tShoe size\r\nann@example.com\tgold\tred\t38\r\n".encode()
    payload = (await upload(api, data, IMPORT_REPORT)).json()["data"]["importContacts"]
    assert payload["importReport"] == {
        "delimiter": "tab", "rows": 1, "fieldColumns": ["Email"], "propertyColumns": ["TIER"], "createdProperties": [],
        "ignoredColumns": ["Favourite colour", "Shoe size"],
    }  # fmt: skip
    await wait_finished(api, payload["batch"]["id"])
    ann = (await api.gql('{ contacts { edges { node { email properties { field { name } value } } } } }'))["contacts"]["edges"][0]["node"]
    assert ann == {"email": "ann@example.com", "properties": [{"field": {"name": "tier"}, "value": "gold"}]}
    created = (await upload(api, data, IMPORT_REPORT, createMissingProperties=True)).json()["data"]["importContacts"]["importReport"]
    assert (created["createdProperties"], created["ignoredColumns"]) == (["Favourite colour", "Shoe size"], [])
    assert [p["name"] for p in (await api.gql("{ properties { name type } }"))["properties"]] == ["tier", "Favourite colour", "Shoe size"]


async def test_national_numbers_without_a_country_fail_with_a_hint(api: Api) -> None:
    made = export(300, seed=3)
    payload = (await upload(api, made.data)).json()["data"]["importContacts"]
    done = await wait_finished(api, payload["batch"]["id"])
    failures = {f["code"]: f for f in (await api.gql(FAILURES, {"id": done["id"]}))["batch"]["failures"]}
    repeated_norwegian = made.unchanged - made.repeated_american
    # Every row with a Norwegian number fails: the created ones, their repeats, and the broken emails (which have one too).
    national = made.norwegian + repeated_norwegian + made.bad_emails
    assert failures["INVALID_PHONE"]["count"] == national + made.bad_phones
    assert failures["INVALID_PHONE"]["hint"] == "give defaultCountry (or, in a CSV file, a country column) for national numbers"
    assert (done["created"], done["unchanged"], done["failed"]) == (made.american, made.repeated_american, national + made.bad_phones)


@pytest.mark.system
@pytest.mark.parametrize(
    ("data", "says"),
    [
        ("Name;Phone number;City\r\nAnn;953 45 259;Oslo\r\n", "the first row names no email, mobile or externalId column, so no row could be matched or created; read with a semicolon delimiter, its columns are: 'Name', 'Phone number', 'City'"),
        ("name,city\nAnn,Oslo\n", "read with a comma delimiter, its columns are: 'name', 'city'"),
    ],
)
async def test_a_header_with_no_identity_column_is_refused_before_any_row(api: Api, tmp_path: Path, database_url: str, data: str, says: str) -> None:
    payload = (await upload(api, data.encode())).json()["data"]["importContacts"]
    assert payload["batch"] is None and [(e["field"], e["code"]) for e in payload["userErrors"]] == [(["file"], "INVALID_INPUT")]
    assert says in payload["userErrors"][0]["message"]
    path = tmp_path / "names.csv"
    path.write_text(data)
    result = cli("import", str(path), "--database", database_url)
    assert result.returncode == 2 and result.stdout == "" and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == f"contactql import: {payload['userErrors'][0]['message']}"


async def test_a_large_file_that_is_not_utf8_is_refused_and_the_next_import_works(api: Api) -> None:
    """64 KiB and more is validated in the helper process: its refusal must come back whole."""
    latin1 = ("email,city\n" + "ann@example.com,Tromsø\n" * 4000).encode("latin-1")
    assert len(latin1) > 64 * 1024
    refused = (await upload(api, latin1)).json()["data"]["importContacts"]
    assert refused["batch"] is None and "not UTF-8" in refused["userErrors"][0]["message"]
    fine = ("email,city\n" + "".join(f"u{i}@example.com,Tromsø\n" for i in range(4000))).encode()
    accepted = (await upload(api, fine)).json()["data"]["importContacts"]
    assert accepted["userErrors"] == [] and accepted["batch"]["total"] == 4000
    assert (await wait_finished(api, accepted["batch"]["id"]))["created"] == 4000


@pytest.mark.system
def test_cli_options_are_checked_before_the_file_is_read(tmp_path: Path, database_url: str) -> None:
    path = tmp_path / "x.csv"
    path.write_text("email\na@example.com\n")
    result = cli("import", str(path), "--database", database_url, "--default-country", "Norway")
    assert result.returncode == 2
    assert result.stderr.strip() == "contactql import: --default-country: 'Norway' is not a country code such as NO, GB or US (ISO 3166 alpha-2)"
    missing = cli("import", str(tmp_path / "nope.csv"), "--database", database_url)
    assert missing.returncode == 2 and missing.stderr.startswith("contactql import: ") and "Traceback" not in missing.stderr
    blank_list = cli("import", str(path), "--database", database_url, "--list", " ")
    assert blank_list.returncode == 2
    assert blank_list.stderr.strip() == "contactql import: --list: the list's name must be 1 to 100 characters"
