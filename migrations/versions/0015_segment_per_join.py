"""live: a segment per join (a page leaving and joining again over one socket opens another)

Revision ID: 0015_segment_per_join
Revises: 0014_work_item_attachments
Create Date: 2026-11-26 10:55:00

A connection had one segment per run, reopened on a second join: the time between a Leave and
the next Join on the same page counted as presence and as one join. Now at most one segment
of a connection is open (a partial unique index); closed ones stay as they were.
"""
from alembic import op
import sqlalchemy as sa


revision = '0015_segment_per_join'
down_revision = '0014_work_item_attachments'
branch_labels = None
depends_on = None

OPEN = sa.text("left_at IS NULL")


def upgrade():
    with op.batch_alter_table('live_segments', schema=None) as batch_op:
        batch_op.drop_constraint('uq_live_segments_run_id_connection_id', type_='unique')
        batch_op.create_index('uq_live_segments_open_connection', ['run_id', 'connection_id'],
                              unique=True, sqlite_where=OPEN, postgresql_where=OPEN)


def downgrade():
    # Keep the latest segment of each connection (the older stays would break the old rule).
    op.execute("""
        DELETE FROM live_segments WHERE id NOT IN (
            SELECT MAX(id) FROM live_segments GROUP BY run_id, connection_id)
    """)
    with op.batch_alter_table('live_segments', schema=None) as batch_op:
        batch_op.drop_index('uq_live_segments_open_connection', sqlite_where=OPEN,
                            postgresql_where=OPEN)
        batch_op.create_unique_constraint('uq_live_segments_run_id_connection_id',
                                          ['run_id', 'connection_id'])
