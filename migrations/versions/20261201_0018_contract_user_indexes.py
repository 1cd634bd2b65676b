"""contracts: partial indexes on who recorded and who registered a contract

Revision ID: 20261201_0018
Revises: 20261201_0017
Create Date: 2026-12-01 05:30:00

Both columns are set through the API only; imported contracts leave them empty, so the
indexes hold the contracts that have a value and a bulk import keeps them as they are. They
serve a user's removal (the foreign keys' check) and let the check of each foreign key after
a bulk import read the index instead of every row.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '20261201_0018'
down_revision = '20261201_0017'
branch_labels = None
depends_on = None

COLUMNS = ('created_by', 'registered_by')


def upgrade() -> None:
    with op.batch_alter_table('contracts') as batch:
        for column in COLUMNS:
            where = sa.text(f'{column} IS NOT NULL')
            batch.create_index(f'ix_contracts_{column}', [column], unique=False,
                               postgresql_where=where, sqlite_where=where)


def downgrade() -> None:
    with op.batch_alter_table('contracts') as batch:
        for column in COLUMNS:
            batch.drop_index(f'ix_contracts_{column}')
