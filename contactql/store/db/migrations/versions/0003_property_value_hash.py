"""Match property values by (field, 64-bit digest of the value), not by the whole value.

A whole value (up to 10 000 characters) could exceed PostgreSQL's B-tree entry limit, and an
index leading with workspace_id misled its planner on look-ups by contact. Existing rows get
their digest here, in keyset-ordered slices so memory stays bounded on large databases.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 03:00:00
"""

import hashlib
import warnings
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SLICE = 10_000


def _digest(value: str) -> int:
    # Frozen copy of columns.value_hash: a migration must not change when the code does.
    return int.from_bytes(hashlib.blake2b(value.encode(), digest_size=8).digest(), "big", signed=True)


def upgrade() -> None:
    op.add_column('property_value', sa.Column('value_hash', sa.BigInteger(), nullable=True))
    conn = op.get_bind()
    pv = sa.table('property_value', sa.column('contact_id'), sa.column('field_id'), sa.column('value'), sa.column('value_hash'))
    fill = sa.update(pv).where(pv.c.contact_id == sa.bindparam('c'), pv.c.field_id == sa.bindparam('f')).values(value_hash=sa.bindparam('h'))
    after: tuple[int, str] | None = None
    while True:
        page = sa.select(pv.c.contact_id, pv.c.field_id, pv.c.value).order_by(pv.c.contact_id, pv.c.field_id).limit(SLICE)
        if after is not None:
            page = page.where(sa.tuple_(pv.c.contact_id, pv.c.field_id) > sa.tuple_(*after))
        rows = conn.execute(page).all()
        if not rows:
            break
        conn.execute(fill, [{'c': c, 'f': f, 'h': _digest(v)} for c, f, v in rows])
        after = (rows[-1][0], rows[-1][1])
    # On SQLite the batch rebuilds property_value, reflecting the tables it references: the
    # contact table's expression index cannot be reflected there, and is not needed.
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', 'Skipped unsupported reflection of expression-based index', sa.exc.SAWarning)
        with op.batch_alter_table('property_value', schema=None) as batch_op:
            batch_op.alter_column('value_hash', existing_type=sa.BigInteger(), nullable=False)
            batch_op.drop_index('ix_property_value_match')
            batch_op.create_index('ix_property_value_hash', ['field_id', 'value_hash'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('property_value', schema=None) as batch_op:
        batch_op.drop_index('ix_property_value_hash')
        batch_op.create_index('ix_property_value_match', ['workspace_id', 'field_id', 'value'], unique=False)
        batch_op.drop_column('value_hash')
