"""push deliveries are claimed before they are sent (two overlapping jobs never both send)

Revision ID: 0009_push_claims
Revises: 0008_reliable_writes
Create Date: 2026-11-26 04:30:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0009_push_claims'
down_revision = '0008_reliable_writes'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMN (no batch rebuild): SQLite and PostgreSQL both do it in place.
    op.add_column('push_deliveries', sa.Column('claimed_at', sa.DateTime(timezone=True),
                                               nullable=True))


def downgrade():
    op.drop_column('push_deliveries', 'claimed_at')
