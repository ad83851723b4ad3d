"""Automatic persisted queries shared by every server process: a hash one process learned is
found by the others (contactql/persisted.py).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 23:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('persisted_query',
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('document', sa.Text(), nullable=False),
    sa.Column('stored_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('workspace_id', 'sha256')
    )  # fmt: skip
    with op.batch_alter_table('persisted_query') as table:
        table.create_index('ix_persisted_query_age', ['workspace_id', 'stored_at'], unique=False)


def downgrade() -> None:
    op.drop_table('persisted_query')
