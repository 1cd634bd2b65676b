"""drop the plain indexes that repeat the first column of their table's unique key

Revision ID: 20261201_0013
Revises: 20261201_0012
Create Date: 2026-12-01 01:00:00

Each of these tables has a unique key whose first column is the indexed one (payments:
contract_id, paid_on, amount, ordinal; contract versions: contract_id, version; and so on), so
a lookup by that column alone already uses the key's index, in PostgreSQL and in SQLite. The
separate index only cost every insert one more entry: a recorded contract's version, each
imported payment and grant, each support award.
"""

from __future__ import annotations

from alembic import op

revision = '20261201_0013'
down_revision = '20261201_0012'
branch_labels = None
depends_on = None

REDUNDANT = {  # table: its column that the unique key starts with
    'achievement_owners': 'achievement_id',
    'achievements': 'owner_id',
    'contract_versions': 'contract_id',
    'demands': 'organization_id',
    'external_grants': 'contract_id',
    'payments': 'contract_id',
    'support_awards': 'policy_id',
}


def upgrade() -> None:
    for table, column in REDUNDANT.items():
        with op.batch_alter_table(table) as batch:
            batch.drop_index(f'ix_{table}_{column}')


def downgrade() -> None:
    for table, column in REDUNDANT.items():
        with op.batch_alter_table(table) as batch:
            batch.create_index(f'ix_{table}_{column}', [column], unique=False)
