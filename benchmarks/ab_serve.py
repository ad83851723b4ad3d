"""ContactQL alone, with the server's CPU per request: for comparing two versions of the code.

    python benchmarks/ab_serve.py [--concurrency 16] [--requests 3000] [--runs 2] [--source DIR]

Starts `contactql serve` on 127.0.0.1 over a fresh SQLite file (synchronous=FULL), from
`--source` (a checkout, e.g. `git worktree add /tmp/before HEAD~1`; default: this one), and
drives `benchmarks/single_upsert.py`'s documents at one concurrency, a fixed number of requests
per run. Besides req/s and p50 it prints the server process's CPU time (user + system, all its
threads) per request, read from /proc: steadier than req/s on a shared machine, where the
floors of single_upsert.py move by ±15 % from run to run. Interleave the two sides, A B A B.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.loadgen import drive, encode, free_port, process, serve_command, table  # noqa: E402
from benchmarks.single_upsert import DOCUMENT, ok, setup, variables  # noqa: E402


def cpu_seconds(pid: int) -> float:
    """User + system time of every thread of `pid` so far (Linux /proc)."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        fields = Path(f"/proc/{pid}/task/{task}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--requests", type=int, default=3000, help="requests per run")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--source", type=Path, default=Path(__file__).resolve().parent.parent, help="the checkout to serve")
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        serve = serve_command(port, f"sqlite:///{Path(tmp) / 'ab.db'}")
        env = {"CONTACTQL_RATE_LIMIT": "10000000", "PYTHONPATH": str(args.source.resolve())}
        os.chdir(args.source)  # `python -m` puts the working directory first on sys.path
        with process(serve, port=port, env=env, log=Path(tmp) / "serve.log") as server:
            key = server.stdout.readline().strip() if server.stdout else ""
            list_id = setup(f"http://127.0.0.1:{port}", key)
            warm = [encode(port, "/graphql", {"query": DOCUMENT, "variables": variables(i, list_id)}, key) for i in range(300)]
            asyncio.run(drive(port, warm, 16, ok))
            offset = 300
            for _ in range(args.runs):
                requests = [
                    encode(port, "/graphql", {"query": DOCUMENT, "variables": variables(offset + i, list_id)}, key) for i in range(args.requests)
                ]
                offset += args.requests
                before = cpu_seconds(server.pid)
                run = asyncio.run(drive(port, requests, args.concurrency, ok, str(args.source)))
                spent = cpu_seconds(server.pid) - before
                if run.errors:
                    raise SystemExit(f"{run.errors} requests failed")
                rows.append([str(args.source), str(args.concurrency), f"{run.rate:,.0f}", f"{run.p50:.2f}", f"{spent / args.requests * 1000:.2f}"])
    print(table(rows, ["source", "concurrency", "req/s", "p50 ms", "server CPU ms/request"]))


if __name__ == "__main__":
    main()
