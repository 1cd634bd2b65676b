"""contracts: one index for registered contracts by time, one for the contracts in progress

Revision ID: 20261201_0016
Revises: 20261201_0015
Create Date: 2026-12-01 04:30:00

The index on (status, registered_at) held every contract, nearly all of them registered.
What asks for registered contracts (the indices, the support runs) asks by time; what asks
for other states (the bureau's queue of submitted contracts, say) asks for the few contracts
in them. Two partial indexes serve both: registered_at of the registered contracts, and the
status of the others. A bulk import of a million contracts builds them in about half the
time of the one they replace (an 8-byte sort key instead of text and time).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '20261201_0016'
down_revision = '20261201_0015'
branch_labels = None
depends_on = None

REGISTERED = sa.text("status = 'registered'")
NOT_REGISTERED = sa.text("status <> 'registered'")


def upgrade() -> None:
    with op.batch_alter_table('contracts') as batch:
        batch.drop_index('ix_contracts_status_registered_at')
        batch.create_index('ix_contracts_registered_at', ['registered_at'], unique=False,
                           postgresql_where=REGISTERED, sqlite_where=REGISTERED)
        batch.create_index('ix_contracts_status', ['status'], unique=False,
                           postgresql_where=NOT_REGISTERED, sqlite_where=NOT_REGISTERED)


def downgrade() -> None:
    with op.batch_alter_table('contracts') as batch:
        batch.drop_index('ix_contracts_status')
        batch.drop_index('ix_contracts_registered_at')
        batch.create_index('ix_contracts_status_registered_at', ['status', 'registered_at'],
                           unique=False)
