"""support runs keep a digest of their inputs; awards record what the budget left unfunded

Revision ID: 20261130_0009
Revises: 20261130_0008
Create Date: 2026-11-30 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '20261130_0009'
down_revision = '20261130_0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Policies run before this revision have no digest: their next run computes everything.
    with op.batch_alter_table('support_policies') as batch:
        batch.add_column(sa.Column('last_inputs', sa.JSON(), nullable=True))
    with op.batch_alter_table('support_runs') as batch:
        batch.add_column(sa.Column('inputs_digest', sa.String(length=64), nullable=True))
    with op.batch_alter_table('support_awards') as batch:
        batch.add_column(sa.Column('unfunded', sa.Numeric(18, 2), server_default='0',
                                   nullable=False))
        batch.add_column(sa.Column('unfunded_reason', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('support_awards') as batch:
        batch.drop_column('unfunded_reason')
        batch.drop_column('unfunded')
    with op.batch_alter_table('support_runs') as batch:
        batch.drop_column('inputs_digest')
    with op.batch_alter_table('support_policies') as batch:
        batch.drop_column('last_inputs')
