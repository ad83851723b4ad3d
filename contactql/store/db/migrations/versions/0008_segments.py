"""Saved segments (dynamic lists): a named filter and search, evaluated when read.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('segment',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('name_key', sa.String(length=100), nullable=False),
    sa.Column('query', sa.JSON(), nullable=False),
    sa.Column('search', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('workspace_id', 'name_key', name='uq_segment_name')
    )  # fmt: skip
    with op.batch_alter_table('segment') as table:
        table.create_index('ix_segment_page', ['workspace_id', 'created_at', 'id'], unique=False)


def downgrade() -> None:
    op.drop_table('segment')
