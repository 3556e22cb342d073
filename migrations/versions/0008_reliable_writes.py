"""reliable writes: idempotent message posting, pushes owed until a worker takes them

Revision ID: 0008_reliable_writes
Revises: 0007_group_session_rules
Create Date: 2026-11-27 12:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0008_reliable_writes'
down_revision = '0007_group_session_rules'
branch_labels = None
depends_on = None


# Plain ADD COLUMN and CREATE INDEX, no batch mode: SQLite supports both, and batch mode would
# rebuild the messages table and drop its full-text search triggers (0003_chat).

def upgrade():
    op.add_column('messages', sa.Column('client_key', sa.String(length=64), nullable=True))
    op.create_index('uq_messages_thread_sender_client_key', 'messages',
                    ['thread_id', 'sender_id', 'client_key'], unique=True)
    op.add_column('notifications', sa.Column('push_due_at', sa.DateTime(timezone=True),
                                             nullable=True))
    op.create_index(op.f('ix_notifications_push_due_at'), 'notifications', ['push_due_at'],
                    unique=False)


def downgrade():
    # ALTER TABLE ... DROP COLUMN (SQLite 3.35+ too): no table rebuild, the triggers stay.
    op.drop_index(op.f('ix_notifications_push_due_at'), table_name='notifications')
    op.drop_column('notifications', 'push_due_at')
    op.drop_index('uq_messages_thread_sender_client_key', table_name='messages')
    op.drop_column('messages', 'client_key')
