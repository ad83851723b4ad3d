"""A batch's chunk writes each table's rows in one statement (store/db/bulk.py), not a statement
a row: on SQLite every statement that writes `contact` costs the search index's trigger a fixed
~30–70 µs. What is written is the same — every value, membership and search entry, past the
parameters one SQLite statement takes — through HTTP, both engines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from contactql.config import Settings
from contactql.store.db import bulk
from contactql.store.db.tables import CONTACT_COLUMNS
from tests.conftest import count_statements, running
from tests.helpers import POSTGRES, query
from tests.test_batches import submit
from tests.test_search import found

FIELDS = [f"p{n}" for n in range(8)]
SIZE = 500  # CONTACTQL_BATCH_CHUNK_SIZE's default: the batch is one chunk


def _writes(seen: list[tuple[str, Any]], table: str, verb: str = "INSERT INTO") -> list[Any]:
    return [params for statement, params in seen if statement.lstrip().startswith(f"{verb} {table} ")]


async def test_a_chunk_writes_a_table_in_a_statement_and_every_row_of_it(settings: Settings) -> None:
    async with running(settings, workers=False) as (app, api):
        for name in FIELDS:
            await api.property_field(name)
        contacts = [
            {"email": f"row{i}@example.com", "firstName": f"Før{i}", "lists": {"add": [{"name": "Rows"}]},
             "properties": [{"name": n, "value": f"{n}-{i}"} for n in FIELDS]}
            for i in range(SIZE)
        ]  # fmt: skip
        assert (await submit(api, contacts))["userErrors"] == []
        with count_statements(app, with_params=True) as seen:
            await app.state.batch_worker.drain()

        inserts, values = _writes(seen, "contact"), _writes(seen, "property_value")
        if POSTGRES is None:
            # 500 contacts in one statement; 4 000 values of 5 parameters are more than one
            # statement takes (16 384), so two.
            assert [len(p) for p in inserts] == [SIZE * len(CONTACT_COLUMNS)]
            assert sum(len(p) for p in values) == SIZE * len(FIELDS) * 5 and len(values) == 2
            assert all(len(p) <= bulk._PARAMETERS for p in values)
        else:  # an array a column
            assert len(inserts) == 1 and len(values) == 1
        assert query(settings.database_url, "SELECT count(*) FROM contact") == [(SIZE,)]
        stored = query(settings.database_url, "SELECT c.email, f.name, v.value FROM property_value v JOIN contact c ON c.id = v.contact_id "
                                              "JOIN property_field f ON f.id = v.field_id")  # fmt: skip
        assert sorted(stored) == sorted((f"row{i}@example.com", n, f"{n}-{i}") for i in range(SIZE) for n in FIELDS)
        assert query(settings.database_url, "SELECT count(*) FROM list_membership") == [(SIZE,)]
        assert await found(api, "før499") == ["row499@example.com"]

        # The same contacts renamed, and one value each changed: one UPDATE of the 500, and the
        # search index follows it (the old names are found no more).
        renamed = [{"email": f"row{i}@example.com", "firstName": f"Ny{i}", "properties": [{"name": "p0", "value": f"new-{i}"}]} for i in range(SIZE)]
        assert (await submit(api, renamed))["userErrors"] == []
        with count_statements(app, with_params=True) as seen:
            await app.state.batch_worker.drain()
        updates = _writes(seen, "contact", "UPDATE")
        assert len(updates) == 1
        if POSTGRES is None:
            assert len(updates[0]) == SIZE * 4  # id, first_name, updated_at, search_text
        assert await found(api, "ny137") == ["row137@example.com"]
        assert await found(api, "før137") == []
        assert query(settings.database_url, "SELECT count(*) FROM property_value WHERE value LIKE 'new-%'") == [(SIZE,)]
        if POSTGRES is None:  # the FTS5 index holds what the rows hold
            assert query(settings.database_url, "INSERT INTO contact_search(contact_search) VALUES ('integrity-check')") == []


async def test_a_sqlite_built_to_allow_fewer_parameters_gets_smaller_statements(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # SQLite's SQLITE_MAX_VARIABLE_NUMBER is a build option: a library built to allow 64 (the
    # setting this test is about; runs on SQLite whichever engine the suite is pointed at).
    monkeypatch.setattr(bulk, "_sqlite_parameters", lambda: 64)
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'few.db'}")
    async with running(settings, workers=False) as (app, api):
        for name in FIELDS[:3]:
            await api.property_field(name)
        contacts = [{"email": f"few{i}@example.com", "properties": [{"name": n, "value": f"{n}/{i}"} for n in FIELDS[:3]]} for i in range(40)]
        assert (await submit(api, contacts))["userErrors"] == []
        with count_statements(app, with_params=True) as seen:
            await app.state.batch_worker.drain()
        inserts, values = _writes(seen, "contact"), _writes(seen, "property_value")
        assert all(len(p) <= 64 for p in inserts + values)
        assert sum(len(p) for p in inserts) == 40 * len(CONTACT_COLUMNS) and len(inserts) == 20  # 2 contacts of 22 columns a statement
        stored = query(settings.database_url, "SELECT c.email, v.value FROM property_value v JOIN contact c ON c.id = v.contact_id")
        assert sorted(stored) == sorted((f"few{i}@example.com", f"{n}/{i}") for i in range(40) for n in FIELDS[:3])
