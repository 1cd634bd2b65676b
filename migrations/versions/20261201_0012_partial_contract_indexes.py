"""contracts: the intermediary and achievement indexes hold only the contracts that have one

Revision ID: 20261201_0012
Revises: 20261130_0011
Create Date: 2026-12-01 00:00:00

About four contracts in five have no intermediary, and nearly all imported ones transact no
listed achievement. Every lookup by either column asks for a given organisation or
achievement, never for the empty value, so those rows need no index entry: each recording
without an intermediary writes one index entry less, and a bulk import builds the two
indexes from a fifth of the rows or fewer.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '20261201_0012'
down_revision = '20261130_0011'
branch_labels = None
depends_on = None

PARTIAL = {
    'ix_contracts_intermediary_id_registered_at': ['intermediary_id', 'registered_at'],
    'ix_contracts_achievement_id': ['achievement_id'],
}


def _not_null(columns: list[str]) -> sa.TextClause:
    return sa.text(f'{columns[0]} IS NOT NULL')


def upgrade() -> None:
    with op.batch_alter_table('contracts') as batch:
        for name, columns in PARTIAL.items():
            batch.drop_index(name)
            batch.create_index(name, columns, unique=False,
                               postgresql_where=_not_null(columns),
                               sqlite_where=_not_null(columns))


def downgrade() -> None:
    with op.batch_alter_table('contracts') as batch:
        for name, columns in PARTIAL.items():
            batch.drop_index(name)
            batch.create_index(name, columns, unique=False)
