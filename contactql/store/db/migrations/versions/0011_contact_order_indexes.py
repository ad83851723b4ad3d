"""Pages of contacts ordered by LAST_NAME, FIRST_NAME or CREATED_AT read an index in that order.

Without them a page in one of these orders sorted every contact of the workspace before its
first row (benchmarks/scale.py). EMAIL, UPDATED_AT and ID have theirs already (ix_contact_email,
ix_contact_updated, ix_contact_page).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 12:00:00
"""

from collections.abc import Sequence

from alembic import op


revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_contact_last_name', 'contact', ['workspace_id', 'last_name', 'id'], unique=False)
    op.create_index('ix_contact_first_name', 'contact', ['workspace_id', 'first_name', 'id'], unique=False)
    op.create_index('ix_contact_created', 'contact', ['workspace_id', 'created_at', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_contact_created', table_name='contact')
    op.drop_index('ix_contact_first_name', table_name='contact')
    op.drop_index('ix_contact_last_name', table_name='contact')
