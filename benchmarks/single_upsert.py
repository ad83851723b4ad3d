"""Single-contact upsert throughput and latency, against the do-nothing floor (issue 3).

    python benchmarks/single_upsert.py [--requests 4000] [--database URL]

Starts `contactql serve` on 127.0.0.1 (SQLite with synchronous=FULL unless --database says
otherwise) and the floor app (benchmarks/floor_app.py), and from this process drives the same
`upsertContact` documents — each a new contact with email, mobile, names, 3 properties and
1 list — at concurrency 1 and 16. Bounded: a fixed number of requests per run. On the default
SQLite database a third floor writes the same rows durably with bare sqlite3 (floor_app.py,
"durable"): what issue 3's p50 target is up against on this machine's disk.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.loadgen import PYTHON, Run, drive, encode, free_port, process, serve_command, table  # noqa: E402

DOCUMENT = """mutation Upsert($input: UpsertContactInput!) {
  upsertContact(input: $input) {
    outcome matchedBy changedFields
    contact { id email mobile firstName lastName emailStatus }
    userErrors { field code message }
  }
}"""


STOCK = "floor: stock Strawberry, do-nothing"
RAW = "floor: ContactQL's inputs, do-nothing"
DURABLE = "floor: ContactQL's inputs + bare sqlite3 rows, durable"


def variables(i: int, list_id: str) -> dict[str, object]:
    return {
        "input": {
            "listId": list_id,
            "contact": {
                "email": f"bench.{i}@example.com",
                "mobile": f"+479{i:07d}",
                "firstName": f"First{i}",
                "lastName": f"Last{i}",
                "emailOptIn": True,
                "properties": [
                    {"name": "city", "value": f"City {i % 50}"},
                    {"name": "interest", "value": "ice hockey"},
                    {"name": "score", "value": str(i % 100)},
                ],
            },
        }
    }


def setup(base: str, key: str) -> str:
    headers = {"Authorization": f"Bearer {key}"}
    mutation = "mutation F($i: PropertyFieldInput!) { createPropertyField(input: $i) { field { id } } }"
    for name, kind in (("city", "TEXT"), ("interest", "TEXT"), ("score", "NUMBER")):
        httpx.post(f"{base}/graphql", json={"query": mutation, "variables": {"i": {"name": name, "type": kind}}}, headers=headers)
    made = httpx.post(
        f"{base}/graphql", json={"query": 'mutation { createList(name: "Bench") { list { id } } }'}, headers=headers
    ).json()
    return str(made["data"]["createList"]["list"]["id"])


def ok(status: int, body: bytes) -> bool:
    return status == 200 and b'"errors"' not in body and b'"userErrors":[]' in body


async def measure(ports: int | list[int], key: str | None, list_id: str, start: int, counts: dict[int, int], label: str) -> list[Run]:
    runs = []
    offset = start
    port = ports[0] if isinstance(ports, list) else ports
    warm = [encode(port, "/graphql", {"query": DOCUMENT, "variables": variables(offset + i, list_id)}, key) for i in range(300)]
    await drive(ports, warm, 16, ok)
    offset += 300
    for concurrency, count in counts.items():
        requests = [encode(port, "/graphql", {"query": DOCUMENT, "variables": variables(offset + i, list_id)}, key) for i in range(count)]
        offset += count
        run = await drive(ports, requests, concurrency, ok, label)
        if run.errors:
            raise SystemExit(f"{label}: {run.errors} requests failed")
        runs.append(run)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=4000, help="requests at concurrency 16 (a quarter at 1)")
    parser.add_argument("--database", help="database URL (default: a fresh SQLite file); PostgreSQL: an empty database")
    parser.add_argument("--processes", type=int, default=1, help="contactql serve processes sharing the database")
    args = parser.parse_args()
    counts = {1: max(200, args.requests // 4), 16: args.requests}

    with tempfile.TemporaryDirectory() as tmp:
        database = args.database or f"sqlite:///{Path(tmp) / 'bench.db'}"
        ports = [free_port() for _ in range(args.processes)]
        env = {"CONTACTQL_RATE_LIMIT": "10000000"}
        with contextlib.ExitStack() as stack:
            key = ""
            for n, port in enumerate(ports):
                serve = serve_command(port, database)
                server = stack.enter_context(process(serve, port=port, env=env, log=Path(tmp) / f"serve{n}.log"))
                key = key or (server.stdout.readline().strip() if server.stdout else "")
            if not key.startswith("cql_"):
                raise SystemExit("use a fresh database: the benchmark needs the first-start admin key")
            list_id = setup(f"http://127.0.0.1:{ports[0]}", key)
            ours_label = "ContactQL" if args.processes == 1 else f"ContactQL, {args.processes} processes"
            ours = asyncio.run(measure(ports, key, list_id, 0, counts, ours_label))

        floors = []
        variants = [("stock", STOCK), ("raw", RAW)]
        if args.database is None and args.processes == 1:
            variants.append(("durable", DURABLE))  # into ContactQL's database, its server stopped
        for inputs, label in variants:
            floor_port = free_port()
            floor = [PYTHON, "-m", "uvicorn", "benchmarks.floor_app:app", "--port", str(floor_port), "--log-level", "warning", "--no-access-log"]
            env = {"PYTHONPATH": str(Path(__file__).resolve().parent.parent), "FLOOR_INPUTS": inputs, "FLOOR_DATABASE": str(Path(tmp) / "bench.db")}
            with process(floor, port=floor_port, env=env):
                floors += asyncio.run(measure(floor_port, None, list_id, 10_000_000, counts, label))

    rows = [
        [r.label, str(r.concurrency), str(r.requests), f"{r.rate:,.0f}", f"{r.p50:.2f}", f"{r.percentile(0.99):.2f}"]
        for r in [*ours, *floors]
    ]
    engine = "PostgreSQL" if database.startswith("postgres") else f"SQLite, synchronous={os.environ.get('CONTACTQL_SQLITE_SYNCHRONOUS', 'FULL')}"
    print(f"\nsingle upsertContact, {engine}")
    print(table(rows, ["target", "concurrency", "requests", "req/s", "p50 ms", "p99 ms"]))
    by = {(r.label, r.concurrency): r for r in [*ours, *floors]}
    ratio = by[(ours_label, 16)].rate / by[(STOCK, 16)].rate
    print(f"\n{ours_label} / floor at concurrency 16: {ratio:.0%} (target ≥ 60%)")
    print(f"{ours_label} / floor with ContactQL's input path: {by[(ours_label, 16)].rate / by[(RAW, 16)].rate:.0%}")
    print(f"{ours_label} p50 at concurrency 1: {by[(ours_label, 1)].p50:.2f} ms (target < 2 ms)")
    if (DURABLE, 1) in by:
        print(f"durable floor p50 at concurrency 1: {by[(DURABLE, 1)].p50:.2f} ms (no matching, validation or ORM)")


if __name__ == "__main__":
    main()
