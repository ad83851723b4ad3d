"""Batch upsert throughput (issue 4), four figures in one run:

1. the engine: contacts/s from claim to COMPLETED (in-process, the batch worker alone);
2. the physical floor: the same rows written with bare sqlite3 executemany in one transaction;
   2b. the same with the new contacts in one multi-row INSERT: every statement that writes
   `contact` pays the search index's trigger a fixed ~40 µs, so (2) pays it a row and 2b once;
3. end to end: batches submitted over HTTP to `contactql serve` and polled to completion;
   3b. the same with two processes on one database: an API-only `contactql serve`
   (CONTACTQL_WORKERS=false) and a second one that applies the batches;
4. the do-nothing floor: the same documents sent to stock Strawberry (benchmarks/floor_app.py).

    python benchmarks/batch_upsert.py [--batches 20] [--size 1000] [--database ENGINE SERVER SPLIT]

Each batch: half new contacts, half matching existing contacts by email (rule EMAIL), each
with 5 custom properties and 1 list. Bounded: a fixed number of batches per figure.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.loadgen import PYTHON, free_port, process, serve_command, table  # noqa: E402
from contactql.config import Settings  # noqa: E402
from contactql.runtime import tune_gc  # noqa: E402
from contactql.store.batches import queue as batches  # noqa: E402
from contactql.store.batches.queue import validate_entries  # noqa: E402
from contactql.store.db.columns import value_hash  # noqa: E402
from contactql.store.db.database import Database  # noqa: E402
from contactql.store.model import MatchRule, MatchStrategy, PropertyType, Source, UpsertOptions  # noqa: E402
from contactql.store.workspace import (
    lists,  # noqa: E402
    properties,  # noqa: E402
)
from contactql.store.workspace.keys import ensure_workspace  # noqa: E402
from contactql.workers.batches import BatchWorker, ProgressHub  # noqa: E402

PROPS = ("city", "interest", "tier", "score", "since")
SUBMIT = "mutation S($input: UpsertContactsInput!) { upsertContacts(input: $input) { batch { id } userErrors { code message } } }"


def contacts(batch: int, size: int, *, existing: bool = True) -> list[dict[str, Any]]:
    """Half existing (emails made by `seed`), half new."""
    half = size // 2
    out = []
    for i in range(size):
        email = f"old{batch * half + i}@example.com" if existing and i < half else f"new{batch}.{i}@example.com"
        out.append({
            "email": email, "firstName": f"F{i}", "lastName": f"L{batch}",
            "properties": [{"name": p, "value": f"{p}-{batch}-{i % 97}"} for p in PROPS if p != "score"] + [{"name": "score", "value": str(i)}],
            "lists": {"add": [{"name": "Bench"}]},
        })  # fmt: skip
    return out


def seed(batch_count: int, size: int) -> list[dict[str, Any]]:
    """The existing contacts the batches match: half a batch each."""
    return [{"email": f"old{i}@example.com", "firstName": "Old"} for i in range(batch_count * size // 2)]


OPTIONS = UpsertOptions(match=MatchStrategy(rules=(MatchRule.EMAIL,)), source=Source.BATCH, actor="bench")


async def engine_rate(path: Path | str, batch_count: int, size: int) -> float:
    settings = Settings(database_url=path if isinstance(path, str) else f"sqlite+aiosqlite:///{path}")
    db = Database(settings)
    await db.migrate()

    def setup(conn: Any) -> int:
        ws = ensure_workspace(conn, name="default").id
        for name in PROPS:
            properties.create_field(conn, workspace_id=ws, name=name, type=PropertyType.NUMBER if name == "score" else PropertyType.TEXT, options=None)
        lists.create_list(conn, workspace_id=ws, name="Bench")
        return ws

    workspace = await db.write(setup)
    worker = BatchWorker(db, settings, ProgressHub(), on_finished=lambda: None)
    for chunk in range(0, len(existing := seed(batch_count, size)), 10_000):
        await db.write(batches.accept_batch, workspace_id=workspace, entries=validate_entries(existing[chunk : chunk + 10_000]), options=OPTIONS, webhook_url=None)
    await worker.drain()
    for n in range(batch_count):
        await db.write(batches.accept_batch, workspace_id=workspace, entries=validate_entries(contacts(n, size)), options=OPTIONS, webhook_url=None)
    started = time.perf_counter()
    await worker.drain()
    elapsed = time.perf_counter() - started
    done = await db.read(batches.page_batches, workspace_id=workspace, status=None, limit=batch_count, after=None)
    await db.dispose()
    _check(done, size)
    return batch_count * size / elapsed


def _check(done: list[Any], size: int) -> None:
    """A benchmark that measures rejected items measures nothing: every item must be written."""
    for batch in done:
        row = batch if isinstance(batch, dict) else dataclasses.asdict(batch)
        if row["failed"] or row["created"] != size // 2 or row["updated"] != size - size // 2:
            raise SystemExit(f"a benchmark batch did not apply as intended: {row}")


def sqlite_floor_fresh(template: Path, path: Path, batch_count: int, size: int) -> float:
    """(2) on a database seeded as (1)'s is: the engine prepares it, the floor writes."""
    asyncio.run(engine_rate(template, batch_count, size))
    return sqlite_floor(template, path, batch_count, size)


