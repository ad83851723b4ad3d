"""Crash safety: SIGKILL `contactql serve` before and in the middle of a batch, start it again,
and check that no accepted item was lost or applied twice."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import httpx
import pytest

from tests.helpers import POSTGRES, query, serve

pytestmark = pytest.mark.system  # real servers, browsers, npm clients or processes: left out of the fast loop

SUBMIT = "mutation S($input: UpsertContactsInput!) { upsertContacts(input: $input) { batch { id total } userErrors { code } } }"
STATUS = "query B($id: ID!) { batch(id: $id) { status total processed created updated unchanged skipped failed } }"
ITEMS = 6000
DISTINCT = 4500
# Small chunks: the kill points land mid-batch however fast the engine is (600 chunk transactions).
ENV = {"CONTACTQL_MAX_BATCH_SIZE": "10000", "CONTACTQL_BATCH_CHUNK_SIZE": "10", "CONTACTQL_LEASE_SECONDS": "2"}


def post(base: str, key: str, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(f"{base}/graphql", json={"query": query, "variables": variables}, headers={"Authorization": f"Bearer {key}"}, timeout=60)
    body = response.json()
    assert "errors" not in body, body
    return dict(body["data"])


def batch_status(base: str, key: str, batch_id: str) -> dict[str, Any]:
    return dict(post(base, key, STATUS, {"id": batch_id})["batch"])


def kill_when(base: str, key: str, batch_id: str, process: Any, at_least: int) -> int:
    """SIGKILL the server once the batch has at least `at_least` results (bounded wait)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        processed = batch_status(base, key, batch_id)["processed"]
        if processed >= at_least:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
            return processed
        time.sleep(0.02)
    raise AssertionError("the batch did not advance")


def test_batches_resume_after_sigkill_without_losing_or_repeating_items(database_url: str) -> None:
    url = database_url
    contacts = [{"email": f"c{i % DISTINCT}@example.com", "firstName": f"F{i}", "lists": {"add": [{"name": "Crash"}]}} for i in range(ITEMS)]

    # Kill point 1: accepted, no worker has touched it yet.
    with serve(url, env={**ENV, "CONTACTQL_WORKERS": "false"}) as (base, key, process):
        assert key is not None
        batch_id = post(base, key, SUBMIT, {"input": {"contacts": contacts}})["upsertContacts"]["batch"]["id"]
        os.kill(process.pid, signal.SIGKILL)
        process.wait()

    # Kill points 2 and 3: in the middle of the batch, twice.
    seen = []
    for at_least in (ITEMS // 5, ITEMS // 2):
        with serve(url, env=ENV) as (base, _, process):
            seen.append(kill_when(base, key, batch_id, process, at_least))
    assert 0 < seen[0] <= seen[1] < ITEMS, seen

    with serve(url, env=ENV) as (base, _, _):
        deadline = time.monotonic() + 90
        while (done := batch_status(base, key, batch_id))["status"] != "COMPLETED":
            assert time.monotonic() < deadline, done
            time.sleep(0.05)
        contacts_total = post(base, key, "{ contacts { totalCount } lists { edges { node { size } } } }", {})

    assert done["processed"] == done["total"] == ITEMS
    assert (done["created"], done["updated"], done["failed"], done["skipped"]) == (DISTINCT, ITEMS - DISTINCT, 0, 0)
    assert contacts_total["contacts"]["totalCount"] == DISTINCT
    assert contacts_total["lists"]["edges"][0]["node"]["size"] == DISTINCT

    if POSTGRES is None:  # SQLite's own check; PostgreSQL has none like it, the counts below are the check there
        assert query(url, "PRAGMA integrity_check") == [("ok",)]
    [(count, low, high)] = query(url, f"SELECT count(*), min(\"index\"), max(\"index\") FROM batch_result WHERE batch_id = '{batch_id}'")
    assert (count, low, high) == (ITEMS, 0, ITEMS - 1), "one result per item, none repeated"
    outcomes = dict(query(url, "SELECT coalesce(outcome, 'FAILED'), count(*) FROM batch_result GROUP BY 1"))
    assert outcomes == {"CREATED": DISTINCT, "UPDATED": ITEMS - DISTINCT}
