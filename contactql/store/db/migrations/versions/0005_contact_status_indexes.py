"""Pages of contacts filtered by emailStatus or smsStatus are read from an index of their own.

A page filtered by a status was read in id order through ix_contact_page, each contact checked
for the status: it stops after 51 matches, so for a status few contacts have it read most of
the workspace, and all of it for a status no one has. Measured on 200 000 contacts
(benchmarks/scale.py): 55 ms for a page of BOUNCED contacts, none of them there.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 18:30:00
"""

from collections.abc import Sequence

from alembic import op


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_contact_email_status', 'contact', ['workspace_id', 'email_status', 'id'], unique=False)
    op.create_index('ix_contact_sms_status', 'contact', ['workspace_id', 'sms_status', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_contact_sms_status', table_name='contact')
    op.drop_index('ix_contact_email_status', table_name='contact')
