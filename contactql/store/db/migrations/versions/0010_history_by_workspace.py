"""A workspace's history in id order: the change feed of `contactsChanged` reads it from an index.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 11:00:00
"""

from collections.abc import Sequence

from alembic import op


revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_history_workspace', 'contact_history', ['workspace_id', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_history_workspace', table_name='contact_history')
