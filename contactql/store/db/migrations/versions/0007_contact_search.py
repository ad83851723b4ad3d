"""Contacts found by any part of their names, email, mobile and externalId (`contacts(search:)`).

`contact.search_text` holds those fields folded (store/workspace/search.py); it is filled here
for the contacts already there, and by every write from now on. It is indexed for substrings:
on SQLite by an FTS5 table with the trigram tokenizer, external content (it stores no copy of
the text), kept in step by triggers in the writing transaction; on PostgreSQL by a GIN index of
pg_trgm, which answers `LIKE '%…%'`.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from contactql.store.workspace.search import search_text


revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHUNK = 5_000
SQLITE_INDEX = [
    "CREATE VIRTUAL TABLE contact_search USING fts5(search_text, content='contact', content_rowid='id', tokenize='trigram')",
    "INSERT INTO contact_search(contact_search) VALUES ('rebuild')",
    "CREATE TRIGGER contact_search_insert AFTER INSERT ON contact BEGIN"
    " INSERT INTO contact_search(rowid, search_text) VALUES (new.id, new.search_text); END",
    "CREATE TRIGGER contact_search_delete AFTER DELETE ON contact BEGIN"
    " INSERT INTO contact_search(contact_search, rowid, search_text) VALUES ('delete', old.id, old.search_text); END",
    "CREATE TRIGGER contact_search_update AFTER UPDATE OF search_text ON contact BEGIN"
    " INSERT INTO contact_search(contact_search, rowid, search_text) VALUES ('delete', old.id, old.search_text);"
    " INSERT INTO contact_search(rowid, search_text) VALUES (new.id, new.search_text); END",
]
SQLITE_DROP = [
    "DROP TRIGGER contact_search_update",
    "DROP TRIGGER contact_search_delete",
    "DROP TRIGGER contact_search_insert",
    "DROP TABLE contact_search",
]


def upgrade() -> None:
    with op.batch_alter_table('contact') as table:
        table.add_column(sa.Column('search_text', sa.Text(), nullable=True))
    _fill(op.get_bind())
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_INDEX:
            op.execute(statement)
    else:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute("CREATE INDEX ix_contact_search ON contact USING gin (search_text gin_trgm_ops)")


def _fill(conn: sa.Connection) -> None:
    contact = sa.table("contact", *(sa.column(n) for n in ("id", "first_name", "last_name", "email", "mobile", "external_id", "search_text")))
    last = 0
    while True:
        rows = conn.execute(sa.select(contact).where(contact.c.id > last).order_by(contact.c.id).limit(CHUNK)).mappings().all()
        if not rows:
            return
        conn.execute(
            sa.update(contact).where(contact.c.id == sa.bindparam("row_id")).values(search_text=sa.bindparam("text")),
            [{"row_id": r["id"], "text": search_text(dict(r))} for r in rows],
        )
        last = rows[-1]["id"]


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_DROP:
            op.execute(statement)
    else:
        op.execute("DROP INDEX ix_contact_search")
    with op.batch_alter_table('contact') as table:
        table.drop_column('search_text')
