"""GraphQL over HTTP as the spec's two media types want it, CORS for frontend apps, and the
GraphiQL page's own assets — through the real ASGI app."""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from contactql.config import ConfigError, Settings, load_settings
from tests.conftest import running
from tests.helpers import Api

GRAPHQL_RESPONSE = "application/graphql-response+json"
ANSWERS = "application/graphql-response+json, application/json;q=0.9"


async def post(api: Api, body: dict[str, Any], accept: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {api.key}"} | ({"Accept": accept} if accept else {})
    return await api.http.post("/graphql", json=body, headers=headers)


@pytest.mark.parametrize("accept", [GRAPHQL_RESPONSE, ANSWERS])
async def test_graphql_response_json_is_answered_in_kind(api: Api, accept: str) -> None:
    response = await post(api, {"query": "{ workspace { name } }"}, accept)
    assert response.status_code == 200
    assert response.headers["content-type"] == f"{GRAPHQL_RESPONSE}; charset=utf-8"
    assert response.json()["data"] == {"workspace": {"name": "default"}}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"query": "{ workspace { name "}, "INVALID_INPUT"),  # parse
        ({"query": "{ workspace { nope } }"}, "INVALID_INPUT"),  # validation
        ({"query": "query Q($n: Int!) { contacts(first: $n) { totalCount } }", "variables": {"n": "ten"}}, "INVALID_INPUT"),  # coercion
    ],
)
async def test_request_errors_are_400_without_data_for_graphql_response_json(api: Api, body: dict[str, Any], code: str) -> None:
    strict = await post(api, body, GRAPHQL_RESPONSE)
    assert strict.status_code == 400
    assert strict.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    assert "data" not in strict.json() and strict.json()["errors"][0]["extensions"]["code"] == code
    # application/json clients keep what they always had: 200, and the errors.
    plain = await post(api, body, "application/json")
    assert plain.status_code == 200 and plain.headers["content-type"] == "application/json"
    assert plain.json()["errors"][0]["extensions"]["code"] == code


async def test_an_error_during_execution_keeps_200_and_data(api: Api) -> None:
    # `after` is checked inside the resolver: a field error, with a path and `data`.
    response = await post(api, {"query": '{ contacts(after: "junk") { totalCount } }'}, GRAPHQL_RESPONSE)
    assert response.status_code == 200
    body = response.json()
    assert "data" in body and body["errors"][0]["path"] == ["contacts"]


@pytest.mark.parametrize("accept", [None, "*/*", "application/json", "text/plain, application/*"])
async def test_other_clients_get_application_json(api: Api, accept: str | None) -> None:
    response = await post(api, {"query": "{ workspace { name } }"}, accept)
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"


@pytest.fixture
async def limited(settings: Settings) -> AsyncIterator[Api]:
    async with running(settings, rate_limit_per_minute=1) as (_, api):
        yield api


async def test_the_rate_limit_stays_429_in_either_media_type(limited: Api) -> None:
    assert (await post(limited, {"query": "{ workspace { name } }"}, GRAPHQL_RESPONSE)).status_code == 200
    refused = await post(limited, {"query": "{ workspace { name } }"}, GRAPHQL_RESPONSE)
    assert refused.status_code == 429 and refused.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"


ORIGIN = "https://app.example.com"


@pytest.fixture
async def cors(settings: Settings) -> AsyncIterator[Api]:
    async with running(settings, cors_origins=(ORIGIN,)) as (_, api):
        yield api


def preflight(origin: str) -> dict[str, str]:
    return {"Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization, content-type"}


async def test_cors_preflight_allows_the_configured_origin_and_the_authorization_header(cors: Api) -> None:
    response = await cors.http.options("/graphql", headers=preflight(ORIGIN))
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert "authorization" in response.headers["access-control-allow-headers"].lower()
    assert "POST" in response.headers["access-control-allow-methods"]

    refused = await cors.http.options("/graphql", headers=preflight("https://evil.example.net"))
    assert refused.status_code == 400 and "access-control-allow-origin" not in refused.headers


async def test_cors_headers_reach_answers_and_refusals(cors: Api) -> None:
    answer = await cors.http.post("/graphql", json={"query": "{ workspace { name } }"}, headers={"Origin": ORIGIN, "Authorization": f"Bearer {cors.key}"})
    assert answer.status_code == 200 and answer.headers["access-control-allow-origin"] == ORIGIN
    # A browser app can read why it was refused.
    unauthorised = await cors.http.post("/graphql", json={"query": "{ workspace { name } }"}, headers={"Origin": ORIGIN})
    assert unauthorised.status_code == 401 and unauthorised.headers["access-control-allow-origin"] == ORIGIN


