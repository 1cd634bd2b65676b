"""contracts: each party's contracts indexed in time order

Revision ID: 20261130_0011
Revises: 20261130_0010
Create Date: 2026-11-30 15:05:00

The indices count an organisation as new in a month when it is on no counted contract before
it. With (party, registered_at) that is one index probe per party and role; with the party
alone a party new in the month had all of its later contracts read to find none earlier.
The composite indexes serve the foreign keys as the single-column ones did.
"""

from __future__ import annotations

from alembic import op

revision = '20261130_0011'
down_revision = '20261130_0010'
branch_labels = None
depends_on = None

ROLES = ('seller_id', 'buyer_id', 'intermediary_id')


def upgrade() -> None:
    with op.batch_alter_table('contracts') as batch:
        for role in ROLES:
            batch.create_index(f'ix_contracts_{role}_registered_at', [role, 'registered_at'],
                               unique=False)
            batch.drop_index(f'ix_contracts_{role}')


def downgrade() -> None:
    with op.batch_alter_table('contracts') as batch:
        for role in ROLES:
            batch.create_index(f'ix_contracts_{role}', [role], unique=False)
            batch.drop_index(f'ix_contracts_{role}_registered_at')