def sqlite_floor(template: Path, path: Path, batch_count: int, size: int, *, one_insert: bool = False) -> float:
    """The same rows with bare sqlite3: per batch, one SELECT for the existing ids, then
    executemany UPDATE/INSERT for contacts, upserts for property values, memberships; with
    `one_insert` the new contacts in one INSERT … VALUES (…), (…)."""
    source = sqlite3.connect(template)
    target = sqlite3.connect(path, isolation_level=None)
    source.backup(target)
    source.close()
    db = target
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    fields = dict(db.execute("SELECT name, id FROM property_field"))
    list_id = db.execute("SELECT id FROM contact_list").fetchone()[0]
    db.execute("DELETE FROM list_membership")
    db.execute("DELETE FROM property_value")
    db.execute("DELETE FROM contact WHERE email LIKE 'new%'")
    next_id = db.execute("SELECT max(id) FROM contact").fetchone()[0] + 1
    now = "2026-11-23 00:00:00.000000"
    started = time.perf_counter()
    for n in range(batch_count):
        rows = contacts(n, size)
        db.execute("BEGIN IMMEDIATE")
        emails = [r["email"] for r in rows]
        known = dict(db.execute(f"SELECT email, id FROM contact WHERE workspace_id = 1 AND email IN ({','.join('?' * len(emails))})", emails))
        updates, inserts, ids = [], [], []
        for r in rows:
            if r["email"] in known:
                ids.append(known[r["email"]])
                updates.append((r["firstName"], r["lastName"], now, known[r["email"]]))
            else:
                ids.append(next_id)
                inserts.append((next_id, 1, r["email"], r["firstName"], r["lastName"], "NO_MARKETING", "NO_MARKETING", 1, "BATCH", "bench", now, now))
                next_id += 1
        db.executemany("UPDATE contact SET first_name = ?, last_name = ?, updated_at = ? WHERE id = ?", updates)
        insert = "INSERT INTO contact (id, workspace_id, email, first_name, last_name, email_status, sms_status, confirmed, source, created_by, created_at, updated_at) VALUES "
        row = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        if one_insert:
            db.execute(insert + ", ".join([row] * len(inserts)), [value for values in inserts for value in values])
        else:
            db.executemany(insert + row, inserts)
        db.executemany(
            "INSERT INTO property_value (contact_id, field_id, workspace_id, value, value_hash) VALUES (?, ?, 1, ?, ?) "
            "ON CONFLICT (contact_id, field_id) DO UPDATE SET value = excluded.value, value_hash = excluded.value_hash",
            [(cid, fields[p["name"]], p["value"], value_hash(p["value"])) for cid, r in zip(ids, rows, strict=True) for p in r["properties"]],
        )
        db.executemany("INSERT OR IGNORE INTO list_membership (list_id, contact_id, created_at) VALUES (?, ?, ?)", [(list_id, cid, now) for cid in ids])
        db.execute("COMMIT")
    elapsed = time.perf_counter() - started
    db.close()
    return batch_count * size / elapsed


async def over_http(port: int, key: str | None, documents: list[dict[str, Any]], poll: bool) -> float:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=120) as http:
        started = time.perf_counter()
        ids = []
        for document in documents:
            body = (await http.post("/graphql", content=document["body"], headers={"content-type": "application/json"})).json()
            assert "errors" not in body, body
            if poll:
                batch = body["data"]["upsertContacts"]["batch"]
                assert batch is not None, body
                ids.append(batch["id"])
        while poll:
            listing = (await http.post("/graphql", json={"query": "{ batches(first: 100, status: COMPLETED) { totalCount } }"})).json()
            if listing["data"]["batches"]["totalCount"] >= len(documents) + 1:  # + the seed batch
                break
            await asyncio.sleep(0.02)
        elapsed = time.perf_counter() - started
        if poll:
            query = "query B($id: ID!) { batch(id: $id) { created updated failed } }"
            done = [(await http.post("/graphql", json={"query": query, "variables": {"id": i}})).json()["data"]["batch"] for i in ids]
            _check(done, documents[0]["count"])
        return sum(d["count"] for d in documents) / elapsed


