"""control center: student plans and work items, help requests, tutor notes, timers, reports

Revision ID: 0013_control_center
Revises: 0012_attendance_occurrences
Create Date: 2026-11-26 10:10:00

Rows are keyed by the scheduled occurrence (session, occurrence start) so a tutor plans before
the run exists. One open help request per student per run is a partial unique index (WHERE
status is PENDING or IN_PROGRESS), which both SQLite and PostgreSQL enforce.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0013_control_center'
down_revision = '0012_attendance_occurrences'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('cc_lesson_reports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('center_id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('occurrence_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('student_id', sa.Integer(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('drafted_by_id', sa.Integer(), nullable=False),
    sa.Column('sent_by_id', sa.Integer(), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['center_id'], ['centers.id'], name=op.f('fk_cc_lesson_reports_center_id_centers')),
    sa.ForeignKeyConstraint(['drafted_by_id'], ['users.id'], name=op.f('fk_cc_lesson_reports_drafted_by_id_users')),
    sa.ForeignKeyConstraint(['sent_by_id'], ['users.id'], name=op.f('fk_cc_lesson_reports_sent_by_id_users')),
    sa.ForeignKeyConstraint(['session_id'], ['video_sessions.id'], name=op.f('fk_cc_lesson_reports_session_id_video_sessions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['student_id'], ['users.id'], name=op.f('fk_cc_lesson_reports_student_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cc_lesson_reports')),
    sa.UniqueConstraint('session_id', 'occurrence_start', 'student_id', name=op.f('uq_cc_lesson_reports_session_id_occurrence_start_student_id'))
    )
    with op.batch_alter_table('cc_lesson_reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cc_lesson_reports_center_id'), ['center_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cc_lesson_reports_student_id'), ['student_id'], unique=False)

    op.create_table('cc_student_plans',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('center_id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('occurrence_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('student_id', sa.Integer(), nullable=False),
    sa.Column('tutor_id', sa.Integer(), nullable=False),
    sa.Column('subject', sa.String(length=100), nullable=False),
    sa.Column('current_level', sa.String(length=60), nullable=False),
    sa.Column('working_level', sa.String(length=60), nullable=False),
    sa.Column('goal', sa.Text(), nullable=False),
    sa.Column('mode', sa.Enum('TEACH', 'OBSERVE', name='cc_plan_mode', native_enum=False, length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['center_id'], ['centers.id'], name=op.f('fk_cc_student_plans_center_id_centers')),
    sa.ForeignKeyConstraint(['session_id'], ['video_sessions.id'], name=op.f('fk_cc_student_plans_session_id_video_sessions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['student_id'], ['users.id'], name=op.f('fk_cc_student_plans_student_id_users')),
    sa.ForeignKeyConstraint(['tutor_id'], ['users.id'], name=op.f('fk_cc_student_plans_tutor_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cc_student_plans')),
    sa.UniqueConstraint('session_id', 'occurrence_start', 'student_id', name=op.f('uq_cc_student_plans_session_id_occurrence_start_student_id'))
    )
    with op.batch_alter_table('cc_student_plans', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cc_student_plans_center_id'), ['center_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cc_student_plans_student_id'), ['student_id'], unique=False)

    op.create_table('cc_tutor_notes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('center_id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('occurrence_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('student_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('visibility', sa.Enum('TUTOR_ONLY', 'SHARED', name='cc_note_visibility', native_enum=False, length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_cc_tutor_notes_author_id_users')),
    sa.ForeignKeyConstraint(['center_id'], ['centers.id'], name=op.f('fk_cc_tutor_notes_center_id_centers')),
    sa.ForeignKeyConstraint(['session_id'], ['video_sessions.id'], name=op.f('fk_cc_tutor_notes_session_id_video_sessions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['student_id'], ['users.id'], name=op.f('fk_cc_tutor_notes_student_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cc_tutor_notes'))
    )
    with op.batch_alter_table('cc_tutor_notes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cc_tutor_notes_center_id'), ['center_id'], unique=False)
        batch_op.create_index('ix_cc_tutor_notes_occurrence', ['session_id', 'occurrence_start'], unique=False)
        batch_op.create_index(batch_op.f('ix_cc_tutor_notes_student_id'), ['student_id'], unique=False)

    op.create_table('cc_work_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('center_id', sa.Integer(), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('link', sa.String(length=500), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('TO_DO', 'DOING', 'DONE', name='cc_work_status', native_enum=False, length=20), nullable=False),
    sa.Column('progress', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['center_id'], ['centers.id'], name=op.f('fk_cc_work_items_center_id_centers')),
    sa.ForeignKeyConstraint(['plan_id'], ['cc_student_plans.id'], name=op.f('fk_cc_work_items_plan_id_cc_student_plans'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cc_work_items'))
    )
    with op.batch_alter_table('cc_work_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cc_work_items_center_id'), ['center_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cc_work_items_plan_id'), ['plan_id'], unique=False)

    op.create_table('cc_help_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('center_id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('occurrence_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('student_id', sa.Integer(), nullable=False),
    sa.Column('priority', sa.Enum('LOW', 'NORMAL', 'HIGH', 'URGENT', name='cc_help_priority', native_enum=False, length=20), nullable=False),
    sa.Column('text', sa.String(length=280), nullable=False),
    sa.Column('status', sa.Enum('PENDING', 'IN_PROGRESS', 'RESOLVED', 'CANCELLED', name='cc_help_status', native_enum=False, length=20), nullable=False),
    sa.Column('claimed_by_id', sa.Integer(), nullable=True),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['center_id'], ['centers.id'], name=op.f('fk_cc_help_requests_center_id_centers')),
    sa.ForeignKeyConstraint(['claimed_by_id'], ['users.id'], name=op.f('fk_cc_help_requests_claimed_by_id_users')),
    sa.ForeignKeyConstraint(['run_id'], ['live_runs.id'], name=op.f('fk_cc_help_requests_run_id_live_runs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['session_id'], ['video_sessions.id'], name=op.f('fk_cc_help_requests_session_id_video_sessions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['student_id'], ['users.id'], name=op.f('fk_cc_help_requests_student_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cc_help_requests'))
    )
    with op.batch_alter_table('cc_help_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cc_help_requests_center_id'), ['center_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cc_help_requests_run_id'), ['run_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cc_help_requests_student_id'), ['student_id'], unique=False)
        batch_op.create_index('uq_cc_help_requests_one_open', ['run_id', 'student_id'], unique=True, sqlite_where=sa.text("status IN ('PENDING', 'IN_PROGRESS')"), postgresql_where=sa.text("status IN ('PENDING', 'IN_PROGRESS')"))

    op.create_table('cc_timers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('center_id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('occurrence_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=True),
    sa.Column('student_id', sa.Integer(), nullable=True),
    sa.Column('label', sa.String(length=120), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=False),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['center_id'], ['centers.id'], name=op.f('fk_cc_timers_center_id_centers')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_cc_timers_created_by_id_users')),
    sa.ForeignKeyConstraint(['run_id'], ['live_runs.id'], name=op.f('fk_cc_timers_run_id_live_runs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['session_id'], ['video_sessions.id'], name=op.f('fk_cc_timers_session_id_video_sessions'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['student_id'], ['users.id'], name=op.f('fk_cc_timers_student_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cc_timers'))
    )
    with op.batch_alter_table('cc_timers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cc_timers_center_id'), ['center_id'], unique=False)
        batch_op.create_index('ix_cc_timers_occurrence', ['session_id', 'occurrence_start'], unique=False)



def downgrade():
    with op.batch_alter_table('cc_timers', schema=None) as batch_op:
        batch_op.drop_index('ix_cc_timers_occurrence')
        batch_op.drop_index(batch_op.f('ix_cc_timers_center_id'))

    op.drop_table('cc_timers')
    with op.batch_alter_table('cc_help_requests', schema=None) as batch_op:
        batch_op.drop_index('uq_cc_help_requests_one_open', sqlite_where=sa.text("status IN ('PENDING', 'IN_PROGRESS')"), postgresql_where=sa.text("status IN ('PENDING', 'IN_PROGRESS')"))
        batch_op.drop_index(batch_op.f('ix_cc_help_requests_student_id'))
        batch_op.drop_index(batch_op.f('ix_cc_help_requests_run_id'))
        batch_op.drop_index(batch_op.f('ix_cc_help_requests_center_id'))

    op.drop_table('cc_help_requests')
    with op.batch_alter_table('cc_work_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cc_work_items_plan_id'))
        batch_op.drop_index(batch_op.f('ix_cc_work_items_center_id'))

    op.drop_table('cc_work_items')
    with op.batch_alter_table('cc_tutor_notes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cc_tutor_notes_student_id'))
        batch_op.drop_index('ix_cc_tutor_notes_occurrence')
        batch_op.drop_index(batch_op.f('ix_cc_tutor_notes_center_id'))

    op.drop_table('cc_tutor_notes')
    with op.batch_alter_table('cc_student_plans', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cc_student_plans_student_id'))
        batch_op.drop_index(batch_op.f('ix_cc_student_plans_center_id'))

    op.drop_table('cc_student_plans')
    with op.batch_alter_table('cc_lesson_reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cc_lesson_reports_student_id'))
        batch_op.drop_index(batch_op.f('ix_cc_lesson_reports_center_id'))

    op.drop_table('cc_lesson_reports')
