"""Bulk jobs (issue 22): deleteContacts, restoreContacts and list changes by filter, done in
slices by a background worker that goes on where it was after a restart.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 23:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')

revision: str = '0020'
down_revision: str | None = '0019'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'bulk_job',
        sa.Column('id', sa.String(length=36), primary_key=True),
        sa.Column('workspace_id', BigId, sa.ForeignKey('workspace.id', ondelete='CASCADE'), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('request', sa.JSON(), nullable=False),
        sa.Column('list_id', sa.String(length=36), nullable=True),
        sa.Column('ceiling', sa.BigInteger(), nullable=False),
        sa.Column('cursor', sa.BigInteger(), nullable=False),
        sa.Column('total', sa.Integer(), nullable=False),
        sa.Column('changed', sa.Integer(), nullable=False),
        sa.Column('actor', sa.String(length=100), nullable=True),
        sa.Column('webhook_url', sa.String(length=2048), nullable=True),
        sa.Column('error', sa.Text(), nullable=True),
        sa.Column('lease_owner', sa.String(length=40), nullable=True),
        sa.Column('lease_expires_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index('ix_bulk_job_page', 'bulk_job', ['workspace_id', 'created_at', 'id'])
    op.create_index('ix_bulk_job_status', 'bulk_job', ['status', 'created_at'])


def downgrade() -> None:
    op.drop_index('ix_bulk_job_status', table_name='bulk_job')
    op.drop_index('ix_bulk_job_page', table_name='bulk_job')
    op.drop_table('bulk_job')
