"""Website forms' consent evidence and links: the consent table (who subscribed, confirmed or
unsubscribed, from where, shown what), the key that asked for each confirmation token (its
thank-you page) and the names it holds until then, with an index for the per-address limit, publishable keys' thank-you URL, and
each workspace's secret for signed unsubscribe links.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 05:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'consent',
        sa.Column('id', BigId, primary_key=True),
        sa.Column('workspace_id', BigId, sa.ForeignKey('workspace.id', ondelete='CASCADE'), nullable=False),
        sa.Column('contact_id', BigId, sa.ForeignKey('contact.id', ondelete='CASCADE'), nullable=False),
        sa.Column('action', sa.String(length=16), nullable=False),
        sa.Column('ip', sa.String(length=45), nullable=True),
        sa.Column('user_agent', sa.String(length=500), nullable=True),
        sa.Column('page_url', sa.String(length=2048), nullable=True),
        sa.Column('form', sa.String(length=100), nullable=True),
        sa.Column('consent_text', sa.Text(), nullable=True),
        sa.Column('actor', sa.String(length=100), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index('ix_consent_contact', 'consent', ['contact_id', 'id'])
    with op.batch_alter_table('confirmation_token') as table:
        table.add_column(sa.Column('api_key_id', BigId, nullable=True))
        table.add_column(sa.Column('held', sa.JSON(), nullable=True))
    op.create_index('ix_token_contact', 'confirmation_token', ['contact_id', 'created_at'])
    with op.batch_alter_table('api_key') as table:
        table.add_column(sa.Column('thank_you_url', sa.String(length=2048), nullable=True))
    with op.batch_alter_table('workspace') as table:
        table.add_column(sa.Column('link_secret', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('workspace') as table:
        table.drop_column('link_secret')
    with op.batch_alter_table('api_key') as table:
        table.drop_column('thank_you_url')
    op.drop_index('ix_token_contact', table_name='confirmation_token')
    with op.batch_alter_table('confirmation_token') as table:
        table.drop_column('held')
        table.drop_column('api_key_id')
    op.drop_index('ix_consent_contact', table_name='consent')
    op.drop_table('consent')