async def test_cors_lets_a_frontend_send_trace_context_and_read_ids_and_limits(cors: Api) -> None:
    sent = "authorization, content-type, traceparent, tracestate, baggage, x-request-id, apollographql-client-name, apollographql-client-version"
    allowed = await cors.http.options("/graphql", headers={**preflight(ORIGIN), "Access-Control-Request-Headers": sent})
    assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == ORIGIN
    unlisted = await cors.http.options("/graphql", headers={**preflight(ORIGIN), "Access-Control-Request-Headers": "x-custom"})
    assert unlisted.status_code == 400
    answer = await cors.http.post("/graphql", json={"query": "{ workspace { name } }"}, headers={"Origin": ORIGIN, "Authorization": f"Bearer {cors.key}"})
    exposed = {h.strip().lower() for h in answer.headers["access-control-expose-headers"].split(",")}
    assert exposed == {"retry-after", "x-request-id", "ratelimit", "ratelimit-policy"}
    assert {"x-request-id", "ratelimit", "ratelimit-policy"} <= answer.headers.keys()


async def test_an_operator_chooses_the_cors_headers(settings: Settings) -> None:
    async with running(settings, cors_origins=(ORIGIN,), cors_allow_headers=("Authorization", "X-Tenant"), cors_expose_headers=("X-Request-Id",)) as (_, api):
        allowed = await api.http.options("/graphql", headers={**preflight(ORIGIN), "Access-Control-Request-Headers": "authorization, x-tenant"})
        assert allowed.status_code == 200
        refused = await api.http.options("/graphql", headers={**preflight(ORIGIN), "Access-Control-Request-Headers": "traceparent"})
        assert refused.status_code == 400
        answer = await api.http.post("/graphql", json={"query": "{ workspace { name } }"}, headers={"Origin": ORIGIN, "Authorization": f"Bearer {api.key}"})
        assert answer.headers["access-control-expose-headers"].lower() == "x-request-id"
    assert load_settings({"CONTACTQL_CORS_ALLOW_HEADERS": " Authorization, X-Tenant ,"}).cors_allow_headers == ("Authorization", "X-Tenant")


async def test_no_cors_unless_configured(api: Api) -> None:
    response = await api.http.options("/graphql", headers=preflight(ORIGIN))
    assert "access-control-allow-origin" not in response.headers
    answer = await api.http.post("/graphql", json={"query": "{ workspace { name } }"}, headers={"Origin": ORIGIN, "Authorization": f"Bearer {api.key}"})
    assert answer.status_code == 200 and "access-control-allow-origin" not in answer.headers


@pytest.mark.parametrize("raw", ["app.example.com", "https://app.example.com/path", "ftp://x.example.com", "https://"])
def test_a_cors_origin_that_is_not_an_origin_fails_at_start(raw: str) -> None:
    with pytest.raises(ConfigError, match="CONTACTQL_CORS_ORIGINS"):
        load_settings({"CONTACTQL_CORS_ORIGINS": raw})


def test_cors_origins_are_read_comma_separated() -> None:
    settings = load_settings({"CONTACTQL_CORS_ORIGINS": " https://a.example.com, http://127.0.0.1:5173/ ,"})
    assert settings.cors_origins == ("https://a.example.com", "http://127.0.0.1:5173")


async def test_the_graphiql_page_and_its_assets_come_from_contactql(api: Api) -> None:
    page = await api.http.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "default-src 'none'" in policy
    assets = [part.split('"')[1] for part in page.text.split("src=")[1:]] + [part.split('"')[1] for part in page.text.split("href=")[1:] if "/graphiql/" in part]
    assert len(assets) == 8 and all(a.startswith("/graphiql/") for a in assets)
    for asset in assets:
        response = await api.http.get(asset, headers={"Accept-Encoding": "gzip"})
        assert response.status_code == 200, asset


async def test_graphiql_files_are_named_by_content_hash_and_kept_for_a_year(api: Api) -> None:
    page = await api.http.get("/graphql", headers={"Accept": "text/html"})
    assert page.headers["cache-control"] == "no-cache"  # the page: always the current hashes
    assets = re.findall(r'(?:src|href)="(/graphiql/[^"]+)"', page.text)
    assert len(assets) == 8
    for asset in assets:
        path, _, query = asset.partition("?")
        content = (await api.http.get(asset)).content
        assert query == f"v={hashlib.sha256(content).hexdigest()[:16]}", asset
        assert (await api.http.get(asset)).headers["cache-control"] == "public, max-age=31536000, immutable"
        # Without the hash, or with another one, the file may have changed: revalidate.
        for stale in (path, f"{path}?v=0123456789abcdef", f"{path}?v="):
            answer = await api.http.get(stale)
            assert answer.status_code == 200 and answer.headers["cache-control"] == "no-cache", stale
    assert (await api.http.get("/graphiql/../config.py?v=x")).status_code == 404
    assert (await api.http.get("/graphiql/nothing.js?v=0123456789abcdef")).status_code == 404


