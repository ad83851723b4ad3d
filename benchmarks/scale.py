"""Does an operation cost the same in a big workspace as in a small one? (issue 3: "every query
takes the caller's workspace", indexed look-ups, keyset pages)

    python benchmarks/scale.py [--sizes 2000 200000] [--repeat 30]

For each size, a fresh SQLite file (synchronous=FULL) migrated by ContactQL, filled with that
many contacts straight through sqlite3 — each with a normalised email and mobile, a property
value shared by a twentieth of them, every twentieth subscribed to SMS, every third in one of
20 lists and every seventh linked to one of 1 000 companies, so every page below is full at
every size but the one of a status no one has —
then the operations below through the real ASGI app in this process (httpx), one at a time.
Filling with sqlite3 keeps the set-up to seconds; every operation timed goes through ContactQL.
Prints the p50 of each operation at each size: a row that grows with the size reads the
workspace instead of an index.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sqlite3
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.loadgen import table  # noqa: E402
from contactql.app import create_app  # noqa: E402
from contactql.config import Settings  # noqa: E402
from contactql.resolvers.pagination import encode_cursor  # noqa: E402
from contactql.store.db.columns import value_hash  # noqa: E402
from contactql.store.model import Scope  # noqa: E402
from contactql.store.workspace.keys import new_key  # noqa: E402
from contactql.store.workspace.search import search_text  # noqa: E402

UPSERT = """mutation($input: UpsertContactInput!) { upsertContact(input: $input) {
  outcome contact { id email } userErrors { field code } } }"""
PAGE = """query($f: ContactFilter, $a: String) { contacts(first: 50, after: $a, filter: $f) {
  edges { cursor node { id email mobile properties { value } lists { id } companies { id } externalUrls { url } } } } }"""
SEARCH = """query($s: String) { contacts(first: 50, search: $s) { edges { cursor node { id email lastName } } } }"""
ORDERED = """query($o: [ContactOrder!]) { contacts(first: 50, orderBy: $o) { edges { cursor node { id email lastName } } } }"""
STATS = """{ contactStats { total byEmailStatus { status count } bySmsStatus { status count } byList { list { id } count } } }"""
LISTS, COMPANIES, CITIES = 20, 1_000, 20


SURNAMES = ("Berg", "Dahl", "Lie", "Haugen", "Hansen", "Johansen", "Olsen", "Larsen", "Andersen", "Nilsen")


def _person(i: int) -> dict[str, Any]:
    return {"email": f"kari.{i}@example.com", "mobile": f"+479{i:07d}", "first_name": "Kari", "last_name": f"{SURNAMES[i % 10]}{i:06d}", "external_id": None}


def created(i: int) -> str:
    """Contacts made a minute apart, the oldest first."""
    return (dt.datetime(2025, 1, 1) + dt.timedelta(minutes=i)).strftime("%Y-%m-%d %H:%M:%S.%f")


def fill(path: Path, workspace_id: int, field_id: str, score_id: str, size: int) -> None:
    """`size` contacts as ContactQL stores them, with property values, memberships and companies."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA foreign_keys=OFF")  # the rows below are consistent by construction
    db.execute("BEGIN")
    now = "2026-11-23 00:00:00.000000"
    db.executemany(
        "INSERT INTO contact_list (id, workspace_id, name, name_key, created_at) VALUES (?, ?, ?, ?, ?)",
        [(f"list-{n}", workspace_id, f"List {n}", f"list {n}", now) for n in range(LISTS)],
    )
    db.executemany(
        "INSERT INTO company (id, workspace_id, name, name_key, created_at) VALUES (?, ?, ?, ?, ?)",
        [(f"company-{n}", workspace_id, f"Company {n}", f"company {n}", now) for n in range(COMPANIES)],
    )
    db.executemany(
        "INSERT INTO contact (id, workspace_id, email, mobile, mobile_country_code, first_name, last_name, email_status,"
        " sms_status, confirmed, source, created_at, updated_at, search_text) VALUES (?, ?, ?, ?, 47, 'Kari', ?, 'SUBSCRIBED',"
        " ?, 1, 'API', ?, ?, ?)",
        ((i, workspace_id, row["email"], row["mobile"], row["last_name"], "NO_MARKETING" if i % 20 else "SUBSCRIBED", created(i), now, search_text(row))
         for i in range(1, size + 1) for row in [_person(i)]),
    )  # the search index (FTS5) is filled by its trigger
    db.executemany(
        "INSERT INTO property_value (contact_id, field_id, workspace_id, value, value_hash) VALUES (?, ?, ?, ?, ?)",
        ((i, field_id, workspace_id, f"City {i % CITIES}", value_hash(f"City {i % CITIES}")) for i in range(1, size + 1)),
    )
    db.executemany(  # a NUMBER property every contact has, in no relation to its id
        "INSERT INTO property_value (contact_id, field_id, workspace_id, value, value_hash) VALUES (?, ?, ?, ?, ?)",
        ((i, score_id, workspace_id, str(i * 7919 % 1000), value_hash(str(i * 7919 % 1000))) for i in range(1, size + 1)),
    )
    db.executemany(
        "INSERT INTO list_membership (list_id, contact_id, created_at) VALUES (?, ?, ?)",
        ((f"list-{i % LISTS}", i, now) for i in range(3, size + 1, 3)),
    )
    db.executemany(
        "INSERT INTO contact_company (contact_id, company_id) VALUES (?, ?)", ((i, f"company-{i % COMPANIES}") for i in range(7, size + 1, 7))
    )
    db.execute("COMMIT")
    db.close()


