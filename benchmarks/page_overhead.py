"""What a page of 50 contacts with their relations costs beyond GraphQL itself (issue 19).

    python benchmarks/page_overhead.py [--contacts 2000] [--repeat 200]

Two apps answer the same document — the first 50 contacts with id, email, mobile, names, their
property values, lists, companies and external URLs — through the same in-process ASGI
transport (httpx), one request at a time:

- ContactQL on a SQLite file filled with `--contacts` contacts, each with a property value, a
  third in a list and a seventh linked to a company (benchmarks/scale.py fills it);
- the floor: a stock Strawberry app (no extensions, no auth) with types of the same shape whose
  resolvers return that same page, read once from ContactQL beforehand and held in memory.

Prints the p50 of each and the ratio to the floor: what ContactQL adds per page (auth, limits,
cost, the store's reads, DataLoaders, its types) on top of resolving the same ~1 000 fields.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import strawberry
from strawberry.asgi import GraphQL

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.loadgen import table  # noqa: E402
from benchmarks.scale import fill  # noqa: E402
from contactql.app import create_app  # noqa: E402
from contactql.config import Settings  # noqa: E402
from contactql.store.model import Scope  # noqa: E402
from contactql.store.workspace.keys import new_key  # noqa: E402

PAGE = """{ contacts(first: 50) { edges { cursor node { id email mobile firstName lastName
  properties { field { name } value } lists { id name } companies { id name } externalUrls { ref url } } } } }"""


@strawberry.type
class Named:
    id: strawberry.ID
    name: str


@strawberry.type
class FieldRef:
    name: str


@strawberry.type
class Value:
    field: FieldRef
    value: str | None


@strawberry.type
class Url:
    ref: str
    url: str


@strawberry.type
class Node:
    id: strawberry.ID
    email: str | None
    mobile: str | None
    first_name: str | None
    last_name: str | None
    properties: list[Value]
    lists: list[Named]
    companies: list[Named]
    external_urls: list[Url]


@strawberry.type
class Edge:
    cursor: str
    node: Node


@strawberry.type
class Connection:
    edges: list[Edge]


def floor_app(page: dict[str, Any]) -> GraphQL[Any, Any]:
    edges = [
        Edge(
            cursor=e["cursor"],
            node=Node(
                id=strawberry.ID(n["id"]), email=n["email"], mobile=n["mobile"], first_name=n["firstName"], last_name=n["lastName"],
                properties=[Value(field=FieldRef(name=p["field"]["name"]), value=p["value"]) for p in n["properties"]],
                lists=[Named(id=strawberry.ID(x["id"]), name=x["name"]) for x in n["lists"]],
                companies=[Named(id=strawberry.ID(x["id"]), name=x["name"]) for x in n["companies"]],
                external_urls=[Url(ref=u["ref"], url=u["url"]) for u in n["externalUrls"]],
            ),
        )
        for e in page["contacts"]["edges"]
        for n in [e["node"]]
    ]  # fmt: skip

    @strawberry.type
    class Query:
        @strawberry.field
        def contacts(self, first: int = 50) -> Connection:
            return Connection(edges=edges[:first])

    return GraphQL(strawberry.Schema(query=Query))


async def p50(http: httpx.AsyncClient, headers: dict[str, str], repeat: int) -> float:
    timings = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = await http.post("/graphql", json={"query": PAGE}, headers=headers)
        timings.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200 and "errors" not in response.json(), response.text[:300]
    return statistics.median(timings)


async def measure(contacts: int, repeat: int) -> list[list[str]]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "page.db"
        # A bucket that never empties: what is measured is a page, not the rate limit (which still runs).
        app = create_app(Settings(database_url=f"sqlite:///{path}", rate_limit_per_minute=100_000_000))
        async with app.router.lifespan_context(app):
            key = await app.state.services.db.write(new_key, workspace="default", scope=Scope.READ, name="page")
            headers = {"Authorization": f"Bearer {key}"}
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as http:
                for name, kind in (("city", "TEXT"), ("score", "NUMBER")):
                    await app.state.services.db.write(_field, name=name, kind=kind)
                workspace_id, city, score = _ids(path)
                fill(path, workspace_id, city, score, contacts)
                page = (await http.post("/graphql", json={"query": PAGE}, headers=headers)).json()["data"]
                await p50(http, headers, 20)  # warm: caches, DataLoaders' code paths
                ours = await p50(http, headers, repeat)
            floor = floor_app(page)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=floor), base_url="http://floor") as http:
                await p50(http, {}, 20)
                bare = await p50(http, {}, repeat)
    return [["stock Strawberry, the same page in memory (the floor)", f"{bare:.2f}", "1.00"], ["ContactQL", f"{ours:.2f}", f"{ours / bare:.2f}"]]


def _field(conn: Any, *, name: str, kind: str) -> None:
    from contactql.store.model import PropertyType
    from contactql.store.workspace.keys import ensure_workspace
    from contactql.store.workspace.properties import create_field

    create_field(conn, workspace_id=ensure_workspace(conn, name="default").id, name=name, type=PropertyType(kind), options=None)


def _ids(path: Path) -> tuple[int, str, str]:
    db = sqlite3.connect(path)
    rows = dict(db.execute("SELECT name, id FROM property_field").fetchall())
    workspace_id = db.execute("SELECT workspace_id FROM property_field").fetchone()[0]
    return workspace_id, rows["city"], rows["score"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    rows = asyncio.run(measure(args.contacts, args.repeat))
    print(f"\np50 ms of the first page of 50 contacts with their relations, in-process ASGI, {args.contacts:,} contacts")
    print(table(rows, ["app", "p50 ms", "× floor"]))


if __name__ == "__main__":
    main()
