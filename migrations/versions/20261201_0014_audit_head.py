"""the audit chain's head, one row: its lock orders the commits that extend the chain

Revision ID: 20261201_0014
Revises: 20261201_0013
Create Date: 2026-12-01 02:30:00

Until now each commit that wrote audit entries took an advisory lock and read the last entry's
hash. The head row replaces both: its row lock orders the commits, and on PostgreSQL a single
entry is written in one statement that moves the head forward. `marketplace audit verify` also
compares the head with the last entry, so entries deleted from the end of the trail are found.
The row starts at the chain as it stands.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '20261201_0014'
down_revision = '20261201_0013'
branch_labels = None
depends_on = None

GENESIS = '0' * 64


def upgrade() -> None:
    op.create_table('audit_head',
    sa.Column('id', sa.SmallInteger(), autoincrement=False, nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.CheckConstraint('id = 1', name=op.f('ck_audit_head_one_row')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_head'))
    )
    last = op.get_bind().execute(sa.text(
        'SELECT prev_hash, hash FROM audit_log ORDER BY id DESC LIMIT 1')).first()
    prev_hash, hash_ = last if last is not None else (GENESIS, GENESIS)
    op.get_bind().execute(sa.text(
        'INSERT INTO audit_head (id, prev_hash, hash) VALUES (1, :prev_hash, :hash)'),
        {'prev_hash': prev_hash, 'hash': hash_})


def downgrade() -> None:
    op.drop_table('audit_head')
