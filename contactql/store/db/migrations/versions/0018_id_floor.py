"""Ids are never given twice (issue 22), and an erasure remembers what it suppressed.

SQLite gives a new row the largest id so far plus one, so deleting the newest contact (an
erasure, a merge, retention) freed its id for the next contact: a batch item or an idempotent
replay naming the erased contact's id then wrote to a stranger, and an erasure record pointed to
a live person; a change-feed or events cursor at a deleted history entry or event skipped the
next ones. On SQLite `id_floor` keeps the largest id ever deleted from `contact`,
`contact_history` and `event` (triggers, per row, cascades included); contact ids are allocated
above it (db/dialect.py: allocate_ids) and a history entry or event inserted at or below it is
moved above it. PostgreSQL's sequences never go back.

`erasure.suppressed`: the kinds of identity an erasure put on the suppression list.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 20:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0018'
down_revision: str | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, its integer key)
FLOORED = (("contact", "id"), ("contact_history", "id"), ("event", "seq"))
MOVED = (("contact_history", "id"), ("event", "seq"))  # inserted with SQLite's own ids


def _floor(table: str) -> str:
    return f"(SELECT last_id FROM id_floor WHERE name = '{table}')"


SQLITE = [
    "CREATE TABLE id_floor (name VARCHAR(40) NOT NULL PRIMARY KEY, last_id INTEGER NOT NULL)",
    *(
        f"CREATE TRIGGER {table}_id_floor AFTER DELETE ON {table} BEGIN"
        f" INSERT INTO id_floor (name, last_id) VALUES ('{table}', old.{key})"
        f" ON CONFLICT (name) DO UPDATE SET last_id = max(last_id, excluded.last_id); END"
        for table, key in FLOORED
    ),
    *(
        f"CREATE TRIGGER {table}_above_floor AFTER INSERT ON {table} WHEN new.{key} <= {_floor(table)} BEGIN"
        f" UPDATE {table} SET {key} = {_floor(table)} + 1 WHERE {key} = new.{key}; END"
        for table, key in MOVED
    ),
]


def upgrade() -> None:
    with op.batch_alter_table('erasure') as erasure:
        erasure.add_column(sa.Column('suppressed', sa.String(length=40), nullable=True))
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table, _ in MOVED:
            op.execute(f"DROP TRIGGER {table}_above_floor")
        for table, _ in FLOORED:
            op.execute(f"DROP TRIGGER {table}_id_floor")
        op.execute("DROP TABLE id_floor")
    with op.batch_alter_table('erasure') as erasure:
        erasure.drop_column('suppressed')
