"""PostgreSQL: COPY into a staging table against the arrays ContactQL sends (issue 23's direction).

    python benchmarks/pg_copy.py --database postgresql://USER@HOST:PORT/EMPTY_DATABASE [--contacts 20000] [--rounds 3]

On ContactQL's schema (migrated, and seeded by batch_upsert.py's engine figure), overwrites
the 4 text property values of `--contacts` contacts in chunks of 500 contacts (2 000 rows), one
committed transaction a chunk (fsync on), three ways, interleaved per round:

1. **arrays** — what ContactQL sends (store/db/bulk.py): one `INSERT … SELECT FROM unnest($1::…[],
   …) ON CONFLICT (contact_id, field_id) DO UPDATE`, every column one array parameter;
2. **COPY + INSERT** — the rows copied into a temporary staging table (`ON COMMIT DELETE ROWS`),
   then `INSERT … SELECT FROM stage ON CONFLICT … DO UPDATE`: the usual COPY path for upserts,
   since COPY itself cannot resolve a conflict;
3. **floor** — the same rows COPYed into the staging table alone: the transfer with no index or
   conflict work, what any path pays at least.

Prints rows/s per way with the ratio to the floor measured in the same round.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
from sqlalchemy.dialects.postgresql import asyncpg as pg_dialect

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.batch_upsert import engine_rate  # noqa: E402
from benchmarks.loadgen import table  # noqa: E402
from contactql.store.db.columns import value_hash  # noqa: E402
from contactql.store.upsert.flush import _UPSERT_PROPS  # noqa: E402

CHUNK = 500  # contacts a transaction, as CONTACTQL_BATCH_CHUNK_SIZE
Rows = list[tuple[int, str, int, str, int]]
Way = Callable[[asyncpg.Connection, Rows], Awaitable[None]]

STAGE = "CREATE TEMPORARY TABLE stage (LIKE property_value) ON COMMIT DELETE ROWS"
FROM_STAGE = (
    "INSERT INTO property_value (contact_id, field_id, workspace_id, value, value_hash) "
    "SELECT contact_id, field_id, workspace_id, value, value_hash FROM stage "
    "ON CONFLICT (contact_id, field_id) DO UPDATE SET value = EXCLUDED.value, value_hash = EXCLUDED.value_hash"
)
COLUMNS = ["contact_id", "field_id", "workspace_id", "value", "value_hash"]


def arrays_sql() -> str:
    """The statement ContactQL itself sends for property values on PostgreSQL."""
    plan = _UPSERT_PROPS._plan(pg_dialect.dialect())
    assert list(plan.keys) == COLUMNS, plan.keys  # noqa: S101 - the rows below are built in this order
    return plan.sql


async def by_arrays(conn: asyncpg.Connection, rows: Rows, sql: str = "") -> None:
    async with conn.transaction():
        await conn.execute(sql, *[list(column) for column in zip(*rows, strict=True)])


async def by_copy(conn: asyncpg.Connection, rows: Rows) -> None:
    async with conn.transaction():
        await conn.copy_records_to_table("stage", records=rows, columns=COLUMNS)
        await conn.execute(FROM_STAGE)


async def floor(conn: asyncpg.Connection, rows: Rows) -> None:
    async with conn.transaction():
        await conn.copy_records_to_table("stage", records=rows, columns=COLUMNS)


async def measure(url: str, contacts: int, rounds: int) -> list[list[str]]:
    await engine_rate(url.replace("postgresql://", "postgresql+asyncpg://"), max(1, contacts // 1000), 1000)
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(STAGE)
        ids = [r[0] for r in await conn.fetch("SELECT id FROM contact ORDER BY id LIMIT $1", contacts)]
        fields = [r[0] for r in await conn.fetch("SELECT id FROM property_field WHERE name <> 'score' ORDER BY name")]
        workspace = await conn.fetchval("SELECT min(id) FROM workspace")
        sql = arrays_sql()
        ways: dict[str, Way] = {
            "1. arrays (ContactQL's statement)": lambda c, rows: by_arrays(c, rows, sql),
            "2. COPY into staging + INSERT … ON CONFLICT": by_copy,
            "3. COPY into staging alone (floor)": floor,
        }
        rates: dict[str, list[float]] = {name: [] for name in ways}
        for round_ in range(rounds):
            for name, way in ways.items():
                started = time.perf_counter()
                for first in range(0, len(ids), CHUNK):
                    rows = [
                        (contact, field, workspace, value, value_hash(value))
                        for contact in ids[first : first + CHUNK]
                        for field in fields
                        for value in (f"{name[:1]}-{round_}-{contact % 97}-{field[:4]}",)
                    ]
                    await way(conn, rows)
                rates[name].append(len(ids) * len(fields) / (time.perf_counter() - started))
    finally:
        await conn.close()
    floor_rate = statistics.mean(rates["3. COPY into staging alone (floor)"])
    return [
        [name, f"{statistics.mean(r):,.0f}", " ".join(f"{x:,.0f}" for x in r), f"{statistics.mean(r) / floor_rate:.2f}"]
        for name, r in rates.items()
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", required=True, help="an empty PostgreSQL database (postgresql://…)")
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    rows = asyncio.run(measure(args.database, args.contacts, args.rounds))
    print(f"\nproperty values overwritten, {args.contacts} contacts × 4 text fields, chunks of {CHUNK} contacts, PostgreSQL")
    print(table(rows, ["way", "rows/s (mean)", "by round", "ratio to floor"]))


if __name__ == "__main__":
    main()
