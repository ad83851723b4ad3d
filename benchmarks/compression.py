"""What gzip costs a page of 50 contacts, against the same page uncompressed (issue 20).

    python benchmarks/compression.py [--requests 1000] [--rounds 3]

Starts `contactql serve` on 127.0.0.1 (a fresh SQLite file), writes 60 contacts with names,
mobile, 3 properties and 2 lists, and drives the same `contacts(first: 50)` page at
concurrency 16, with `Accept-Encoding: gzip` and without, in alternating rounds (so both sides
meet the same machine). Bounded: `--requests` per side per round. Prints req/s, p50, p99 and
the bytes of one answer; the floor is the uncompressed page, measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.loadgen import Run, drive, encode, free_port, process, serve_command, table  # noqa: E402

PAGE = """query Page {
  contacts(first: 50, orderBy: {field: EMAIL, direction: ASC}) {
    totalCount
    edges { cursor node { id email mobile firstName lastName emailStatus createdAt updatedAt
      properties { field { name } value } lists { id name } } }
    pageInfo { hasNextPage endCursor }
  }
}"""
GZIP = "gzip"
IDENTITY = "uncompressed (floor)"


def fill(base: str, key: str) -> None:
    headers = {"Authorization": f"Bearer {key}"}

    def gql(query: str, variables: dict[str, object] | None = None) -> dict[str, object]:
        answer = httpx.post(f"{base}/graphql", json={"query": query, "variables": variables or {}}, headers=headers, timeout=30).json()
        if answer.get("errors"):
            raise SystemExit(f"setup failed: {answer['errors']}")
        return dict(answer["data"])

    for name, kind in (("city", "TEXT"), ("interest", "TEXT"), ("score", "NUMBER")):
        gql("mutation F($i: PropertyFieldInput!) { createPropertyField(input: $i) { field { id } } }", {"i": {"name": name, "type": kind}})
    lists = [gql(f'mutation {{ createList(name: "{name}") {{ list {{ id }} }} }}')["createList"]["list"]["id"] for name in ("Newsletter", "Customers")]  # type: ignore[index]
    upsert = "mutation U($i: UpsertContactInput!) { upsertContact(input: $i) { userErrors { code } } }"
    for i in range(60):
        contact = {
            "email": f"reader.{i}@example.com", "mobile": f"+4791{i:06d}", "firstName": f"First{i}", "lastName": f"Last{i}",
            "properties": [{"name": "city", "value": f"City {i % 7}"}, {"name": "interest", "value": "ice hockey"}, {"name": "score", "value": str(i)}],
        }  # fmt: skip
        for list_id in lists:
            gql(upsert, {"i": {"listId": list_id, "contact": contact}})


def requests(port: int, key: str, count: int, encoding: str | None) -> list[bytes]:
    request = encode(port, "/graphql", {"query": PAGE}, key)
    if encoding:
        request = request.replace(b"\r\nContent-Type:", f"\r\nAccept-Encoding: {encoding}\r\nContent-Type:".encode(), 1)
    return [request] * count


def ok_gzip(status: int, body: bytes) -> bool:
    return status == 200 and body[:2] == b"\x1f\x8b"


def ok_plain(status: int, body: bytes) -> bool:
    return status == 200 and body.startswith(b'{"data"') and b'"errors"' not in body


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000, help="requests per side per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        port = free_port()
        env = {"CONTACTQL_RATE_LIMIT": "100000000"}  # the page, not the limiter, is measured
        server = stack.enter_context(process(serve_command(port, f"sqlite:///{Path(tmp) / 'bench.db'}"), port=port, env=env, log=Path(tmp) / "serve.log"))
        key = server.stdout.readline().strip() if server.stdout else ""
        base = f"http://127.0.0.1:{port}"
        fill(base, key)
        sizes = {
            label: len(httpx.post(f"{base}/graphql", json={"query": PAGE}, headers={"Authorization": f"Bearer {key}", "Accept-Encoding": enc}).content)
            for label, enc in ((GZIP, "gzip"), (IDENTITY, "identity"))
        }
        # httpx decodes gzip: the bytes on the wire are the Content-Length of a raw answer.
        raw = httpx.Client(headers={"Authorization": f"Bearer {key}", "Accept-Encoding": "gzip"})
        with raw.stream("POST", f"{base}/graphql", json={"query": PAGE}) as answer:
            sizes[GZIP] = int(answer.headers["content-length"])
        asyncio.run(drive(port, requests(port, key, 300, "gzip") + requests(port, key, 300, None), 16, lambda s, _: s == 200))  # warm up
        runs: dict[str, list[Run]] = {GZIP: [], IDENTITY: []}
        for _ in range(args.rounds):
            runs[IDENTITY].append(asyncio.run(drive(port, requests(port, key, args.requests, None), 16, ok_plain, IDENTITY)))
            runs[GZIP].append(asyncio.run(drive(port, requests(port, key, args.requests, "gzip"), 16, ok_gzip, GZIP)))
        for side in runs.values():
            for run in side:
                if run.errors:
                    raise SystemExit(f"{run.label}: {run.errors} answers were not what was asked for")

    def merged(side: list[Run]) -> Run:
        return Run(side[0].label, 16, sum(r.requests for r in side), sum(r.seconds for r in side), [x for r in side for x in r.latencies_ms], 0)

    total = {label: merged(side) for label, side in runs.items()}
    rows = [
        [label, f"{run.requests:,}", f"{run.rate:,.0f}", f"{run.p50:.2f}", f"{run.percentile(0.99):.2f}", f"{sizes[label]:,}", f"{run.rate / total[IDENTITY].rate:.2f}"]
        for label, run in total.items()
    ]
    print(f"\ncontacts(first: 50), concurrency 16, {args.rounds} alternating rounds")
    print(table(rows, ["answers", "requests", "req/s", "p50 ms", "p99 ms", "bytes", "ratio to floor"]))
    per_round = [g.rate / i.rate for g, i in zip(runs[GZIP], runs[IDENTITY], strict=True)]
    print(f"\ngzip / uncompressed by round: {', '.join(f'{r:.0%}' for r in per_round)} (target ≥ 90%)")


if __name__ == "__main__":
    main()
