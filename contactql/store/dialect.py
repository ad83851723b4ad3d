"""The one place SQLite and PostgreSQL differ: which dialect `insert` offers ON CONFLICT."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite


def insert(conn: Any, table: sa.Table) -> Any:
    """`INSERT` with `on_conflict_do_update`/`on_conflict_do_nothing` for `conn`'s dialect."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
