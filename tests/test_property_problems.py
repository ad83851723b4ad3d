"""An input that fails for a field also says what is wrong with its custom property values —
a value its field's type refuses, a property that does not exist — on every path, so one round
of fixes is enough. (An input that is written reports these in invalidProperties instead.)"""

from __future__ import annotations

import json
from typing import Any

from tests.helpers import Api
from tests.test_batches import STATUS, submit, wait_finished
from tests.test_import import upload

BAD = {"email": "bad-email", "properties": [{"name": "score", "value": "abc"}, {"name": "nosuch", "value": "x"}]}
EXPECTED = [
    (["email"], "INVALID_EMAIL"),
    (["properties", "0", "value"], "INVALID_INPUT"),
    (["properties", "1", "name"], "NOT_FOUND"),
]


async def test_a_single_upsert_reports_its_property_problems_beside_its_field_problems(api: Api) -> None:
    await api.property_field("score", "NUMBER")
    result = await api.upsert(BAD)
    assert result["outcome"] is None
    assert [(e["field"], e["code"]) for e in result["userErrors"]] == [(["contact", *field], code) for field, code in EXPECTED]
    assert result["userErrors"][1]["message"].startswith("score: ")  # which property, also where a CSV column's position says little
    assert "nosuch" in result["userErrors"][2]["message"]
    written = await api.upsert({"email": "ok@example.com", "properties": BAD["properties"]})  # a written input: invalidProperties, as before
    assert written["outcome"] == "CREATED" and written["userErrors"] == []


def _problems(edge: dict[str, Any]) -> list[tuple[list[str], str]]:
    return [(e["field"], e["code"]) for e in edge["node"]["errors"]]


async def test_a_batch_and_an_ndjson_import_report_them_too(api: Api) -> None:
    await api.property_field("score", "NUMBER")
    batch = (await submit(api, [{"email": "fine@example.com"}, BAD, {"email": "also-bad", "properties": [{"name": "score", "value": "3"}]}]))["batch"]
    done = await wait_finished(api, batch["id"])
    assert (done["created"], done["failed"]) == (1, 2)
    failed = (await api.gql(STATUS, {"id": batch["id"], "failedOnly": True}))["batch"]["results"]["edges"]
    assert _problems(failed[0]) == [(["contacts", "1", *field], code) for field, code in EXPECTED]
    assert _problems(failed[1]) == [(["contacts", "2", "email"], "INVALID_EMAIL")]  # its property is fine: nothing more

    lines = "\n".join(json.dumps(line) for line in ({"email": "n1@example.com"}, BAD)).encode()
    imported = await wait_finished(api, (await upload(api, lines)).json()["data"]["importContacts"]["batch"]["id"])
    assert (imported["created"], imported["failed"]) == (1, 1)
    [line] = (await api.gql(STATUS, {"id": imported["id"], "failedOnly": True}))["batch"]["results"]["edges"]
    assert _problems(line) == [(["contacts", "1", *field], code) for field, code in EXPECTED]