def setup_server(port: int, key: str, batch_count: int, size: int) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    mutation = "mutation F($i: PropertyFieldInput!) { createPropertyField(input: $i) { field { id } } }"
    for name in PROPS:
        kind = "NUMBER" if name == "score" else "TEXT"
        httpx.post(f"http://127.0.0.1:{port}/graphql", json={"query": mutation, "variables": {"i": {"name": name, "type": kind}}}, headers=headers)
    body = {"query": SUBMIT, "variables": {"input": {"contacts": seed(batch_count, size)}}}
    batch_id = httpx.post(f"http://127.0.0.1:{port}/graphql", json=body, headers=headers, timeout=120).json()["data"]["upsertContacts"]["batch"]["id"]
    while httpx.post(f"http://127.0.0.1:{port}/graphql", json={"query": "query B($id: ID!) { batch(id: $id) { status } }", "variables": {"id": batch_id}}, headers=headers).json()["data"]["batch"]["status"] != "COMPLETED":
        time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--database", nargs=3, metavar=("ENGINE_URL", "SERVER_URL", "SPLIT_URL"),
                        help="three empty PostgreSQL databases for (1), (3) and (3b); default: SQLite files")
    args = parser.parse_args()
    n, size = args.batches, args.size
    tune_gc()  # (1) runs the engine in this process: with the interpreter settings `contactql serve` uses
    documents = [
        {"count": size, "body": json.dumps({"query": SUBMIT, "variables": {"input": {"contacts": contacts(b, size), "match": {"rules": ["EMAIL"]}}}})}
        for b in range(n)
    ]
    with tempfile.TemporaryDirectory() as tmp:
        engine_db = Path(tmp) / "engine.db"
        floor_sqlite = sqlite_floor_fresh(engine_db, Path(tmp) / "floor.db", n, size)
        floor_one_insert = sqlite_floor(engine_db, Path(tmp) / "floor2.db", n, size, one_insert=True)
        engine = asyncio.run(engine_rate(args.database[0] if args.database else Path(tmp) / "engine2.db", n, size))

        port = free_port()
        env = {"CONTACTQL_MAX_BATCH_SIZE": "10000", "CONTACTQL_RATE_LIMIT": "10000000"}
        server_db = args.database[1] if args.database else f"sqlite:///{Path(tmp) / 'http.db'}"
        serve = serve_command(port, server_db)
        with process(serve, port=port, env=env, log=Path(tmp) / "serve.log") as server:
            key = server.stdout.readline().strip() if server.stdout else ""
            setup_server(port, key, n, size)
            end_to_end = asyncio.run(over_http(port, key, documents, poll=True))

        # (3b) The same, with the work split over two `contactql serve` processes on one
        # database: one answers the API with CONTACTQL_WORKERS=false, the other applies batches.
        port, worker_port = free_port(), free_port()
        split_db = args.database[2] if args.database else f"sqlite:///{Path(tmp) / 'split.db'}"
        api, worker = serve_command(port, split_db), serve_command(worker_port, split_db)
        with process(api, port=port, env={**env, "CONTACTQL_WORKERS": "false"}, log=Path(tmp) / "api.log") as server:
            key = server.stdout.readline().strip() if server.stdout else ""
            with process(worker, port=worker_port, env=env, log=Path(tmp) / "worker.log"):
                setup_server(port, key, n, size)
                split = asyncio.run(over_http(port, key, documents, poll=True))

        floor_port = free_port()
        floor = [PYTHON, "-m", "uvicorn", "benchmarks.floor_app:app", "--port", str(floor_port), "--log-level", "warning", "--no-access-log"]
        with process(floor, port=floor_port, env={"PYTHONPATH": str(Path(__file__).resolve().parent.parent)}):
            do_nothing = asyncio.run(over_http(floor_port, None, documents, poll=False))

    engine_name = "PostgreSQL" if args.database else "SQLite, synchronous=FULL"
    print(f"\nbatch upsert: {n} batches of {size} (half new, half matching by email; 5 properties, 1 list each); {engine_name}")
    rows = [
        ["1. engine, claim to COMPLETED", f"{engine:,.0f}", f"{engine / floor_sqlite:.0%} of (2), {engine / floor_one_insert:.0%} of (2b)", "≥ 50% of (2)"],
        ["2. bare sqlite3 executemany (physical floor)", f"{floor_sqlite:,.0f}", "", ""],
        ["2b. bare sqlite3, new contacts in one INSERT", f"{floor_one_insert:,.0f}", "", ""],
        ["3. end to end over HTTP, submit to COMPLETED", f"{end_to_end:,.0f}", f"{end_to_end / do_nothing:.2f}× (4)", "≥ 3× (4)"],
        ["3b. the same, API and worker in two processes", f"{split:,.0f}", f"{split / do_nothing:.2f}× (4)", "≥ 3× (4)"],
        ["4. do-nothing stock Strawberry, same documents", f"{do_nothing:,.0f}", "", ""],
    ]
    print(table(rows, ["figure", "contacts/s", "ratio", "target"]))


if __name__ == "__main__":
    main()
