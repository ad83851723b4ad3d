"""Request ids, log lines and the advertised rate limit (observe.py, limits.py): what ties a
browser's error to the server's log, seen as a client and an operator see it."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import websockets

from contactql.config import ConfigError, load_settings
from contactql.observe import configure_logging
from tests.helpers import Api, serve

NEW_ID = re.compile(r"[0-9a-f]{32}")
# Near CONTACTQL_MAX_COST (10 000): a dozen of them empty the default bucket (120 000 a minute).
EXPENSIVE = "{ contacts(first: 100) { edges { node { history(first: 47) { edges { node { at } } } } } } }"


async def test_every_answer_is_named_by_a_new_request_id(api: Api) -> None:
    key = {"Authorization": f"Bearer {api.key}"}
    answers = [
        await api.http.post("/graphql", json={"query": "{ workspace { name } }"}, headers=key),
        await api.http.get("/graphql", params={"query": "{ workspace { name } }"}, headers=key),
        await api.http.post("/graphql", json={"query": "{ workspace { name } }"}),  # 401
        await api.http.post("/graphql", content=b"[1]", headers={**key, "Content-Type": "application/json"}),  # 400
        await api.http.post("/graphql", content=b"x" * (17 * 1024 * 1024), headers={**key, "Content-Type": "application/json"}),  # 413
        await api.http.get("/nowhere"),
        await api.http.get("/healthz"),
        await api.http.get("/graphql", headers={"Accept": "text/html"}),  # GraphiQL
    ]
    assert [a.status_code for a in answers] == [200, 200, 401, 400, 413, 404, 200, 200]
    ids = [a.headers["x-request-id"] for a in answers]
    assert all(NEW_ID.fullmatch(i) for i in ids) and len(set(ids)) == len(ids), ids


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("b7ad6b7169203331", True),
        ("4bf92f3577b34da6a3ce929d0e0e4736", True),
        ("f47ac10b-58cc-4372-a567-0e02b2c3d479", True),
        ("req:2026-12-05T18:00:00.123Z", True),
        ("a" * 128, True),
        ("a" * 129, False),
        ("two words", False),
        ("-starts-with-a-dash", False),
        ("<script>", False),
        ("naïve", False),
        ("", False),
    ],
)
async def test_a_sane_client_request_id_is_kept_and_any_other_replaced(api: Api, sent: str, kept: bool) -> None:
    headers: dict[str, Any] = {"Authorization": f"Bearer {api.key}", "X-Request-Id": sent.encode()}  # raw UTF-8 bytes, as a careless client sends them
    answer = await api.http.post("/graphql", json={"query": "{ workspace { name } }"}, headers=headers)
    assert answer.status_code == 200
    got = answer.headers["x-request-id"]
    assert got == sent if kept else NEW_ID.fullmatch(got), got


@pytest.fixture
def logged(capsys: pytest.CaptureFixture[str]) -> Iterator[Any]:
    """The server's log as `CONTACTQL_LOG_FORMAT=json` writes it, read back as objects; set up
    in the test itself (`start()`), where stderr is the one capsys reads."""
    loggers = {name: logging.getLogger(name) for name in ("contactql", "uvicorn")}
    saved = {name: (lg.handlers[:], lg.level, lg.propagate) for name, lg in loggers.items()}

    def start() -> Any:
        configure_logging("info", "json")
        return lambda: [json.loads(line) for line in capsys.readouterr().err.splitlines()]

    yield start
    for name, (handlers, level, propagate) in saved.items():
        loggers[name].handlers[:], loggers[name].level, loggers[name].propagate = handlers, level, propagate


async def test_a_masked_error_the_answer_and_the_log_line_name_the_same_request(app: Any, api: Api, logged: Any) -> None:
    read_log = logged()
    made = await api.upsert({"email": "a@example.com"})
    await app.state.services.db.write(lambda conn: conn.execute(sa.text("DROP TABLE external_url")))
    answer = await api.http.post(
        "/graphql",
        json={"query": "query C($id: ID!) { contact(id: $id) { externalUrls { url } } }", "variables": {"id": made["contact"]["id"]}},
        headers={"Authorization": f"Bearer {api.key}", "X-Request-Id": "frontend-42"},
    )
    assert answer.headers["x-request-id"] == "frontend-42"
    assert answer.json()["errors"][0]["extensions"] == {"code": "INTERNAL", "requestId": "frontend-42"}
    [line] = [entry for entry in read_log() if entry["level"] == "ERROR"]
    assert line["request_id"] == "frontend-42" and line["logger"] == "contactql.errors"
    assert "no such table" in line["exc_info"] or "external_url" in line["exc_info"]  # the traceback stays in the log
    assert dt.datetime.fromisoformat(line["time"]).tzinfo is not None and line["message"].startswith("request frontend-42")


@pytest.mark.system
async def test_a_websocket_handshake_is_named_too(database_url: str) -> None:
    with serve(database_url) as (base, _, _):
        url = base.replace("http", "ws") + "/graphql"
        async with websockets.connect(url, subprotocols=["graphql-transport-ws"], additional_headers={"X-Request-Id": "socket-7"}) as socket:  # type: ignore[list-item]
            assert socket.response.headers["x-request-id"] == "socket-7"


async def test_the_rate_limit_is_advertised_and_a_429_says_when_to_retry(api: Api) -> None:
    headers = {"Authorization": f"Bearer {api.key}"}
    first = await api.http.post("/graphql", json={"query": EXPENSIVE}, headers=headers)
    cost = first.json()["extensions"]["cost"]["requestedQueryCost"]
    assert 9_000 <= cost <= 10_000
    assert first.headers["ratelimit-policy"] == '"cost";q=120000;w=60'
    left = int(re.fullmatch(r'"cost";r=(\d+);t=(\d+)', first.headers["ratelimit"])[1])  # type: ignore[index]
    assert 120_000 - cost - 5 <= left <= 120_000 - cost
    for _ in range(14):  # bounded: the bucket holds twelve of them
        answer = await api.http.post("/graphql", json={"query": EXPENSIVE}, headers=headers)
        if answer.status_code == 429:
            break
    assert answer.status_code == 429
    assert int(answer.headers["retry-after"]) >= 1
    remaining, reset = (int(x) for x in re.fullmatch(r'"cost";r=(\d+);t=(\d+)', answer.headers["ratelimit"]).groups())  # type: ignore[union-attr]
    assert remaining < cost and reset > 50


@pytest.mark.system
def test_json_logs_from_a_real_server_are_one_object_a_line(database_url: str, tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    with serve(database_url, env={"CONTACTQL_LOG_FORMAT": "JSON"}, log=log) as (base, key, _):
        answer = httpx.post(f"{base}/graphql", json={"query": "{ workspace { name } }"}, headers={"Authorization": f"Bearer {key}"}, trust_env=False)
        assert answer.status_code == 200
    lines = log.read_text().splitlines()
    assert lines, "uvicorn says it started"
    entries = [json.loads(line) for line in lines]  # every line, uvicorn's own included
    assert any(e["logger"].startswith("uvicorn") and "Uvicorn running" in e["message"] for e in entries), entries


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"CONTACTQL_LOG_FORMAT": "yaml"}, "CONTACTQL_LOG_FORMAT: Input should be 'text' or 'json'"),
        ({"CONTACTQL_CORS_ALLOW_HEADERS": "traceparent, x y"}, "CONTACTQL_CORS_ALLOW_HEADERS: 'x y' is not an HTTP header name"),
        ({"CONTACTQL_CORS_EXPOSE_HEADERS": "Retry-After,X:Y"}, "CONTACTQL_CORS_EXPOSE_HEADERS: 'X:Y' is not an HTTP header name"),
    ],
)
def test_a_bad_log_or_cors_setting_is_one_line_naming_it(env: dict[str, str], says: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(env)
    assert says in str(raised.value) and "\n" not in str(raised.value)