# What real clients send, and what they get: the encoding they accept that costs least.
ENCODINGS = [
    ("gzip, deflate, br, zstd", "zstd"),  # Chromium and Firefox since 2024
    ("gzip, deflate, br", "br"),  # Safari, curl --compressed with brotli
    ("gzip, deflate", "gzip"),  # Python's httpx and requests, Node's fetch before zstd
    ("br;q=0.5, gzip", "gzip"),  # the client's q-values come first
    ("zstd;q=0, br;q=0, *", "gzip"),  # q=0 refuses one; * stands for the others
]


@pytest.mark.parametrize(("accept_encoding", "encoding"), ENCODINGS)
async def test_graphql_answers_over_a_kilobyte_are_compressed_as_the_client_accepts(api: Api, accept_encoding: str, encoding: str) -> None:
    for i in range(60):
        await api.upsert({"email": f"gz{i}@example.com", "firstName": "Gzip"})
    page = {"query": "{ contacts(first: 50) { edges { node { id email firstName lastName createdAt } } } }"}
    key = {"Authorization": f"Bearer {api.key}"}
    plain = await api.http.post("/graphql", json=page, headers={**key, "Accept-Encoding": "identity"})
    packed = await api.http.post("/graphql", json=page, headers={**key, "Accept-Encoding": accept_encoding})
    assert "content-encoding" not in plain.headers and packed.headers["content-encoding"] == encoding
    assert "accept-encoding" in packed.headers["vary"].lower()
    assert packed.json()["data"] == plain.json()["data"] and len(plain.content) > 4096  # httpx decodes all three
    assert int(packed.headers["content-length"]) < len(plain.content) / 4
    assert packed.headers["cache-control"] == "private, no-store" and packed.headers["x-request-id"]
    # A small answer is not worth compressing; GET answers are compressed as POST ones.
    small = await api.http.post("/graphql", json={"query": "{ workspace { name } }"}, headers={**key, "Accept-Encoding": accept_encoding})
    assert "content-encoding" not in small.headers
    by_get = await api.http.get("/graphql", params=page, headers={**key, "Accept-Encoding": accept_encoding})
    assert by_get.headers["content-encoding"] == encoding and by_get.json()["data"] == plain.json()["data"]


@pytest.mark.parametrize(("accept_encoding", "encoding"), ENCODINGS)
async def test_graphiql_files_stream_compressed_whole(api: Api, accept_encoding: str, encoding: str) -> None:
    # GraphiQL's script (2 MB) is sent in chunks: each is flushed, and the last ends the stream.
    asset = "/graphiql/vendor/graphiql@3.8.3/graphiql.min.js"
    plain = await api.http.get(asset, headers={"Accept-Encoding": "identity"})
    packed = await api.http.get(asset, headers={"Accept-Encoding": accept_encoding})
    assert packed.headers["content-encoding"] == encoding and "javascript" in packed.headers["content-type"]
    assert packed.content == plain.content and len(plain.content) > 1_000_000
    assert "content-length" not in packed.headers  # streamed: no length up front


async def test_the_graphiql_page_is_whole_whatever_the_request_before_it_accepted(api: Api) -> None:
    # One shared page object once kept the first request's zstd headers over the plain body.
    html = {"Accept": "text/html"}
    first = await api.http.get("/graphql", headers={**html, "Accept-Encoding": "gzip, deflate, br, zstd"})
    plain = await api.http.get("/graphql", headers={**html, "Accept-Encoding": "identity"})
    gzipped = await api.http.get("/graphql", headers={**html, "Accept-Encoding": "gzip"})
    assert "content-encoding" not in plain.headers and int(plain.headers["content-length"]) == len(plain.content)
    assert first.headers["content-encoding"] == "zstd" and gzipped.headers["content-encoding"] == "gzip"
    assert first.text == plain.text == gzipped.text and "<title>" in plain.text


async def test_every_variant_varies_on_accept_encoding_and_a_compressed_etag_is_weak(api: Api) -> None:
    """A shared cache must not hand the plain bytes to a client that asked for zstd, or the
    reverse; and two variants with different bytes must not share a strong ETag."""
    key = {"Authorization": f"Bearer {api.key}"}
    small = await api.http.post("/graphql", json={"query": "{ workspace { name } }"}, headers={**key, "Accept-Encoding": "gzip"})
    unasked = await api.http.post("/graphql", json={"query": "{ workspace { name } }"}, headers={**key, "Accept-Encoding": "identity"})
    asset = "/graphiql/vendor/graphiql@3.8.3/graphiql.min.js"
    plain = await api.http.get(asset, headers={"Accept-Encoding": "identity"})
    packed = await api.http.get(asset, headers={"Accept-Encoding": "br"})
    for answer in (small, unasked, plain, packed):
        assert answer.headers["vary"].lower().count("accept-encoding") == 1, answer.headers
    assert "content-encoding" not in plain.headers and not plain.headers["etag"].startswith("W/")
    assert packed.headers["content-encoding"] == "br" and packed.headers["etag"] == f"W/{plain.headers['etag']}"
    # and the weak tag still revalidates
    again = await api.http.get(asset, headers={"Accept-Encoding": "br", "If-None-Match": packed.headers["etag"]})
    assert again.status_code == 304
