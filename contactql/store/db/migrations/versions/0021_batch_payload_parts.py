"""Batch items in parts (issue 23): a batch's validated items are stored as parts of at most a
thousand, each a row keyed by the index of its first item, so a streamed import appends them as
it reads its file and the worker reads only the part it applies — memory no longer grows with
the batch. Stored batches become one part holding all their items.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 02:30:00
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0021'
down_revision: str | None = '0020'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'batch_part',
        sa.Column('batch_id', sa.String(length=36), sa.ForeignKey('batch.id', ondelete='CASCADE'), primary_key=True),
        sa.Column('first', sa.Integer(), primary_key=True),
        sa.Column('stop', sa.Integer(), nullable=False),
        sa.Column('items', sa.Text(), nullable=False),
    )
    op.execute(
        "INSERT INTO batch_part (batch_id, first, stop, items) "
        "SELECT p.batch_id, 0, b.total, p.items FROM batch_payload p JOIN batch b ON b.id = p.batch_id"
    )
    op.drop_table('batch_payload')


def downgrade() -> None:
    op.create_table(
        'batch_payload',
        sa.Column('batch_id', sa.String(length=36), sa.ForeignKey('batch.id', ondelete='CASCADE'), primary_key=True),
        sa.Column('items', sa.Text(), nullable=False),
    )
    conn = op.get_bind()
    parts: dict[str, list[object]] = {}
    for batch_id, items in conn.execute(sa.text("SELECT batch_id, items FROM batch_part ORDER BY batch_id, first")):
        parts.setdefault(batch_id, []).extend(json.loads(items))
    for batch_id, items in parts.items():
        conn.execute(sa.text("INSERT INTO batch_payload (batch_id, items) VALUES (:b, :i)"), {"b": batch_id, "i": json.dumps(items)})
    op.drop_table('batch_part')
