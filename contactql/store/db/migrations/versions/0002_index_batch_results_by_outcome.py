"""Index batch results by outcome, for results(outcome:) and results(failedOnly:) on large batches.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 01:20:38.927714
"""

from collections.abc import Sequence

from alembic import op


revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('batch_result', schema=None) as batch_op:
        batch_op.create_index('ix_batch_result_outcome', ['batch_id', 'outcome', 'index'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('batch_result', schema=None) as batch_op:
        batch_op.drop_index('ix_batch_result_outcome')

