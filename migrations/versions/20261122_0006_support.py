"""support

Revision ID: 20261122_0006
Revises: 20261122_0005
Create Date: 2026-11-22 15:08:31.783174
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '20261122_0006'
down_revision = '20261122_0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('support_policies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('document', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=120), nullable=False),
    sa.Column('first_run_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_support_policies')),
    sa.UniqueConstraint('code', name=op.f('uq_support_policies_code'))
    )
    with op.batch_alter_table('support_policies', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_support_policies_year'), ['year'], unique=False)

    op.create_table('support_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('policy_id', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=120), nullable=False),
    sa.Column('items', sa.Integer(), nullable=False),
    sa.Column('entries', sa.Integer(), nullable=False),
    sa.Column('awarded', sa.Numeric(18, 2), nullable=False),
    sa.Column('clawed_back', sa.Numeric(18, 2), nullable=False),
    sa.ForeignKeyConstraint(['policy_id'], ['support_policies.id'], name=op.f('fk_support_runs_policy_id_support_policies')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_support_runs'))
    )
    with op.batch_alter_table('support_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_support_runs_policy_id'), ['policy_id'], unique=False)

    op.create_table('support_awards',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('policy_id', sa.Integer(), nullable=False),
    sa.Column('contract_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('region_code', sa.String(length=6), nullable=False),
    sa.Column('order_key', sa.String(length=80), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('explanation', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("role IN ('seller', 'buyer', 'intermediary')", name=op.f('ck_support_awards_role_known')),
    sa.CheckConstraint("status IN ('computed', 'approved', 'paid')", name=op.f('ck_support_awards_status_known')),
    sa.ForeignKeyConstraint(['contract_id'], ['contracts.id'], name=op.f('fk_support_awards_contract_id_contracts')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_support_awards_organization_id_organizations')),
    sa.ForeignKeyConstraint(['policy_id'], ['support_policies.id'], name=op.f('fk_support_awards_policy_id_support_policies')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_support_awards')),
    sa.UniqueConstraint('policy_id', 'contract_id', 'role', 'organization_id', name=op.f('uq_support_awards_policy_id_contract_id_role_organization_id'))
    )
    with op.batch_alter_table('support_awards', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_support_awards_contract_id'), ['contract_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_support_awards_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_support_awards_policy_id'), ['policy_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_support_awards_region_code'), ['region_code'], unique=False)

    op.create_table('support_ledger',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('award_id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('amount', sa.Numeric(18, 2), nullable=False),
    sa.Column('city_share', sa.Numeric(18, 2), nullable=False),
    sa.Column('local_share', sa.Numeric(18, 2), nullable=False),
    sa.Column('actor', sa.String(length=120), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('award', 'adjustment', 'clawback', 'payment')", name=op.f('ck_support_ledger_kind_known')),
    sa.ForeignKeyConstraint(['award_id'], ['support_awards.id'], name=op.f('fk_support_ledger_award_id_support_awards')),
    sa.ForeignKeyConstraint(['run_id'], ['support_runs.id'], name=op.f('fk_support_ledger_run_id_support_runs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_support_ledger'))
    )
    with op.batch_alter_table('support_ledger', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_support_ledger_award_id'), ['award_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_support_ledger_run_id'), ['run_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('support_ledger', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_support_ledger_run_id'))
        batch_op.drop_index(batch_op.f('ix_support_ledger_award_id'))

    op.drop_table('support_ledger')
    with op.batch_alter_table('support_awards', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_support_awards_region_code'))
        batch_op.drop_index(batch_op.f('ix_support_awards_policy_id'))
        batch_op.drop_index(batch_op.f('ix_support_awards_organization_id'))
        batch_op.drop_index(batch_op.f('ix_support_awards_contract_id'))

    op.drop_table('support_awards')
    with op.batch_alter_table('support_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_support_runs_policy_id'))

    op.drop_table('support_runs')
    with op.batch_alter_table('support_policies', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_support_policies_year'))

    op.drop_table('support_policies')
