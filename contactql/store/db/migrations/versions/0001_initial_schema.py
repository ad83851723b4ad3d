"""The initial schema: every table of issues 3 to 5.

Revision ID: 0001
Revises: -
Create Date: 2026-11-23 01:17:42.353489
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

IDENTITY_PREDICATE = "email IS NOT NULL OR mobile IS NOT NULL"


def upgrade() -> None:
    op.create_table('workspace',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('webhook_secret', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('api_key',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('scope', sa.String(length=10), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key_hash')
    )
    op.create_table('batch',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('total', sa.Integer(), nullable=False),
    sa.Column('processed', sa.Integer(), nullable=False),
    sa.Column('created', sa.Integer(), nullable=False),
    sa.Column('updated', sa.Integer(), nullable=False),
    sa.Column('unchanged', sa.Integer(), nullable=False),
    sa.Column('skipped', sa.Integer(), nullable=False),
    sa.Column('failed', sa.Integer(), nullable=False),
    sa.Column('options', sa.JSON(), nullable=False),
    sa.Column('webhook_url', sa.String(length=2048), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('lease_owner', sa.String(length=64), nullable=True),
    sa.Column('lease_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('batch', schema=None) as batch_op:
        batch_op.create_index('ix_batch_queue', ['status', 'created_at'], unique=False)
        batch_op.create_index('ix_batch_workspace', ['workspace_id', 'created_at', 'id'], unique=False)

    op.create_table('company',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('name_key', sa.String(length=255), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('workspace_id', 'name_key', name='uq_company_name')
    )
    op.create_table('contact',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('external_id', sa.String(length=255), nullable=True),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('mobile', sa.String(length=20), nullable=True),
    sa.Column('mobile_country_code', sa.Integer(), nullable=True),
    sa.Column('first_name', sa.String(length=255), nullable=True),
    sa.Column('last_name', sa.String(length=255), nullable=True),
    sa.Column('email_status', sa.String(length=24), nullable=False),
    sa.Column('sms_status', sa.String(length=24), nullable=False),
    sa.Column('privacy_consent', sa.Boolean(), nullable=True),
    sa.Column('confirmed', sa.Boolean(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('address_town', sa.String(length=255), nullable=True),
    sa.Column('address_region', sa.String(length=255), nullable=True),
    sa.Column('address_address', sa.String(length=255), nullable=True),
    sa.Column('address_postcode', sa.String(length=255), nullable=True),
    sa.Column('created_by', sa.String(length=100), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.create_index('ix_contact_email', ['workspace_id', 'email'], unique=False)
        batch_op.create_index('ix_contact_mobile', ['workspace_id', 'mobile'], unique=False)
        batch_op.create_index('ix_contact_updated', ['workspace_id', 'updated_at'], unique=False)
        batch_op.create_index('uq_contact_external_id', ['workspace_id', 'external_id'], unique=True)
    # The identity rule of SPEC §3: (email, mobile), null counted as a value, for contacts with
    # either. Written by hand: autogenerate cannot compare expression indexes on SQLite.
    op.create_index(
        'uq_contact_identity',
        'contact',
        ['workspace_id', sa.text("coalesce(email, '')"), sa.text("coalesce(mobile, '')")],
        unique=True,
        sqlite_where=sa.text(IDENTITY_PREDICATE),
        postgresql_where=sa.text(IDENTITY_PREDICATE),
    )

    op.create_table('contact_list',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('name_key', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('workspace_id', 'name_key', name='uq_contact_list_name')
    )
    op.create_table('event',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('type', sa.String(length=64), nullable=False),
    sa.Column('key', sa.String(length=320), nullable=False),
    sa.Column('contact_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('seq')
    )
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.create_index('ix_event_contact', ['workspace_id', 'contact_id', 'seq'], unique=False)
        batch_op.create_index('ix_event_type', ['workspace_id', 'type', 'seq'], unique=False)
        batch_op.create_index('ix_event_workspace', ['workspace_id', 'seq'], unique=False)
        batch_op.create_index('uq_event_id', ['id'], unique=True)

    op.create_table('idempotency_key',
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('response', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('workspace_id', 'key')
    )
    op.create_table('property_field',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('name_key', sa.String(length=100), nullable=False),
    sa.Column('type', sa.String(length=10), nullable=False),
    sa.Column('options', sa.JSON(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('workspace_id', 'name_key', name='uq_property_field_name')
    )
    op.create_table('webhook_delivery',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('batch_id', sa.String(length=36), nullable=True),
    sa.Column('url', sa.String(length=2048), nullable=False),
    sa.Column('payload', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lease_owner', sa.String(length=64), nullable=True),
    sa.Column('lease_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('webhook_delivery', schema=None) as batch_op:
        batch_op.create_index('ix_webhook_batch', ['batch_id'], unique=False)
        batch_op.create_index('ix_webhook_due', ['status', 'next_attempt_at'], unique=False)

    op.create_table('webhook_endpoint',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('url', sa.String(length=2048), nullable=False),
    sa.Column('event_types', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('webhook_endpoint', schema=None) as batch_op:
        batch_op.create_index('ix_endpoint_workspace', ['workspace_id'], unique=False)

    op.create_table('batch_payload',
    sa.Column('batch_id', sa.String(length=36), nullable=False),
    sa.Column('items', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['batch.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('batch_id')
    )
    op.create_table('batch_result',
    sa.Column('batch_id', sa.String(length=36), nullable=False),
    sa.Column('index', sa.Integer(), nullable=False),
    sa.Column('outcome', sa.String(length=12), nullable=True),
    sa.Column('result', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['batch.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('batch_id', 'index')
    )
    op.create_table('confirmation_token',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('contact_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['contact_id'], ['contact.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('token_hash')
    )
    op.create_table('contact_company',
    sa.Column('contact_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('company_id', sa.String(length=36), nullable=False),
    sa.ForeignKeyConstraint(['company_id'], ['company.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['contact_id'], ['contact.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('contact_id', 'company_id')
    )
    with op.batch_alter_table('contact_company', schema=None) as batch_op:
        batch_op.create_index('ix_contact_company_company', ['company_id'], unique=False)

    op.create_table('contact_history',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('contact_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('actor', sa.String(length=100), nullable=True),
    sa.Column('batch_id', sa.String(length=36), nullable=True),
    sa.Column('changes', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contact.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('contact_history', schema=None) as batch_op:
        batch_op.create_index('ix_history_contact', ['contact_id', 'id'], unique=False)

    op.create_table('external_url',
    sa.Column('contact_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('ref', sa.String(length=100), nullable=False),
    sa.Column('url', sa.String(length=2048), nullable=False),
    sa.Column('label', sa.String(length=255), nullable=True),
    sa.ForeignKeyConstraint(['contact_id'], ['contact.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('contact_id', 'ref')
    )
    op.create_table('list_membership',
    sa.Column('list_id', sa.String(length=36), nullable=False),
    sa.Column('contact_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contact.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['list_id'], ['contact_list.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('list_id', 'contact_id')
    )
    with op.batch_alter_table('list_membership', schema=None) as batch_op:
        batch_op.create_index('ix_list_membership_contact', ['contact_id'], unique=False)

    op.create_table('property_value',
    sa.Column('contact_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('field_id', sa.String(length=36), nullable=False),
    sa.Column('workspace_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['contact_id'], ['contact.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['field_id'], ['property_field.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspace.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('contact_id', 'field_id')
    )
    with op.batch_alter_table('property_value', schema=None) as batch_op:
        batch_op.create_index('ix_property_value_match', ['workspace_id', 'field_id', 'value'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('property_value', schema=None) as batch_op:
        batch_op.drop_index('ix_property_value_match')

    op.drop_table('property_value')
    with op.batch_alter_table('list_membership', schema=None) as batch_op:
        batch_op.drop_index('ix_list_membership_contact')

    op.drop_table('list_membership')
    op.drop_table('external_url')
    with op.batch_alter_table('contact_history', schema=None) as batch_op:
        batch_op.drop_index('ix_history_contact')

    op.drop_table('contact_history')
    with op.batch_alter_table('contact_company', schema=None) as batch_op:
        batch_op.drop_index('ix_contact_company_company')

    op.drop_table('contact_company')
    op.drop_table('confirmation_token')
    op.drop_table('batch_result')
    op.drop_table('batch_payload')
    with op.batch_alter_table('webhook_endpoint', schema=None) as batch_op:
        batch_op.drop_index('ix_endpoint_workspace')

    op.drop_table('webhook_endpoint')
    with op.batch_alter_table('webhook_delivery', schema=None) as batch_op:
        batch_op.drop_index('ix_webhook_due')
        batch_op.drop_index('ix_webhook_batch')

    op.drop_table('webhook_delivery')
    op.drop_table('property_field')
    op.drop_table('idempotency_key')
    with op.batch_alter_table('event', schema=None) as batch_op:
        batch_op.drop_index('uq_event_id')
        batch_op.drop_index('ix_event_workspace')
        batch_op.drop_index('ix_event_type')
        batch_op.drop_index('ix_event_contact')

    op.drop_table('event')
    op.drop_table('contact_list')
    op.drop_index('uq_contact_identity', table_name='contact')
    with op.batch_alter_table('contact', schema=None) as batch_op:
        batch_op.drop_index('uq_contact_external_id')
        batch_op.drop_index('ix_contact_updated')
        batch_op.drop_index('ix_contact_mobile')
        batch_op.drop_index('ix_contact_email')

    op.drop_table('contact')
    op.drop_table('company')
    with op.batch_alter_table('batch', schema=None) as batch_op:
        batch_op.drop_index('ix_batch_workspace')
        batch_op.drop_index('ix_batch_queue')

    op.drop_table('batch')
    op.drop_table('api_key')
    op.drop_table('workspace')
