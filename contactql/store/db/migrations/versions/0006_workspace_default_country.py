"""A workspace's default country: national phone numbers without one are read in it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('workspace') as table:
        table.add_column(sa.Column('default_country', sa.String(length=2), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('workspace') as table:
        table.drop_column('default_country')
