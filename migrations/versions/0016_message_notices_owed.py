"""chat: a message's members are told by a job (the notices it owes until then)

Revision ID: 0016_message_notices_owed
Revises: 0015_segment_per_join
Create Date: 2026-11-26 14:10:00

Posting wrote a notification row per member inside the POST (the members' delivery choices
read, one INSERT, emails rendered): a quarter of the request's CPU for a class of 30. Now the
message is stored with ``notices_due_at`` set and a job writes the members' notifications,
clearing it in the same transaction; a sweep queues the job again for a message whose job never
reached a worker (Redis down at the commit, a lost job). The partial index holds only the few
messages still owing.
"""
from alembic import op
import sqlalchemy as sa


revision = '0016_message_notices_owed'
down_revision = '0015_segment_per_join'
branch_labels = None
depends_on = None

OWING = sa.text("notices_due_at IS NOT NULL")


def upgrade():
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('notices_due_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_messages_notices_due_at', ['notices_due_at'],
                              sqlite_where=OWING, postgresql_where=OWING)


def downgrade():
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('ix_messages_notices_due_at', sqlite_where=OWING,
                            postgresql_where=OWING)
        batch_op.drop_column('notices_due_at')
