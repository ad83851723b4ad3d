"""Erasure (issue 22): a record of each `eraseContact` — who, when, why, the contact's id,
nothing personal — and the suppression list, the SHA-256 digests of an erased contact's email,
mobile and externalId, which keep an upsert, batch or import from bringing the person back.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 16:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')

revision: str = '0017'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'erasure',
        sa.Column('id', sa.String(length=36), primary_key=True),
        sa.Column('workspace_id', BigId, sa.ForeignKey('workspace.id', ondelete='CASCADE'), nullable=False),
        sa.Column('contact_id', BigId, nullable=False),
        sa.Column('actor', sa.String(length=100), nullable=True),
        sa.Column('reason', sa.String(length=500), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index('ix_erasure_page', 'erasure', ['workspace_id', 'created_at', 'id'])
    op.create_table(
        'suppression',
        sa.Column('workspace_id', BigId, sa.ForeignKey('workspace.id', ondelete='CASCADE'), primary_key=True),
        sa.Column('digest', sa.String(length=64), primary_key=True),
        sa.Column('kind', sa.String(length=12), nullable=False),
        sa.Column('erasure_id', sa.String(length=36), sa.ForeignKey('erasure.id', ondelete='CASCADE'), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index('ix_suppression_page', 'suppression', ['workspace_id', 'created_at', 'digest'])


def downgrade() -> None:
    op.drop_index('ix_suppression_page', table_name='suppression')
    op.drop_table('suppression')
    op.drop_index('ix_erasure_page', table_name='erasure')
    op.drop_table('erasure')
