"""Publishable keys for website forms: the scope `publishable` (longer than the column was),
the origins a key may be used from, and the form it is for.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 03:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('api_key') as table:
        table.alter_column('scope', existing_type=sa.String(length=10), type_=sa.String(length=20), existing_nullable=False)
        table.add_column(sa.Column('origins', sa.Text(), nullable=True))
        table.add_column(sa.Column('form', sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('api_key') as table:
        table.drop_column('form')
        table.drop_column('origins')
        table.alter_column('scope', existing_type=sa.String(length=20), type_=sa.String(length=10), existing_nullable=False)
