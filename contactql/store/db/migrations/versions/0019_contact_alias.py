"""Contact aliases (issue 22): the identities of contacts merged into another (mergeContacts),
so that an upsert naming one of them finds the survivor instead of recreating the duplicate.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 20:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')

revision: str = '0019'
down_revision: str | None = '0018'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'contact_alias',
        sa.Column('workspace_id', BigId, sa.ForeignKey('workspace.id', ondelete='CASCADE'), primary_key=True),
        sa.Column('kind', sa.String(length=12), primary_key=True),
        sa.Column('value', sa.String(length=400), primary_key=True),
        sa.Column('contact_id', BigId, sa.ForeignKey('contact.id', ondelete='CASCADE'), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index('ix_contact_alias_contact', 'contact_alias', ['contact_id'])


def downgrade() -> None:
    op.drop_index('ix_contact_alias_contact', table_name='contact_alias')
    op.drop_table('contact_alias')
