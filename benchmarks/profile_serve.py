"""Where a server's time goes under single upserts, and what changed between two versions.

    python benchmarks/profile_serve.py [--source DIR] [--against DIR] [--requests 6000] [--concurrency 16] [--top 25]

Starts `contactql serve` from `--source` (a checkout; default this one) on 127.0.0.1 over a fresh
SQLite file, drives `benchmarks/single_upsert.py`'s documents at `--concurrency` (16) while py-spy
(`pip install py-spy`) samples every thread of the server, and prints the share of samples per
source file, self time. With `--against` a second checkout is profiled the same way and the
table shows both and the difference, largest increase first: a change that costs 10 % made of
many small pieces shows each piece, where req/s only shows the sum and its noise.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.loadgen import drive, encode, free_port, process, serve_command, table  # noqa: E402
from benchmarks.single_upsert import DOCUMENT, ok, setup, variables  # noqa: E402

FILE = re.compile(r"\(([^:)]*)")


def profile(source: Path, requests: int, concurrency: int = 16) -> dict[str, float]:
    """Self-time share (%) per source file of a server at `source` under `requests` upserts."""
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        env = {"CONTACTQL_RATE_LIMIT": "10000000", "PYTHONPATH": str(source)}
        cwd = os.getcwd()
        os.chdir(source)  # `python -m` puts the working directory first on sys.path
        try:
            with process(serve_command(port, f"sqlite:///{Path(tmp) / 'p.db'}"), port=port, env=env, log=Path(tmp) / "serve.log") as server:
                key = server.stdout.readline().strip() if server.stdout else ""
                list_id = setup(f"http://127.0.0.1:{port}", key)
                warm = [encode(port, "/graphql", {"query": DOCUMENT, "variables": variables(i, list_id)}, key) for i in range(300)]
                asyncio.run(drive(port, warm, 16, ok))
                raw = Path(tmp) / "profile.txt"
                spy = subprocess.Popen(
                    ["py-spy", "record", "--pid", str(server.pid), "--format", "raw", "--output", str(raw), "--rate", "500", "--nonblocking"],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                work = [encode(port, "/graphql", {"query": DOCUMENT, "variables": variables(1000 + i, list_id)}, key) for i in range(requests)]
                run = asyncio.run(drive(port, work, concurrency, ok))
                spy.send_signal(signal.SIGINT)  # py-spy writes its file as it stops
                spy.wait(timeout=60)
                if run.errors:
                    raise SystemExit(f"{run.errors} requests failed")
                return self_time(raw)
        finally:
            os.chdir(cwd)


def self_time(raw: Path) -> dict[str, float]:
    """py-spy's raw format: one `frame;frame;…;leaf count` line per distinct stack."""
    counts: collections.Counter[str] = collections.Counter()
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, number = line.rpartition(" ")
        if not number.isdigit():
            continue
        match = FILE.search(stack.rsplit(";", 1)[-1])
        counts[_short(match.group(1)) if match else stack] += int(number)
    total = sum(counts.values()) or 1
    return {name: n / total * 100 for name, n in counts.items()}


def _short(path: str) -> str:
    # py-spy names most files from their sys.path entry already (strawberry/schema/schema.py);
    # the rest lose the prefix that differs between machines and checkouts.
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1]
    stdlib = re.search(r"/lib/python3\.\d+/(.*)", path)
    if stdlib:
        return stdlib.group(1)
    return path[path.rindex("contactql/") :] if "contactql/" in path else path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--against", type=Path, help="a second checkout to compare with")
    parser.add_argument("--requests", type=int, default=6000)
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight (1: where one request's latency goes)")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    if shutil.which("py-spy") is None:
        raise SystemExit("profile_serve.py needs py-spy: pip install py-spy")
    ours = profile(args.source.resolve(), args.requests, args.concurrency)
    if args.against is None:
        rows = [[name, f"{share:.2f}"] for name, share in sorted(ours.items(), key=lambda kv: -kv[1])[: args.top]]
        print(table(rows, ["file", "self %"]))
        return
    theirs = profile(args.against.resolve(), args.requests, args.concurrency)
    names = sorted(set(ours) | set(theirs), key=lambda n: -(ours.get(n, 0) - theirs.get(n, 0)))
    rows = [[name, f"{ours.get(name, 0):.2f}", f"{theirs.get(name, 0):.2f}", f"{ours.get(name, 0) - theirs.get(name, 0):+.2f}"] for name in names[: args.top]]
    print(table(rows, ["file", f"self % {args.source.name}", f"self % {args.against.name}", "difference"]))


if __name__ == "__main__":
    main()
