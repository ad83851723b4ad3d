"""Alembic migrations: a database made by the first migration upgrades with its data intact;
the migrations and the code's tables never drift; the CLI shows and applies revisions."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from contactql.config import Settings
from contactql.store.batches.queue import validate_entries
from contactql.store.db import migrate
from contactql.store.db.columns import value_hash
from contactql.store.db.database import Database
from contactql.store.db.tables import compared, metadata
from contactql.store.model import Source, UpsertOptions
from contactql.workers.batches import BatchWorker, ProgressHub
from tests.helpers import POSTGRES, pg_admin, pg_url, query, serve


def fresh_empty_database(tmp_path: Any) -> str:
    """An empty database (no tables), unlike `database_url`'s, which is migrated on PostgreSQL."""
    if POSTGRES is None:
        return f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    name = f"e_{tmp_path.name[-12:].lower().replace('-', '_')}"
    asyncio.run(pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", f"CREATE DATABASE {name}"))
    return pg_url(name)


def run_in(url: str, fn: Any, **kwargs: Any) -> Any:
    async def go() -> Any:
        db = Database(Settings(database_url=url))
        try:
            return await db.write(fn, **kwargs)
        finally:
            await db.dispose()

    return asyncio.run(go())


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "contactql.cli", *args], capture_output=True, text=True, timeout=120, check=False)


def _seed_at_first_revision(conn: sa.Connection) -> None:
    """Rows as the first revision's schema holds them (raw SQL: the code may have moved on)."""
    now = "2026-01-01 00:00:00"
    conn.execute(sa.text(f"INSERT INTO workspace (id, name, webhook_secret, created_at) VALUES (1, 'default', 'whsec_x', '{now}')"))
    conn.execute(sa.text(
        "INSERT INTO contact (id, workspace_id, email, first_name, email_status, sms_status, confirmed, source, created_at, updated_at) "
        f"VALUES (7, 1, 'kept@example.com', 'Kept', 'SUBSCRIBED', 'NO_MARKETING', true, 'API', '{now}', '{now}')"
    ))  # fmt: skip
    conn.execute(sa.text(
        "INSERT INTO batch (id, workspace_id, status, source, total, processed, created, updated, unchanged, skipped, failed, options, created_at) "
        f"VALUES ('b-1', 1, 'COMPLETED', 'BATCH', 1, 1, 1, 0, 0, 0, 0, '{{}}', '{now}')"
    ))  # fmt: skip
    conn.execute(sa.text("INSERT INTO batch_result (batch_id, \"index\", outcome, result) VALUES ('b-1', 0, 'CREATED', '{}')"))
    conn.execute(sa.text(f"INSERT INTO property_field (id, workspace_id, name, name_key, type, created_at) VALUES ('f-city', 1, 'city', 'city', 'TEXT', '{now}')"))
    conn.execute(sa.text("INSERT INTO property_value (contact_id, field_id, workspace_id, value) VALUES (7, 'f-city', 1, 'Oslo')"))


@pytest.mark.system
def test_a_database_of_the_first_revision_upgrades_with_its_data(tmp_path: Any) -> None:
    url = fresh_empty_database(tmp_path)
    assert run_in(url, migrate.upgrade, revision=migrate.FIRST_REVISION) == "0001"
    run_in(url, _seed_at_first_revision)
    upgraded = cli("db", "upgrade", "--database", url)
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"revision {migrate.head()}" in upgraded.stdout
    assert cli("db", "current", "--database", url).stdout.strip() == migrate.head()
    assert query(url, "SELECT id, email, first_name FROM contact") == [(7, "kept@example.com", "Kept")]
    assert query(url, "SELECT count(*) FROM batch_result") == [(1,)]
    indexes = run_in(url, lambda conn: {i["name"] for i in sa.inspect(conn).get_indexes("batch_result")})
    assert "ix_batch_result_outcome" in indexes
    # 0003: existing property values got the digest PROPERTIES matching looks them up by.
    assert query(url, "SELECT value, value_hash FROM property_value") == [("Oslo", value_hash("Oslo"))]
    if POSTGRES is None:  # SQLite rebuilt the table: its foreign keys must still cascade
        keys = query(url, "SELECT \"table\", on_delete FROM pragma_foreign_key_list('property_value')")
        assert sorted(keys) == [("contact", "CASCADE"), ("property_field", "CASCADE"), ("workspace", "CASCADE")]
    with serve(url) as (base, _, _):
        key = cli("keys", "create", "--database", url).stdout.strip().splitlines()[-1]
        document = 'mutation { upsertContact(input: {contact: {properties: [{name: "city", value: "Oslo"}], firstName: "Found"}, match: {rules: [PROPERTIES], properties: ["city"]}}) { outcome contact { id } } }'
        body = httpx.post(f"{base}/graphql", json={"query": document}, headers={"Authorization": f"Bearer {key}"}).json()
        # 0007: a contact from before search is found by it
        search = '{ a: contacts(search: "KEPT@EXAMPLE") { edges { node { id } } } b: contacts(search: "found") { edges { node { id } } } }'
        found = httpx.post(f"{base}/graphql", json={"query": search}, headers={"Authorization": f"Bearer {key}"}).json()
    assert body["data"] == {"upsertContact": {"outcome": "UPDATED", "contact": {"id": "7"}}}
    assert found["data"] == {"a": {"edges": [{"node": {"id": "7"}}]}, "b": {"edges": [{"node": {"id": "7"}}]}}


