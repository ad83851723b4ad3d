"""A lean HTTP/1.1 load generator for 127.0.0.1, shared by the benchmarks.

Why not httpx: on this 2-core machine the client shares the CPU with the server under test,
and httpx's per-request cost (~300 µs) would be measured as the server's. Here each connection
keeps one socket open and writes pre-encoded requests, reading `Content-Length` bodies back —
enough for a server that answers every POST with a sized JSON body, and nothing more.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class Run:
    label: str
    concurrency: int
    requests: int
    seconds: float
    latencies_ms: list[float]
    errors: int

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p))]

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms)


def encode(port: int, path: str, body: dict[str, Any], key: str | None) -> bytes:
    payload = json.dumps(body, separators=(",", ":")).encode()
    auth = f"Authorization: Bearer {key}\r\n" if key else ""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"{auth}Content-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return status, await reader.readexactly(length)


async def drive(
    port: int | list[int], requests: list[bytes], concurrency: int, check: Callable[[int, bytes], bool], label: str = ""
) -> Run:
    """Send every request once over `concurrency` keep-alive connections (spread over the
    ports given); time each answer."""
    ports = port if isinstance(port, list) else [port]
    queue = iter(enumerate(requests))
    latencies: list[float] = []
    errors = 0

    async def connection(port: int) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for _, request in queue:
                started = time.perf_counter()
                writer.write(request)
                status, body = await _read_response(reader)
                latencies.append((time.perf_counter() - started) * 1000)
                if not check(status, body):
                    errors += 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection(ports[i % len(ports)]) for i in range(concurrency)))
    return Run(label, concurrency, len(requests), time.perf_counter() - started, latencies, errors)


@contextmanager
def process(command: list[str], *, port: int, env: dict[str, str] | None = None, log: Path | None = None) -> Iterator[subprocess.Popen[str]]:
    """Start a server process and wait for its port; stop it afterwards."""
    import os
    import socket

    out = open(log or os.devnull, "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=out, text=True, env={**os.environ, **(env or {})})
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{command[:4]} exited with {proc.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                break
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"{command[:4]} did not listen on {port}")
        time.sleep(0.05)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        if proc.stdout:
            proc.stdout.close()
        out.close()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) + " |"  # noqa: E731
    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


PYTHON = sys.executable


def serve_command(port: int, database: str) -> list[str]:
    """`contactql serve` on 127.0.0.1:`port` over `database`, quiet but for warnings."""
    return [PYTHON, "-m", "contactql.cli", "serve", "--port", str(port), "--database", database, "--log-level", "warning"]


UPSERT = "mutation U($input: UpsertContactInput!) { upsertContact(input: $input) { outcome userErrors { code } } }"


def _upserted(status: int, body: bytes) -> bool:
    return status == 200 and b'"userErrors":[]' in body


async def upserts_beside(port: int, key: str, busy: Callable[[], Awaitable[bool]], what: str, *, step: int = 50, most: int = 20_000) -> tuple[Run, Run]:
    """Single upsertContact requests at concurrency 1 while `busy()` says the server's background
    work (an erase, a bulk job) goes on, `step` between two looks; then as many again once it is
    done (the floor: the same server, nothing else running). At most `most` requests beside it."""

    def requests(offset: int) -> list[bytes]:
        return [encode(port, "/graphql", {"query": UPSERT, "variables": {"input": {"contact": {"email": f"live{offset + i}@example.com"}}}}, key) for i in range(step)]

    during: list[float] = []
    seconds, sent = 0.0, 0
    while await busy() and sent < most:
        run = await drive(port, requests(sent), 1, _upserted)
        if run.errors:
            raise SystemExit(f"{run.errors} upserts failed during {what}")
        during += run.latencies_ms
        seconds += run.seconds
        sent += step
    if await busy():
        raise SystemExit(f"{what} did not finish within {most:,} requests")
    after = await drive(port, [r for n in range(max(1, sent // step)) for r in requests(1_000_000 + n * step)], 1, _upserted)
    return Run(f"during {what}", 1, len(during), seconds, during, 0), Run("after it (floor)", 1, after.requests, after.seconds, after.latencies_ms, after.errors)


def latency_table(during: Run, after: Run) -> str:
    """The two phases of `upserts_beside`, with p99 as a ratio to the floor's."""
    rows = [
        [r.label, str(r.requests), f"{r.p50:.2f}", f"{r.percentile(0.99):.2f}", f"{max(r.latencies_ms):.2f}", f"{r.percentile(0.99) / after.percentile(0.99):.2f}"]
        for r in (during, after)
    ]
    return table(rows, ["phase", "requests", "p50 ms", "p99 ms", "max ms", "p99 / floor p99"])

