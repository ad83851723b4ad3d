"""Schema migrations with Alembic (contactql/store/db/migrations/).

`upgrade(conn)` brings a database to the newest revision inside the caller's write
transaction; `contactql serve` and every command that takes --database run it first.
A database made before migrations existed (tables but no `alembic_version`) is first
stamped at the first revision, whose schema it has.
"""

from __future__ import annotations

import functools
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

FIRST_REVISION = "0001"


def config(conn: sa.Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
    cfg.attributes["connection"] = conn
    return cfg


def current(conn: sa.Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


@functools.cache  # the migration scripts do not change while a process runs
def head() -> str:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
    return str(ScriptDirectory.from_config(cfg).get_current_head())


def upgrade(conn: sa.Connection, revision: str = "head") -> str | None:
    found = current(conn)
    if revision == "head" and found == head():
        return found  # up to date: every start of a server or command, and Alembic's run costs ~20 ms
    if found is None and sa.inspect(conn).has_table("contact"):
        command.stamp(config(conn), FIRST_REVISION)
    command.upgrade(config(conn), revision)
    return current(conn)
