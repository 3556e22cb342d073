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


def upgrade():
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('client_key', sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(
            batch_op.f('uq_messages_thread_id_sender_id_client_key'),
            ['thread_id', 'sender_id', 'client_key'])

    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('push_due_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_notifications_push_due_at'), ['push_due_at'],
                              unique=False)


def downgrade():
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notifications_push_due_at'))
        batch_op.drop_column('push_due_at')

    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_messages_thread_id_sender_id_client_key'),
                                 type_='unique')
        batch_op.drop_column('client_key')
