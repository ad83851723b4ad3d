"""Bounded mixed load against a real `contactql serve` on 127.0.0.1 (issue 6).

    python benchmarks/load.py [--seconds 60] [--concurrency 32] [--requests 20000]

32 connections send, until the time or request budget runs out: single upserts (80 %),
contact queries (15 %), batches of 1 000 contacts (5 %), all drawn from one pool of
identities. Afterwards it waits for the batches, then checks: no HTTP 5xx, no "database is
locked" in the server log, and exactly one contact per distinct identity sent. It prints
requests/s and p50/p99 per operation, and exits non-zero when a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.loadgen import _read_response, encode, free_port, process, serve_command, table  # noqa: E402

UPSERT = "mutation U($input: UpsertContactInput!) { upsertContact(input: $input) { outcome userErrors { code } } }"
BATCH = "mutation B($input: UpsertContactsInput!) { upsertContacts(input: $input) { batch { id } userErrors { code } } }"
QUERY = "query Q($after: String) { contacts(first: 50, after: $after) { totalCount edges { node { id email lists { name } } } } }"
POOL = 50_000


def contact(i: int) -> dict[str, object]:
    return {"email": f"load{i}@example.com", "firstName": f"F{random.randrange(1000)}", "lists": {"add": [{"name": f"L{i % 7}"}]}}


async def worker(port: int, key: str, deadline: float, budget: list[int], sent: set[int], stats: dict[str, list[float]], codes: dict[int, int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while budget[0] > 0 and time.monotonic() < deadline:
            budget[0] -= 1
            roll = random.random()
            if roll < 0.80:
                i = random.randrange(POOL)
                sent.add(i)
                name, body = "upsertContact", {"query": UPSERT, "variables": {"input": {"contact": contact(i)}}}
            elif roll < 0.95:
                name, body = "contacts query", {"query": QUERY, "variables": {}}
            else:
                ids = [random.randrange(POOL) for _ in range(1000)]
                sent.update(ids)
                name, body = "upsertContacts (1000)", {"query": BATCH, "variables": {"input": {"contacts": [contact(i) for i in ids]}}}
            started = time.perf_counter()
            writer.write(encode(port, "/graphql", body, key))
            status, payload = await _read_response(reader)
            stats.setdefault(name, []).append((time.perf_counter() - started) * 1000)
            codes[status] = codes.get(status, 0) + 1
            if status == 200 and b'"errors"' in payload:
                codes[-1] = codes.get(-1, 0) + 1  # a GraphQL error where none is expected
    finally:
        writer.close()


async def run(port: int, key: str, seconds: float, concurrency: int, requests: int) -> tuple[dict[str, list[float]], dict[int, int], set[int], float]:
    stats: dict[str, list[float]] = {}
    codes: dict[int, int] = {}
    sent: set[int] = set()
    budget = [requests]
    started = time.monotonic()
    await asyncio.gather(*(worker(port, key, started + seconds, budget, sent, stats, codes) for _ in range(concurrency)))
    return stats, codes, sent, time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--requests", type=int, default=20_000)
    args = parser.parse_args()
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        port, log = free_port(), Path(tmp) / "serve.log"
        serve = serve_command(port, f"sqlite:///{Path(tmp) / 'load.db'}")
        env = {"CONTACTQL_RATE_LIMIT": "10000000", "CONTACTQL_MAX_BATCH_SIZE": "1000"}
        with process(serve, port=port, env=env, log=log) as server:
            key = server.stdout.readline().strip() if server.stdout else ""
            stats, codes, sent, elapsed = asyncio.run(run(port, key, args.seconds, args.concurrency, args.requests))
            headers = {"Authorization": f"Bearer {key}"}
            deadline = time.monotonic() + 300
            while True:  # let the accepted batches finish
                busy = httpx.post(f"http://127.0.0.1:{port}/graphql", json={"query": "{ q: batches(status: QUEUED) { totalCount } p: batches(status: PROCESSING) { totalCount } }"}, headers=headers).json()["data"]
                if busy["q"]["totalCount"] + busy["p"]["totalCount"] == 0 or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            total = httpx.post(f"http://127.0.0.1:{port}/graphql", json={"query": "{ contacts { totalCount } }"}, headers=headers).json()["data"]["contacts"]["totalCount"]
        server_log = log.read_text()
    count = sum(len(v) for v in stats.values())
    rows = [
        [name, str(len(values)), f"{len(values) / elapsed:,.1f}", f"{statistics.median(values):.1f}", f"{sorted(values)[int(len(values) * 0.99)]:.1f}"]
        for name, values in sorted(stats.items())
    ]
    print(f"\nmixed load: {count} requests in {elapsed:.1f} s at concurrency {args.concurrency} ({count / elapsed:,.0f} req/s), SQLite synchronous=FULL")
    print(table(rows, ["operation", "requests", "req/s", "p50 ms", "p99 ms"]))
    print(f"HTTP statuses: {json.dumps({str(k): v for k, v in sorted(codes.items()) if k > 0})}; GraphQL errors: {codes.get(-1, 0)}")
    print(f"contacts: {total}; distinct identities sent: {len(sent)}")
    if any(status >= 500 for status in codes):
        failures.append("HTTP 5xx answers")
    if codes.get(-1):
        failures.append("GraphQL errors")
    if "database is locked" in server_log:
        failures.append('"database is locked" in the server log')
    if "Traceback" in server_log:
        failures.append("a traceback in the server log")
    if total != len(sent):
        failures.append(f"{total} contacts for {len(sent)} identities")
    print("checks:", "all passed" if not failures else "FAILED: " + "; ".join(failures))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
