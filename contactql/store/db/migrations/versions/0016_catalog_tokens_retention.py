"""A version of each workspace's catalog (its lists and property fields), raised by every
rename or delete of one: each process's cache of them (store/upsert/cache.py) reloads when it
sees a version it did not load. And the address each confirmation token was sent to: it
confirms that address only (a token made before has none, and confirms as before). And an
index of deleted contacts by deletion time, for CONTACTQL_RETENTION_DAYS's purge (live contacts
are not in it).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('workspace') as table:
        table.add_column(sa.Column('catalog_version', sa.Integer(), nullable=False, server_default='0'))
    with op.batch_alter_table('confirmation_token') as table:
        table.add_column(sa.Column('email', sa.String(length=255), nullable=True))
    deleted = sa.text('deleted_at IS NOT NULL')
    op.create_index('ix_contact_deleted', 'contact', ['deleted_at'], sqlite_where=deleted, postgresql_where=deleted)


def downgrade() -> None:
    op.drop_index('ix_contact_deleted', table_name='contact')
    with op.batch_alter_table('confirmation_token') as table:
        table.drop_column('email')
    with op.batch_alter_table('workspace') as table:
        table.drop_column('catalog_version')
