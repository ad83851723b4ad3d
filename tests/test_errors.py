"""GraphQL errors: every one has extensions.code; faults are masked, never a traceback or SQL."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import sqlalchemy as sa

from tests.helpers import Api


@pytest.mark.parametrize(
    ("query", "variables", "fragment"),
    [
        ("{ contacts { edges { node { id } }", None, "Syntax Error"),
        ("{ contacts { nope } }", None, "Cannot query field 'nope'"),
        ("mutation { upsertContact(input: {}) { outcome } }", None, "contact"),
        ("query Q($f: Int) { contacts(first: $f) { totalCount } }", {"f": "ten"}, "Int cannot represent"),
        ('mutation { upsertContact(input: {contact: {emailStatus: "YES"}}) { outcome } }', None, "EmailStatus"),
    ],
)
async def test_malformed_documents_are_graphql_errors_with_a_code(api: Api, query: str, variables: Any, fragment: str) -> None:
    response = await api.post(query, variables)
    assert response.status_code in (200, 400)
    errors = response.json()["errors"]
    assert errors[0]["extensions"]["code"] == "INVALID_INPUT"
    assert fragment in errors[0]["message"]


async def test_an_unexpected_fault_is_masked_with_a_request_id(app: Any, api: Api, caplog: pytest.LogCaptureFixture) -> None:
    made = await api.upsert({"email": "a@example.com"})
    await app.state.services.db.write(lambda conn: conn.execute(sa.text("DROP TABLE external_url")))
    caplog.set_level(logging.ERROR, logger="contactql.errors")
    response = await api.post("query C($id: ID!) { contact(id: $id) { email externalUrls { url } } }", {"id": made["contact"]["id"]})
    assert response.status_code == 200
    body = response.json()
    error = body["errors"][0]
    assert error["message"] == "Unexpected error."
    assert error["extensions"]["code"] == "INTERNAL"
    request_id = error["extensions"]["requestId"]
    text = response.text.lower()
    for leak in ("traceback", "sqlite", "sqlalchemy", "select ", "external_url", ".py", "no such table"):
        assert leak not in text
    assert body["data"]["contact"] is None
    assert any(request_id in record.getMessage() for record in caplog.records), "the log names the same request id"


async def test_data_problems_are_user_errors_with_http_200(api: Api) -> None:
    response = await api.post(
        "mutation U($i: UpsertContactInput!) { upsertContact(input: $i) { outcome userErrors { code } } }",
        {"i": {"contact": {"email": "nope"}}},
    )
    assert response.status_code == 200
    assert response.json()["data"] == {"upsertContact": {"outcome": None, "userErrors": [{"code": "INVALID_EMAIL"}]}}
