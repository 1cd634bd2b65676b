"""contracts

Revision ID: 20261122_0002
Revises: 20261122_0001
Create Date: 2026-11-22 13:39:20.254447
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '20261122_0002'
down_revision = '20261122_0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('contracts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('contract_no', sa.String(length=32), nullable=True),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('subtype', sa.String(length=32), nullable=True),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('field', sa.String(length=32), nullable=False),
    sa.Column('seller_id', sa.Integer(), nullable=False),
    sa.Column('buyer_id', sa.Integer(), nullable=False),
    sa.Column('intermediary_id', sa.Integer(), nullable=True),
    sa.Column('total_amount', sa.Numeric(18, 2), nullable=False),
    sa.Column('technical_amount', sa.Numeric(18, 2), nullable=False),
    sa.Column('signed_on', sa.Date(), nullable=False),
    sa.Column('related_party', sa.Boolean(), nullable=False),
    sa.Column('achievement_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('submitted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('registered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('registered_by', sa.Integer(), nullable=True),
    sa.Column('rejected_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('rejection_reason', sa.String(length=40), nullable=True),
    sa.Column('rejection_note', sa.Text(), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancellation_reason', sa.Text(), nullable=True),
    sa.CheckConstraint("status IN ('draft', 'confirmed', 'submitted', 'registered', 'rejected', 'cancelled')", name=op.f('ck_contracts_status_known')),
    sa.CheckConstraint('intermediary_id IS NULL OR (intermediary_id <> seller_id AND intermediary_id <> buyer_id)', name=op.f('ck_contracts_intermediary_distinct')),
    sa.CheckConstraint('seller_id <> buyer_id', name=op.f('ck_contracts_seller_not_buyer')),
    sa.CheckConstraint('technical_amount > 0 AND technical_amount <= total_amount', name=op.f('ck_contracts_technical_in_total')),
    sa.CheckConstraint('total_amount > 0', name=op.f('ck_contracts_total_positive')),
    sa.ForeignKeyConstraint(['buyer_id'], ['organizations.id'], name=op.f('fk_contracts_buyer_id_organizations')),
    sa.ForeignKeyConstraint(['created_by'], ['users.id'], name=op.f('fk_contracts_created_by_users')),
    sa.ForeignKeyConstraint(['intermediary_id'], ['organizations.id'], name=op.f('fk_contracts_intermediary_id_organizations')),
    sa.ForeignKeyConstraint(['registered_by'], ['users.id'], name=op.f('fk_contracts_registered_by_users')),
    sa.ForeignKeyConstraint(['seller_id'], ['organizations.id'], name=op.f('fk_contracts_seller_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contracts')),
    sa.UniqueConstraint('contract_no', name=op.f('uq_contracts_contract_no'))
    )
    with op.batch_alter_table('contracts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contracts_achievement_id'), ['achievement_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_contracts_buyer_id'), ['buyer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_contracts_intermediary_id'), ['intermediary_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_contracts_seller_id'), ['seller_id'], unique=False)
        batch_op.create_index('ix_contracts_status_registered_at', ['status', 'registered_at'], unique=False)

    op.create_table('contract_number_counters',
    sa.Column('year', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('last_number', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('year', name=op.f('pk_contract_number_counters'))
    )
    op.create_table('idempotency_keys',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=False),
    sa.Column('response', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_idempotency_keys_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_idempotency_keys')),
    sa.UniqueConstraint('user_id', 'key', name=op.f('uq_idempotency_keys_user_id_key'))
    )
    op.create_table('contract_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('contract_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('terms', sa.JSON(), nullable=False),
    sa.Column('changed_by', sa.String(length=120), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['contract_id'], ['contracts.id'], name=op.f('fk_contract_versions_contract_id_contracts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contract_versions')),
    sa.UniqueConstraint('contract_id', 'version', name=op.f('uq_contract_versions_contract_id_version'))
    )
    with op.batch_alter_table('contract_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contract_versions_contract_id'), ['contract_id'], unique=False)

    op.create_table('external_grants',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('contract_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('amount', sa.Numeric(18, 2), nullable=False),
    sa.Column('programme', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("role IN ('seller', 'buyer', 'intermediary')", name=op.f('ck_external_grants_role_known')),
    sa.CheckConstraint('amount >= 0', name=op.f('ck_external_grants_amount_not_negative')),
    sa.ForeignKeyConstraint(['contract_id'], ['contracts.id'], name=op.f('fk_external_grants_contract_id_contracts')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_external_grants_organization_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_external_grants')),
    sa.UniqueConstraint('contract_id', 'role', 'organization_id', 'programme', name=op.f('uq_external_grants_contract_id_role_organization_id_programme'))
    )
    with op.batch_alter_table('external_grants', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_external_grants_contract_id'), ['contract_id'], unique=False)

    op.create_table('payments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('contract_id', sa.Integer(), nullable=False),
    sa.Column('paid_on', sa.Date(), nullable=False),
    sa.Column('amount', sa.Numeric(18, 2), nullable=False),
    sa.Column('ordinal', sa.Integer(), nullable=False),
    sa.Column('recorded_by', sa.String(length=120), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('amount > 0', name=op.f('ck_payments_amount_positive')),
    sa.ForeignKeyConstraint(['contract_id'], ['contracts.id'], name=op.f('fk_payments_contract_id_contracts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payments')),
    sa.UniqueConstraint('contract_id', 'paid_on', 'amount', 'ordinal', name=op.f('uq_payments_contract_id_paid_on_amount_ordinal'))
    )
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payments_contract_id'), ['contract_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payments_contract_id'))

    op.drop_table('payments')
    with op.batch_alter_table('external_grants', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_external_grants_contract_id'))

    op.drop_table('external_grants')
    with op.batch_alter_table('contract_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contract_versions_contract_id'))

    op.drop_table('contract_versions')
    op.drop_table('idempotency_keys')
    op.drop_table('contract_number_counters')
    with op.batch_alter_table('contracts', schema=None) as batch_op:
        batch_op.drop_index('ix_contracts_status_registered_at')
        batch_op.drop_index(batch_op.f('ix_contracts_seller_id'))
        batch_op.drop_index(batch_op.f('ix_contracts_intermediary_id'))
        batch_op.drop_index(batch_op.f('ix_contracts_buyer_id'))
        batch_op.drop_index(batch_op.f('ix_contracts_achievement_id'))

    op.drop_table('contracts')