async def measure(size: int, repeat: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scale.db"
        # A bucket that never empties: what is measured is each operation, not the rate limit (which still runs).
        app = create_app(Settings(database_url=f"sqlite:///{path}", rate_limit_per_minute=100_000_000))
        async with app.router.lifespan_context(app):
            key = await app.state.services.db.write(new_key, workspace="default", scope=Scope.WRITE, name="scale")
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as http:

                async def gql(document: str, variables: dict[str, Any]) -> dict[str, Any]:
                    body = (await http.post("/graphql", json={"query": document, "variables": variables}, headers={"Authorization": f"Bearer {key}"})).json()
                    if "errors" in body:
                        raise SystemExit(f"{document[:40]}: {body['errors']}")
                    return body["data"]

                made = await gql('mutation { createPropertyField(input: {name: "city", type: TEXT}) { field { id } } }', {})
                field_id = made["createPropertyField"]["field"]["id"]
                made = await gql('mutation { createPropertyField(input: {name: "score", type: NUMBER}) { field { id } } }', {})
                score_id = made["createPropertyField"]["field"]["id"]
                workspace_id = sqlite3.connect(path).execute("SELECT workspace_id FROM property_field").fetchone()[0]
                fill(path, workspace_id, field_id, score_id, size)

                deep = encode_cursor(size - 200)
                operations: dict[str, Callable[[int], tuple[str, dict[str, Any]]]] = {
                    "upsert: a new contact with a property and a list": lambda n: (UPSERT, {"input": {"listId": "list-1", "contact": {
                        "email": f"new.{n}@example.com", "mobile": f"+4791{n:06d}", "firstName": "New",
                        "properties": [{"name": "city", "value": "Oslo"}]}}}),
                    "upsert: an existing contact by email": lambda n: (UPSERT, {"input": {"contact": {"email": f"kari.{n * 13 + 5}@example.com", "firstName": f"K{n}"}}}),
                    "upsert: by PROPERTIES (one match)": lambda n: (UPSERT, {"input": {"match": {"rules": ["PROPERTIES"], "properties": ["email"]},
                        "contact": {"email": f"kari.{n * 17 + 9}@example.com", "lastName": f"P{n}"}}}),
                    "contacts: the first page of 50": lambda n: (PAGE, {}),
                    "contacts: a page near the end": lambda n: (PAGE, {"a": deep}),
                    "contacts: a page of a list": lambda n: (PAGE, {"f": {"listId": f"list-{n % LISTS}"}}),
                    "contacts: a page by property value": lambda n: (PAGE, {"f": {"property": {"name": "city", "value": f"City {n % CITIES}"}}}),
                    "contacts: by email": lambda n: (PAGE, {"f": {"email": f"kari.{n * 7 + 3}@example.com"}}),
                    "contacts: a page by an email status no one has": lambda n: (PAGE, {"f": {"emailStatus": "BOUNCED"}}),
                    "contacts: a page by sms status, every 20th": lambda n: (PAGE, {"f": {"smsStatus": "SUBSCRIBED"}}),
                    "search: a name fragment": lambda n: (SEARCH, {"s": f"rg{n * 50 + 10:06d}"}),
                    "search: an email prefix": lambda n: (SEARCH, {"s": f"kari.{n * 61 + 7}@"}),
                    "search: phone digits": lambda n: (SEARCH, {"s": f"9 {n * 53 + 11:07d}"}),
                    "contacts: a page by LAST_NAME": lambda n: (ORDERED, {"o": [{"field": "LAST_NAME"}]}),
                    "contacts: a page by a NUMBER property": lambda n: (ORDERED, {"o": [{"field": "PROPERTY", "property": "score", "direction": "DESC"}]}),
                    "contacts: an or of two lists, a date range": lambda n: (PAGE, {"f": {"or": [{"listId": "list-1"}, {"listId": "list-2"}],
                        "createdAfter": "2025-01-01T12:00:00Z", "createdBefore": "2025-01-02T00:00:00Z"}}),
                    "contactStats": lambda n: (STATS, {}),
                }  # fmt: skip
                p50 = {}
                p50.update(await export_figures(app, path))
                for label, make in operations.items():
                    timings = []
                    for n in range(repeat):
                        document, variables = make(n)
                        started = time.perf_counter()
                        await gql(document, variables)
                        timings.append((time.perf_counter() - started) * 1000)
                    p50[label] = statistics.median(timings)
        return p50


async def export_figures(app: Any, path: Path) -> dict[str, float]:
    """The whole workspace to a CSV file, as `contactql export` and the export worker write it:
    rows a second, and the most memory it held (tracemalloc, a second run: it slows Python)."""
    from contactql.store.workspace.export_format import columns, header, read_page
    from contactql.store.workspace.filters import ContactQuery

    db = app.state.services.db
    workspace_id = sqlite3.connect(path).execute("SELECT workspace_id FROM property_field").fetchone()[0]
    cols = await db.read(columns, workspace_id=workspace_id, fields=None)

    async def write(out: Any) -> int:
        out.write(header(cols, "CSV"))
        rows, after = 0, None
        while True:
            data, count, after = await db.read(read_page, workspace_id=workspace_id, query=ContactQuery(), order=[], cols=cols, format="CSV", after=after)
            out.write(data)
            rows += count
            if after is None:
                return rows

    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        rows = await write(out)
        seconds = time.perf_counter() - started
    tracemalloc.start()
    with tempfile.TemporaryFile() as out:
        await write(out)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"export: rows a second (CSV to a file)": rows / seconds, "export: most memory held, MB": peak / 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2_000, 200_000])
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    results = {size: asyncio.run(measure(size, args.repeat)) for size in args.sizes}
    labels = list(results[args.sizes[0]])
    rows = [[label, *(f"{results[size][label]:.2f}" for size in args.sizes)] for label in labels]
    print("\np50 ms per operation (the export's rows a second and memory: once), in-process ASGI, SQLite synchronous=FULL")
    print(table(rows, ["operation", *(f"{size:,} contacts" for size in args.sizes)]))


if __name__ == "__main__":
    main()
