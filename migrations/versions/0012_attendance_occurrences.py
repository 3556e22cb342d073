"""attendance: records per scheduled occurrence (marks before the run), catch-up work

Revision ID: 0012_attendance_occurrences
Revises: 0011_attendance
Create Date: 2026-11-26 09:55:00

A scheduled occurrence's attendance records carry its session and start, so a teacher can mark
someone before the run exists (run_id NULL until the run starts and adopts the row) and the
grids read a series or a course without joining runs. A catch-up, likewise, may exist without
a run (an occurrence held without a call), and gains the work the teacher assigned.
"""
from alembic import op
import sqlalchemy as sa


revision = '0012_attendance_occurrences'
down_revision = '0011_attendance'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('attendance_records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('occurrence_start', sa.DateTime(timezone=True),
                                      nullable=True))
        batch_op.alter_column('run_id', existing_type=sa.Integer(), nullable=True)
        batch_op.create_foreign_key(
            batch_op.f('fk_attendance_records_session_id_video_sessions'), 'video_sessions',
            ['session_id'], ['id'], ondelete='CASCADE')
        batch_op.create_unique_constraint(
            batch_op.f('uq_attendance_records_session_id_occurrence_start_user_id'),
            ['session_id', 'occurrence_start', 'user_id'])
    # Records made before this revision belong to runs: give them their run's occurrence.
    op.execute("""
        UPDATE attendance_records SET
          session_id = (SELECT live_runs.session_id FROM live_runs
                        WHERE live_runs.id = attendance_records.run_id),
          occurrence_start = (SELECT live_runs.occurrence_start FROM live_runs
                              WHERE live_runs.id = attendance_records.run_id)
    """)
    with op.batch_alter_table('attendance_catch_ups', schema=None) as batch_op:
        batch_op.alter_column('run_id', existing_type=sa.Integer(), nullable=True)
        batch_op.create_unique_constraint(
            batch_op.f('uq_attendance_catch_ups_session_id_occurrence_start_user_id'),
            ['session_id', 'occurrence_start', 'user_id'])
        batch_op.add_column(sa.Column('assigned_work', sa.Text(), nullable=False,
                                      server_default=''))
        batch_op.add_column(sa.Column('assigned_link', sa.Text(), nullable=False,
                                      server_default=''))


def downgrade():
    with op.batch_alter_table('attendance_catch_ups', schema=None) as batch_op:
        batch_op.drop_column('assigned_link')
        batch_op.drop_column('assigned_work')
        batch_op.drop_constraint(
            batch_op.f('uq_attendance_catch_ups_session_id_occurrence_start_user_id'),
            type_='unique')
    op.execute("DELETE FROM attendance_catch_ups WHERE run_id IS NULL")
    with op.batch_alter_table('attendance_catch_ups', schema=None) as batch_op:
        batch_op.alter_column('run_id', existing_type=sa.Integer(), nullable=False)
    op.execute("DELETE FROM attendance_records WHERE run_id IS NULL")
    with op.batch_alter_table('attendance_records', schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f('uq_attendance_records_session_id_occurrence_start_user_id'),
            type_='unique')
        batch_op.drop_constraint(
            batch_op.f('fk_attendance_records_session_id_video_sessions'), type_='foreignkey')
        batch_op.alter_column('run_id', existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column('occurrence_start')
        batch_op.drop_column('session_id')
