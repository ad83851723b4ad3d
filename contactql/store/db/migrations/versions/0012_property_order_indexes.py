"""Pages ordered by a property read an index in that order (store/workspace/order.py).

`ix_property_value_number` holds a value as a number — on SQLite `CAST(value AS NUMERIC)`, on
PostgreSQL `contactql_number(value)`, a function made here that is NULL for text that is not a
plain decimal (the index holds every property's values, and a cast would fail on "Oslo") —
and `ix_property_value_text` its first 200 characters (a PostgreSQL index entry must stay
under 2.7 kB; values run to 10 000 characters). Both lead with the field and end with the
contact, for keyset pages. Made by hand: expressions that differ by engine, outside the
SQLModel metadata (tables.HAND_MADE).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 13:00:00
"""

from collections.abc import Sequence

from alembic import op


revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NUMBER_FUNCTION = r"""
CREATE OR REPLACE FUNCTION contactql_number(value text) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $$
  SELECT CASE WHEN length(value) <= 200 AND value ~ '^-?[0-9]+(\.[0-9]+)?$' THEN value::numeric END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("CREATE INDEX ix_property_value_number ON property_value (field_id, CAST(value AS NUMERIC), contact_id)")
    else:
        op.execute(NUMBER_FUNCTION)
        op.execute("CREATE INDEX ix_property_value_number ON property_value (field_id, contactql_number(value), contact_id)")
    op.execute("CREATE INDEX ix_property_value_text ON property_value (field_id, substr(value, 1, 200), contact_id)")


def downgrade() -> None:
    op.execute("DROP INDEX ix_property_value_text")
    op.execute("DROP INDEX ix_property_value_number")
    if op.get_bind().dialect.name != "sqlite":
        op.execute("DROP FUNCTION contactql_number(text)")
