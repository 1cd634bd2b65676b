"""index publications keep the month digests of the data they read

Revision ID: 20261130_0008
Revises: 20261122_0007
Create Date: 2026-11-30 14:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '20261130_0008'
down_revision = '20261122_0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Publications made before this revision have none: the next publication recomputes all.
    with op.batch_alter_table('index_publications') as batch:
        batch.add_column(sa.Column('month_digests', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('index_publications') as batch:
        batch.drop_column('month_digests')
