"""`GET /metrics` (contactql/metrics.py) as Prometheus scrapes it: off until an operator sets a
token, then the counters move with what the server did. Counters live in the process, so the
tests compare before and after."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from contactql.config import ConfigError, Settings, load_settings
from tests.conftest import running
from tests.helpers import Api
from tests.test_batches import submit, wait_finished
from tests.test_webhooks import attempted

TOKEN = "scrape-token-0123456789"
EXPENSIVE = "{ contacts(first: 100) { edges { node { history(first: 47) { edges { node { at } } } } } } }"


@pytest.fixture
async def metered(settings: Settings) -> AsyncIterator[tuple[Any, Api]]:
    async with running(settings, metrics_token=TOKEN, allow_private_webhooks=True) as (app, api):
        yield app, api


async def scrape(api: Api) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = await api.http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def value(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_are_off_until_an_operator_sets_a_token(api: Api) -> None:
    answer = await api.http.get("/metrics", headers={"Authorization": f"Bearer {api.key}"})
    assert answer.status_code == 404 and "CONTACTQL_METRICS_TOKEN" in answer.json()["errors"][0]["message"]


async def test_only_the_token_opens_them(metered: tuple[Any, Api]) -> None:
    _, api = metered
    for headers in ({}, {"Authorization": f"Bearer {api.key}"}, {"Authorization": f"Bearer {TOKEN}x"}, {"Authorization": TOKEN}):
        answer = await api.http.get("/metrics", headers=headers)
        assert answer.status_code == 401 and answer.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", headers
    assert "process_cpu_seconds_total" in (await api.http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})).text


async def test_requests_and_operations_are_counted_by_route_type_field_and_outcome(metered: tuple[Any, Api]) -> None:
    _, api = metered
    before = await scrape(api)
    await api.upsert({"email": "counted@example.com"})
    await api.errors("{ contacts { nope } }")
    await api.errors("{ nope }")
    await api.http.post("/graphql", json={"query": "{ workspace { name } }"})  # no key: 401
    after = await scrape(api)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("contactql_graphql_operations_total", type="mutation", field="upsertContact", outcome="ok") == 1
    assert moved("contactql_graphql_operations_total", type="query", field="contacts", outcome="INVALID_INPUT") == 1
    assert moved("contactql_graphql_operations_total", type="query", field="other", outcome="INVALID_INPUT") == 1  # no label from a request
    assert moved("contactql_http_requests_total", route="/graphql", method="POST", status="401") == 1
    assert moved("contactql_http_requests_total", route="/graphql", method="POST", status="200") >= 3
    assert moved("contactql_http_request_duration_seconds_count", route="/graphql") >= 4
    assert moved("contactql_graphql_operation_duration_seconds_count", type="mutation") == 1


async def test_rate_limit_refusals_are_counted(metered: tuple[Any, Api]) -> None:
    _, api = metered
    before = await scrape(api)
    for _ in range(14):  # bounded: the default bucket holds twelve of these
        if (await api.http.post("/graphql", json={"query": EXPENSIVE}, headers={"Authorization": f"Bearer {api.key}"})).status_code == 429:
            break
    after = await scrape(api)
    assert value(after, "contactql_rate_limit_refusals_total", transport="http") - value(before, "contactql_rate_limit_refusals_total", transport="http") == 1


async def test_batch_items_the_queue_and_webhook_attempts_are_measured(metered: tuple[Any, Api], receiver: Any) -> None:
    _, api = metered
    hook = await receiver([204])
    before = await scrape(api)
    assert value(before, "contactql_batch_queue_depth") == 0 and value(before, "contactql_batch_queue_oldest_age_seconds") == 0
    batch = (await submit(api, [{"email": f"m{i}@example.com"} for i in range(5)] + [{"email": "broken"}], webhookUrl=hook.url))["batch"]
    assert (await wait_finished(api, batch["id"]))["status"] == "COMPLETED"
    await attempted(hook, 1)
    for _ in range(100):  # bounded: the attempt is counted once its result is written
        after = await scrape(api)
        if value(after, "contactql_webhook_attempts_total", result="delivered") > value(before, "contactql_webhook_attempts_total", result="delivered"):
            break
        await asyncio.sleep(0.05)
    assert value(after, "contactql_webhook_attempts_total", result="delivered") - value(before, "contactql_webhook_attempts_total", result="delivered") == 1
    assert value(after, "contactql_batch_items_processed_total") - value(before, "contactql_batch_items_processed_total") == 6  # the failed item too
    assert value(after, "contactql_batch_queue_depth") == 0


async def test_the_wal_size_is_reported_on_sqlite(metered: tuple[Any, Api], database_url: str) -> None:
    _, api = metered
    await api.upsert({"email": "wal@example.com"})
    wal = value(await scrape(api), "contactql_sqlite_wal_bytes")
    assert wal > 0 if database_url.startswith("sqlite") else wal == 0


@pytest.mark.parametrize("token", ["short", "has space in it 12345", "é" * 20])
def test_a_metrics_token_must_be_long_and_printable(token: str) -> None:
    with pytest.raises(ConfigError, match="CONTACTQL_METRICS_TOKEN"):
        load_settings({"CONTACTQL_METRICS_TOKEN": token})
