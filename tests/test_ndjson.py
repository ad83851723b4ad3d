"""NDJSON imports (issue 23): importContacts and `contactql import` take one ContactInput object a
line, each checked as an upsertContacts item — and answered the same — through HTTP multipart
and the command line, on both engines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.helpers import Api, query
from tests.test_batches import STATUS, submit, wait_finished
from tests.test_batches import SUBMIT as SUBMIT_DOCUMENT

IMPORT = """mutation Import($input: ImportContactsInput!) {
  importContacts(input: $input) {
    batch { id total }
    importReport { delimiter rows fieldColumns propertyColumns }
    userErrors { field code message }
  }
}"""
GOOD = [
    {"email": "anna@example.com", "firstName": "Anna", "mobile": "+4790000101", "emailStatus": "SUBSCRIBED", "properties": [{"name": "city", "value": "Oslo"}]},
    {"email": "Bjorn@Example.com", "lastName": "Dahl", "lists": {"add": [{"name": "Imported"}]}},
    {"externalId": "crm-3", "clientRef": "their-ref-3"},
    {"email": "zoe@example.com", "firstName": "Zoë\nÅngström", "privacyConsent": True},
]
# Each a line a batch item would refuse the same way: a wrong type, a wrong enum, an engine rule, no identity.
BAD = [{"email": "x@example.com", "privacyConsent": "yes"}, {"email": "y@example.com", "emailStatus": "MAYBE"}, {"email": "not-an-email"}, {"firstName": "Nobody"}]


async def upload(api: Api, data: bytes, name: str = "contacts.ndjson", **input_: Any) -> dict[str, Any]:
    operations = {"query": IMPORT, "variables": {"input": {"file": None, **input_}}}
    form = {"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.input.file"]})}
    response = await api.http.post("/graphql", data=form, files={"0": (name, data, "application/x-ndjson")}, headers={"Authorization": f"Bearer {api.key}"})
    assert response.status_code == 200, response.text
    return dict(response.json()["data"]["importContacts"])


async def results(api: Api, batch_id: str) -> list[dict[str, Any]]:
    return [e["node"] for e in (await api.gql(STATUS, {"id": batch_id, "first": 100}))["batch"]["results"]["edges"]]


def lines(*objects: Any) -> bytes:
    return "\n".join(o if isinstance(o, str) else json.dumps(o, ensure_ascii=False) for o in objects).encode()


async def test_each_line_is_an_item_and_a_bad_line_fails_alone(api: Api) -> None:
    await api.property_field("city")
    data = b"\xef\xbb\xbf" + lines(GOOD[0], "", GOOD[1], "{not json", "[1, 2]", GOOD[2], '{"email": "nul@example.com", "firstName": "a\\u0000b"}', GOOD[3]) + b"\r\n\n"
    made = await upload(api, data)
    assert made["userErrors"] == [] and made["batch"]["total"] == 7, "blank lines are not items"
    assert made["importReport"] == {
        "delimiter": "newline (NDJSON)", "rows": 7,
        "fieldColumns": ["email", "emailStatus", "externalId", "firstName", "lastName", "lists", "mobile", "privacyConsent"], "propertyColumns": ["city"],
    }  # fmt: skip
    done = await wait_finished(api, made["batch"]["id"])
    assert (done["created"], done["failed"]) == (4, 3)
    by_ref = {r["clientRef"]: r for r in await results(api, made["batch"]["id"])}
    assert set(by_ref) == {"line 1", "line 3", "line 4", "line 5", "their-ref-3", "line 7", "line 8"}, "numbered as an editor shows them"
    assert "not JSON" in by_ref["line 4"]["errors"][0]["message"] and "one JSON object" in by_ref["line 5"]["errors"][0]["message"]
    assert "NUL" in by_ref["line 7"]["errors"][0]["message"]
    zoe = (await api.gql('query { contacts(filter: {email: "zoe@example.com"}) { edges { node { firstName source } } } }'))["contacts"]["edges"][0]["node"]
    assert zoe == {"firstName": "Zoë\nÅngström", "source": "CSV_IMPORT"}
    assert (await api.gql('query { contacts(filter: {email: "bjorn@example.com"}) { edges { node { lists { name } } } } }'))["contacts"]["edges"][0]["node"]["lists"] == [{"name": "Imported"}]


async def test_a_line_is_answered_as_the_same_batch_item_would_be(api: Api, other_workspace: Api) -> None:
    """The same objects as a batch in one workspace and as an NDJSON file in another: the same
    outcomes, the same problems at the same fields, item by item. A line GraphQL's type check
    refuses fails alone, with the message the same value gets as a variable (where it refuses
    the whole request)."""
    for client in (api, other_workspace):
        await client.property_field("city")
    engine_bad = BAD[2:]
    batch = (await submit(api, GOOD + engine_bad))["batch"]
    made = await upload(other_workspace, lines(*GOOD, *engine_bad))
    as_batch = await results(api, (await wait_finished(api, batch["id"]))["id"])
    as_file = await results(other_workspace, (await wait_finished(other_workspace, made["batch"]["id"]))["id"])

    def shape(r: dict[str, Any]) -> tuple[Any, ...]:
        return (r["index"], r["outcome"], r["changedFields"], [(e["field"], e["code"], e["message"]) for e in r["errors"]], r["invalidProperties"])

    assert [shape(r) for r in as_file] == [shape(r) for r in as_batch]
    typed = await upload(other_workspace, lines(*BAD[:2]))
    wrong = [r["errors"][0] for r in await results(other_workspace, (await wait_finished(other_workspace, typed["batch"]["id"]))["id"])]
    as_variables = [e["message"] for e in await api.errors(SUBMIT_DOCUMENT, {"input": {"contacts": BAD[:2]}})]
    assert [e["field"] for e in wrong] == [["contacts", "0", "privacyConsent"], ["contacts", "1", "emailStatus"]], "as a batch item's"
    assert all(mine["message"] in theirs for mine, theirs in zip(wrong, as_variables, strict=True)), (wrong, as_variables)


async def test_the_format_is_chosen_or_found(api: Api) -> None:
    found = await upload(api, lines(GOOD[2]), name="export.txt")
    assert found["importReport"]["delimiter"] == "newline (NDJSON)", "a first character { says NDJSON"
    told = await upload(api, lines(GOOD[2]), name="export.txt", format="NDJSON")
    assert told["batch"]["total"] == 1
    as_csv = await upload(api, b"email\nq@example.com\n", name="contacts.ndjson", format="CSV")
    assert as_csv["importReport"]["delimiter"] == "comma", "an explicit format wins over the name"
    refused = await upload(api, lines(GOOD[2]), createMissingProperties=True)
    assert refused["batch"] is None and refused["userErrors"][0]["field"] == ["createMissingProperties"]
    empty = await upload(api, b"\n \n")
    assert empty["batch"] is None and empty["userErrors"][0]["field"] == ["file"]
    binary = await upload(api, b'{"email": "a@example.com"}\x00\n')
    assert binary["batch"] is None and "NUL byte" in binary["userErrors"][0]["message"]


def test_the_command_imports_an_ndjson_file(tmp_path: Path, database_url: str) -> None:
    path = tmp_path / "contacts.jsonl"
    objects = [{"email": f"u{i}@example.com", "firstName": f"F{i}", "emailStatus": "SUBSCRIBED" if i % 2 else "NO_MARKETING"} for i in range(2000)]
    objects[1500] = {"email": "broken", "firstName": "Broken"}
    path.write_bytes(lines(*objects))
    result = subprocess.run(
        [sys.executable, "-m", "contactql.cli", "import", str(path), "--database", database_url, "--list", "From file"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    summary = dict(line.split(None, 1) for line in result.stdout.splitlines() if line and not line.startswith(" "))
    assert (summary["rows"], summary["created"], summary["failed"], summary["delimiter"]) == ("2000", "1999", "1", "newline (NDJSON)")
    assert "line 1501: email:" in result.stdout
    assert query(database_url, "SELECT count(*) FROM list_membership") == [(1999,)]
    refused = subprocess.run(
        [sys.executable, "-m", "contactql.cli", "import", str(path), "--database", database_url, "--create-properties"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert refused.returncode == 2 and "NDJSON" in refused.stderr and "Traceback" not in refused.stderr


async def test_a_hostile_line_fails_alone_and_cheaply(api: Api) -> None:
    """Found by an attack: a ListRef breaking its one-of rule and a value nested ~990 deep made
    the whole import INTERNAL; 50 000 unknown keys held a thread for minutes; a blank or missing
    clientRef left none, a too-long one was echoed whole."""
    many_keys = {"email": "k@example.com", **{f"unknown{i}": 1 for i in range(50_000)}}
    deep = '{"email": ' + "[" * 990 + '"x"' + "]" * 990 + "}"  # written out: json.dumps would recurse as deep
    data = lines(
        {"email": "o1@example.com"},
        {"email": "o2@example.com", "lists": {"add": [{"id": "x", "name": "y"}]}},
        deep,
        many_keys,
        {"email": "bad", "clientRef": "  "},
        {"email": 5, "clientRef": "crm-7"},
        {"email": "long@example.com", "clientRef": "r" * 3_000},
        {"email": "x@example.com", "k" * 100_000: 1},
        "{\"email\": \"cut@example.com\"",
    )
    made = await upload(api, data)
    assert made["userErrors"] == [] and made["batch"]["total"] == 9
    done = await wait_finished(api, made["batch"]["id"])
    assert (done["created"], done["failed"]) == (1, 8)
    by_ref = {r["clientRef"]: r["errors"] for r in await results(api, made["batch"]["id"])}
    assert set(by_ref) == {"line 1", "line 2", "line 3", "line 4", "line 5", "crm-7", "line 7", "line 8", "line 9"}
    assert "exactly one key" in by_ref["line 2"][0]["message"]
    assert "nested too deeply" in by_ref["line 3"][0]["message"]
    assert len(by_ref["line 4"]) == 20, "checking stops at 20 problems"
    assert by_ref["line 7"][0]["field"][-1] == "clientRef"
    assert all(len(e["message"]) <= 500 for errors in by_ref.values() for e in errors), "no message quotes a megabyte"
    assert by_ref["line 9"][0]["message"].startswith("not JSON:") and "line 1" not in by_ref["line 9"][0]["message"]


def test_the_command_checks_lines_against_the_served_contact_input() -> None:
    # `contactql import` builds ContactInput alone, without the served schema (a second of its
    # start): every input type it reaches must print as the served schema's does.
    from graphql import GraphQLInputObjectType, get_named_type, print_type

    from contactql.schema.inputs import contact_input_type
    from contactql.schema.root import build_schema

    def reached(found: Any, types: dict[str, Any]) -> dict[str, Any]:
        named = get_named_type(found)
        if named.name not in types:
            types[named.name] = named
            if isinstance(named, GraphQLInputObjectType):
                for field in named.fields.values():
                    reached(field.type, types)
        return types

    alone = reached(contact_input_type(), {})
    served = reached(build_schema()._schema.get_type("ContactInput"), {})
    assert len(alone) > 5 and {"ContactInput", "PropertyValueInput", "ListChangesInput", "EmailStatus"} <= set(alone)
    assert {name: print_type(t) for name, t in alone.items()} == {name: print_type(t) for name, t in served.items()}
