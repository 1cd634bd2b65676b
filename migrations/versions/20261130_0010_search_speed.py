"""search and matching read the term index and the achievements' lengths from indexes alone

Revision ID: 20261130_0010
Revises: 20261130_0009
Create Date: 2026-11-30 16:00:00

BM25 is summed in the database over the postings of the query's terms, each joined to its
achievement's length and visibility. Both come from covering indexes (index-only scans on
PostgreSQL once autovacuum has marked the pages visible), instead of a pass over the wide
achievements rows and a heap visit per posting:

- achievement_terms (term, achievement_id, tf) replaces (term): the postings of a term;
- achievements (id, status, owner_id, term_count): the length, status and owner of each.
"""

from __future__ import annotations

from alembic import op

revision = '20261130_0010'
down_revision = '20261130_0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('achievement_terms') as batch:
        batch.create_index('ix_achievement_terms_postings', ['term', 'achievement_id', 'tf'],
                           unique=False)
        batch.drop_index('ix_achievement_terms_term')
    with op.batch_alter_table('achievements') as batch:
        batch.create_index('ix_achievements_scoring',
                           ['id', 'status', 'owner_id', 'term_count'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('achievements') as batch:
        batch.drop_index('ix_achievements_scoring')
    with op.batch_alter_table('achievement_terms') as batch:
        batch.create_index('ix_achievement_terms_term', ['term'], unique=False)
        batch.drop_index('ix_achievement_terms_postings')
