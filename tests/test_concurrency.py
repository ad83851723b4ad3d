"""Concurrent upserts against a real `contactql serve` on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections import Counter
import httpx

from tests.helpers import UPSERT, serve


async def test_twenty_concurrent_upserts_of_one_new_email_make_one_contact(database_url: str) -> None:
    with serve(database_url) as (base, key, _):
        assert key is not None
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:

            async def one(i: int) -> dict[str, object]:
                body = {"query": UPSERT, "variables": {"input": {"contact": {"email": "same@example.com", "firstName": f"N{i % 3}"}}}}
                response = await client.post("/graphql", json=body)
                assert response.status_code == 200, response.text
                payload = response.json()
                assert "errors" not in payload, payload
                return payload["data"]["upsertContact"]

            results = await asyncio.gather(*(one(i) for i in range(20)))
            outcomes = Counter(r["outcome"] for r in results)
            assert outcomes["CREATED"] == 1
            assert outcomes["UPDATED"] + outcomes["UNCHANGED"] == 19
            assert all(r["userErrors"] == [] for r in results)
            assert len({r["contact"]["id"] for r in results}) == 1

            listing = await client.post("/graphql", json={"query": "{ contacts { totalCount } }"})
            assert listing.json()["data"]["contacts"]["totalCount"] == 1


async def test_concurrent_upserts_of_many_identities_make_one_contact_each(database_url: str) -> None:
    with serve(database_url) as (base, key, _):
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:

            async def one(i: int) -> str:
                contact = {"email": f"p{i % 10}@example.com", "mobile": f"+47900000{i % 10:02d}", "lists": {"add": [{"name": "All"}]}}
                response = await client.post("/graphql", json={"query": UPSERT, "variables": {"input": {"contact": contact}}})
                data = response.json()["data"]["upsertContact"]
                assert data["userErrors"] == []
                return str(data["outcome"])

            outcomes = Counter(await asyncio.gather(*(one(i) for i in range(60))))
            assert outcomes["CREATED"] == 10
            listing = await client.post("/graphql", json={"query": "{ contacts { totalCount } lists { totalCount edges { node { size } } } }"})
            data = listing.json()["data"]
            assert data["contacts"]["totalCount"] == 10
            assert data["lists"]["totalCount"] == 1
            assert data["lists"]["edges"][0]["node"]["size"] == 10
