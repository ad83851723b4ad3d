"""What zstd, br and gzip cost a page of 50 contacts, against the same page uncompressed (issue 20).

    python benchmarks/compression.py [--requests 1000] [--rounds 3]

Starts `contactql serve` on 127.0.0.1 (a fresh SQLite file), writes 60 contacts with names,
mobile, 3 properties and 2 lists, and drives the same `contacts(first: 50)` page at
concurrency 16, with `Accept-Encoding: zstd`, `br`, `gzip` and without, in alternating rounds
(so every side meets the same machine). Bounded: `--requests` per side per round. Prints req/s, p50, p99 and
the bytes of one answer; the floor is the uncompressed page, measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
from collections.abc import Callable
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
IDENTITY = "uncompressed (floor)"
ENCODINGS = ("zstd", "br", "gzip")
MAGIC = {"zstd": b"\x28\xb5\x2f\xfd", "br": b"", "gzip": b"\x1f\x8b"}  # brotli has no magic number


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


def ok_packed(encoding: str) -> Callable[[int, bytes], bool]:
    def ok(status: int, body: bytes) -> bool:
        return status == 200 and body.startswith(MAGIC[encoding]) and not body.startswith(b'{"')

    return ok


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
        sizes = {}
        for encoding in (*ENCODINGS, "identity"):
            # httpx decodes the answer: the bytes on the wire are the Content-Length.
            with httpx.stream("POST", f"{base}/graphql", json={"query": PAGE}, headers={"Authorization": f"Bearer {key}", "Accept-Encoding": encoding}) as answer:
                sizes[encoding if encoding != "identity" else IDENTITY] = int(answer.headers["content-length"])
        warm = [r for encoding in (*ENCODINGS, None) for r in requests(port, key, 200, encoding)]
        asyncio.run(drive(port, warm, 16, lambda s, _: s == 200))
        runs: dict[str, list[Run]] = {IDENTITY: [], **{encoding: [] for encoding in ENCODINGS}}
        for _ in range(args.rounds):
            runs[IDENTITY].append(asyncio.run(drive(port, requests(port, key, args.requests, None), 16, ok_plain, IDENTITY)))
            for encoding in ENCODINGS:
                runs[encoding].append(asyncio.run(drive(port, requests(port, key, args.requests, encoding), 16, ok_packed(encoding), encoding)))
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
    for encoding in ENCODINGS:
        per_round = [g.rate / i.rate for g, i in zip(runs[encoding], runs[IDENTITY], strict=True)]
        print(f"{encoding} / uncompressed by round: {', '.join(f'{r:.0%}' for r in per_round)} (target ≥ 90%)")


if __name__ == "__main__":
    main()
