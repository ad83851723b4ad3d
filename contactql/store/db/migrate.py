"""Schema migrations with Alembic (contactql/store/db/migrations/).

`upgrade(conn)` brings a database to the newest revision inside the caller's write
transaction; `contactql serve` and every command that takes --database run it first. A
database already at the newest revision is told by its `alembic_version` row and the names of
the migration files, without importing Alembic (~0.3 s of every command's start, issue 23).
A database made before migrations existed (tables but no `alembic_version`) is first
stamped at the first revision, whose schema it has.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

if TYPE_CHECKING:
    from alembic.config import Config

FIRST_REVISION = "0001"
SCRIPTS = Path(__file__).with_name("migrations")


def config(conn: sa.Connection) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPTS))
    cfg.attributes["connection"] = conn
    return cfg


def current(conn: sa.Connection) -> str | None:
    """The database's revision, as Alembic's MigrationContext reads it (None before any)."""
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    found = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
    if len(found) > 1:  # several heads: Alembic says what is wrong
        from alembic.runtime.migration import MigrationContext

        return MigrationContext.configure(conn).get_current_revision()
    return found[0] if found else None


@functools.cache  # the migration scripts do not change while a process runs
def revisions() -> frozenset[str]:
    """Every revision this ContactQL knows. Each migration is named by its revision (0021_….py)
    and follows the one before; tests/test_migrations.py holds them to it and compares these
    with Alembic's."""
    return frozenset(path.name.partition("_")[0] for path in (SCRIPTS / "versions").glob("[0-9]*_*.py"))


def head() -> str:
    """The newest revision."""
    return max(revisions())


def upgrade(conn: sa.Connection, revision: str = "head") -> str | None:
    found = current(conn)
    if revision == "head" and found == head():
        return found  # up to date: every start of a server or command, and Alembic's run costs ~20 ms
    from alembic import command

    if found is None and sa.inspect(conn).has_table("contact"):
        command.stamp(config(conn), FIRST_REVISION)
    command.upgrade(config(conn), revision)
    return current(conn)
