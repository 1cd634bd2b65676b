"""achievements and demands

Revision ID: 20261122_0007
Revises: 20261122_0006
Create Date: 2026-11-22 15:16:11.942851
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '20261122_0007'
down_revision = '20261122_0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('achievements',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('external_key', sa.String(length=80), nullable=True),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('keywords', sa.JSON(), nullable=False),
    sa.Column('field', sa.String(length=32), nullable=False),
    sa.Column('trl', sa.Integer(), nullable=False),
    sa.Column('transfer_modes', sa.JSON(), nullable=False),
    sa.Column('price', sa.Numeric(18, 2), nullable=True),
    sa.Column('contact', sa.String(length=200), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('notice_ends_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('notice_seconds_left', sa.Integer(), nullable=True),
    sa.Column('term_count', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.String(length=120), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('draft', 'notice', 'on_hold', 'listed', 'traded', 'rejected', 'withdrawn')", name=op.f('ck_achievements_status_known')),
    sa.CheckConstraint('trl BETWEEN 1 AND 9', name=op.f('ck_achievements_trl_range')),
    sa.ForeignKeyConstraint(['owner_id'], ['organizations.id'], name=op.f('fk_achievements_owner_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_achievements')),
    sa.UniqueConstraint('owner_id', 'external_key', name=op.f('uq_achievements_owner_id_external_key'))
    )
    with op.batch_alter_table('achievements', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_achievements_notice_ends_at'), ['notice_ends_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_achievements_owner_id'), ['owner_id'], unique=False)
        batch_op.create_index('ix_achievements_status_field', ['status', 'field'], unique=False)

    op.create_table('demands',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('external_key', sa.String(length=80), nullable=True),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('field', sa.String(length=32), nullable=False),
    sa.Column('budget_min', sa.Numeric(18, 2), nullable=False),
    sa.Column('budget_max', sa.Numeric(18, 2), nullable=False),
    sa.Column('min_trl', sa.Integer(), nullable=False),
    sa.Column('deadline', sa.Date(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_by', sa.String(length=120), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('budget_min <= budget_max', name=op.f('ck_demands_budget_order')),
    sa.CheckConstraint('min_trl BETWEEN 1 AND 9', name=op.f('ck_demands_trl_range')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_demands_organization_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_demands')),
    sa.UniqueConstraint('organization_id', 'external_key', name=op.f('uq_demands_organization_id_external_key'))
    )
    with op.batch_alter_table('demands', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_demands_field'), ['field'], unique=False)
        batch_op.create_index(batch_op.f('ix_demands_organization_id'), ['organization_id'], unique=False)

    op.create_table('achievement_owners',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('achievement_id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('share', sa.Numeric(precision=5, scale=2), nullable=False),
    sa.CheckConstraint('share > 0 AND share <= 100', name=op.f('ck_achievement_owners_share_range')),
    sa.ForeignKeyConstraint(['achievement_id'], ['achievements.id'], name=op.f('fk_achievement_owners_achievement_id_achievements')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_achievement_owners_organization_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_achievement_owners')),
    sa.UniqueConstraint('achievement_id', 'organization_id', name=op.f('uq_achievement_owners_achievement_id_organization_id'))
    )
    with op.batch_alter_table('achievement_owners', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_achievement_owners_achievement_id'), ['achievement_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_achievement_owners_organization_id'), ['organization_id'], unique=False)

    op.create_table('achievement_terms',
    sa.Column('achievement_id', sa.Integer(), nullable=False),
    sa.Column('term', sa.String(length=40), nullable=False),
    sa.Column('tf', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['achievement_id'], ['achievements.id'], name=op.f('fk_achievement_terms_achievement_id_achievements')),
    sa.PrimaryKeyConstraint('achievement_id', 'term', name=op.f('pk_achievement_terms'))
    )
    with op.batch_alter_table('achievement_terms', schema=None) as batch_op:
        batch_op.create_index('ix_achievement_terms_term', ['term'], unique=False)

    op.create_table('ip_rights',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('achievement_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('number', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['achievement_id'], ['achievements.id'], name=op.f('fk_ip_rights_achievement_id_achievements')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ip_rights'))
    )
    with op.batch_alter_table('ip_rights', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ip_rights_achievement_id'), ['achievement_id'], unique=False)

    op.create_table('objections',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('achievement_id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('filed_by', sa.String(length=120), nullable=False),
    sa.Column('grounds', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('filed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ruled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ruled_by', sa.String(length=120), nullable=True),
    sa.Column('ruling', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['achievement_id'], ['achievements.id'], name=op.f('fk_objections_achievement_id_achievements')),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_objections_organization_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_objections'))
    )
    with op.batch_alter_table('objections', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_objections_achievement_id'), ['achievement_id'], unique=False)
    with op.batch_alter_table('contracts', schema=None) as batch_op:
        batch_op.create_foreign_key(batch_op.f('fk_contracts_achievement_id_achievements'),
                                    'achievements', ['achievement_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('contracts', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_contracts_achievement_id_achievements'),
                                 type_='foreignkey')
    with op.batch_alter_table('objections', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_objections_achievement_id'))

    op.drop_table('objections')
    with op.batch_alter_table('ip_rights', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ip_rights_achievement_id'))

    op.drop_table('ip_rights')
    with op.batch_alter_table('achievement_terms', schema=None) as batch_op:
        batch_op.drop_index('ix_achievement_terms_term')

    op.drop_table('achievement_terms')
    with op.batch_alter_table('achievement_owners', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_achievement_owners_organization_id'))
        batch_op.drop_index(batch_op.f('ix_achievement_owners_achievement_id'))

    op.drop_table('achievement_owners')
    with op.batch_alter_table('demands', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_demands_organization_id'))
        batch_op.drop_index(batch_op.f('ix_demands_field'))

    op.drop_table('demands')
    with op.batch_alter_table('achievements', schema=None) as batch_op:
        batch_op.drop_index('ix_achievements_status_field')
        batch_op.drop_index(batch_op.f('ix_achievements_owner_id'))
        batch_op.drop_index(batch_op.f('ix_achievements_notice_ends_at'))

    op.drop_table('achievements')