@pytest.mark.system
def test_serve_migrates_an_empty_database_and_reads_old_rows(tmp_path: Any) -> None:
    url = fresh_empty_database(tmp_path)
    assert cli("db", "current", "--database", url).stdout.startswith("none")
    with serve(url) as (base, key, _):
        assert key is not None
        import httpx

        body = httpx.post(f"{base}/graphql", json={"query": "{ contacts { totalCount } }"}, headers={"Authorization": f"Bearer {key}"}).json()
        assert body["data"] == {"contacts": {"totalCount": 0}}
    assert cli("db", "current", "--database", url).stdout.strip() == migrate.head()


def test_a_database_made_before_migrations_is_adopted(tmp_path: Any) -> None:
    url = fresh_empty_database(tmp_path)
    run_in(url, migrate.upgrade, revision=migrate.FIRST_REVISION)
    run_in(url, lambda conn: conn.execute(sa.text("DROP TABLE alembic_version")))  # as create_all left them
    assert run_in(url, migrate.upgrade) == migrate.head()


@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based index")
def test_the_migrations_build_exactly_the_codes_tables(tmp_path: Any) -> None:
    url = fresh_empty_database(tmp_path)
    run_in(url, migrate.upgrade)
    diff = run_in(url, lambda conn: compare_metadata(MigrationContext.configure(conn, opts={"include_name": compared}), metadata))
    assert diff == [], "a table changed without a migration: alembic revision --autogenerate"
    if POSTGRES is None:  # the search index, outside the metadata
        assert query(url, "SELECT sql FROM sqlite_master WHERE name = 'contact_search'")[0][0].endswith("tokenize='trigram')")
    else:
        assert "gin_trgm_ops" in query(url, "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_contact_search'")[0][0]
    # SQLite cannot reflect the identity expression index, so compare_metadata skips it there
    expected = "ON contact (workspace_id, coalesce(email, ''), coalesce(mobile, '')) WHERE email IS NOT NULL OR mobile IS NOT NULL"
    if POSTGRES is None:
        assert query(url, "SELECT sql FROM sqlite_master WHERE name = 'uq_contact_identity'")[0][0].endswith(expected)


def _queue_at_0020(conn: sa.Connection) -> None:
    """A QUEUED batch as revision 0020 stored it: its items in one batch_payload document."""
    now = "2026-12-01 00:00:00"
    conn.execute(sa.text(f"INSERT INTO workspace (id, name, webhook_secret, created_at) VALUES (1, 'default', 'whsec_x', '{now}')"))
    options = json.dumps(UpsertOptions(source=Source.BATCH, batch_id="b-q").to_json())
    conn.execute(sa.text(
        "INSERT INTO batch (id, workspace_id, status, source, total, processed, created, updated, unchanged, skipped, failed, options, created_at) "
        f"VALUES ('b-q', 1, 'QUEUED', 'BATCH', 2, 0, 0, 0, 0, 0, 0, :options, '{now}')"
    ), {"options": options})  # fmt: skip
    items = json.dumps(validate_entries([{"email": "one@example.com"}, {"email": "two@example.com"}]))
    conn.execute(sa.text("INSERT INTO batch_payload (batch_id, items) VALUES ('b-q', :items)"), {"items": items})


def test_a_queued_batch_keeps_its_items_across_0021_both_ways(tmp_path: Any) -> None:
    url = fresh_empty_database(tmp_path)
    run_in(url, migrate.upgrade, revision="0020")
    run_in(url, _queue_at_0020)
    run_in(url, migrate.upgrade)
    assert query(url, "SELECT batch_id, first, stop FROM batch_part") == [("b-q", 0, 2)]
    run_in(url, lambda conn: command.downgrade(migrate.config(conn), "0020"))
    [(items,)] = query(url, "SELECT items FROM batch_payload")
    assert [e["item"]["values"]["email"] for e in json.loads(items)] == ["one@example.com", "two@example.com"]
    run_in(url, migrate.upgrade)

    async def apply() -> None:
        db = Database(Settings(database_url=url))
        try:
            await BatchWorker(db, db.settings, ProgressHub(), on_finished=lambda: None).drain()
        finally:
            await db.dispose()

    asyncio.run(apply())
    assert query(url, "SELECT status, created FROM batch") == [("COMPLETED", 2)]
    assert sorted(query(url, "SELECT email FROM contact")) == [("one@example.com",), ("two@example.com",)]


def test_the_revisions_are_read_without_alembic_as_alembic_reads_them(tmp_path: Any) -> None:
    """migrate.head() takes the newest revision from the files' names (importing Alembic is
    ~0.3 s of every command's start): each file is named by its revision and follows the one
    before, and the result is Alembic's head."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(migrate.SCRIPTS))
    scripts = list(reversed(list(ScriptDirectory.from_config(config).walk_revisions())))
    assert [script.revision for script in scripts] == [f"{n:04d}" for n in range(1, len(scripts) + 1)]
    assert all(script.path.rpartition("/")[2].startswith(f"{script.revision}_") for script in scripts)
    assert [script.down_revision for script in scripts] == [None, *(script.revision for script in scripts[:-1])]
    assert migrate.head() == ScriptDirectory.from_config(config).get_current_head() == scripts[-1].revision
    assert migrate.revisions() == {script.revision for script in scripts}

    url = fresh_empty_database(tmp_path)
    assert run_in(url, migrate.upgrade) == migrate.head()
    assert run_in(url, lambda conn: MigrationContext.configure(conn).get_current_revision()) == run_in(url, migrate.current) == migrate.head()
    # A command on a database at the newest revision does not import Alembic at all.
    script = f"import asyncio, sys; from contactql.cli import main; sys.argv = ['contactql', 'db', 'current', '--database', {url!r}]; main(); print('alembic' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [migrate.head(), "False"]
