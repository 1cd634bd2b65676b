"""indices

Revision ID: 20261122_0005
Revises: 20261122_0002
Create Date: 2026-11-22 15:01:41.581043
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '20261122_0005'
down_revision = '20261122_0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('index_publications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('published_by', sa.String(length=120), nullable=False),
    sa.Column('through', sa.String(length=7), nullable=False),
    sa.Column('methodology_version', sa.String(length=16), nullable=False),
    sa.Column('parameters', sa.JSON(), nullable=False),
    sa.Column('base_year', sa.Integer(), nullable=False),
    sa.Column('caps', sa.JSON(), nullable=False),
    sa.Column('data_read_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('data_hash', sa.String(length=64), nullable=False),
    sa.Column('contracts_read', sa.Integer(), nullable=False),
    sa.Column('figures_published', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('cells', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_index_publications'))
    )
    op.create_table('index_figures',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('publication_id', sa.Integer(), nullable=False),
    sa.Column('family', sa.String(length=16), nullable=False),
    sa.Column('domain', sa.String(length=32), nullable=False),
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('methodology_version', sa.String(length=16), nullable=False),
    sa.Column('is_latest', sa.Boolean(), nullable=False),
    sa.Column('value', sa.String(length=40), nullable=True),
    sa.Column('value_2dp', sa.Numeric(precision=14, scale=2), nullable=True),
    sa.Column('mom_pct', sa.String(length=40), nullable=True),
    sa.Column('yoy_pct', sa.String(length=40), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.Column('revision_reason', sa.Text(), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['publication_id'], ['index_publications.id'], name=op.f('fk_index_figures_publication_id_index_publications')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_index_figures')),
    sa.UniqueConstraint('family', 'domain', 'period', 'revision', name=op.f('uq_index_figures_family_domain_period_revision'))
    )
    with op.batch_alter_table('index_figures', schema=None) as batch_op:
        batch_op.create_index('ix_index_figures_latest', ['family', 'domain', 'period', 'is_latest'], unique=False)
        batch_op.create_index(batch_op.f('ix_index_figures_publication_id'), ['publication_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('index_figures', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_index_figures_publication_id'))
        batch_op.drop_index('ix_index_figures_latest')

    op.drop_table('index_figures')
    op.drop_table('index_publications')
