"""group session rules; sessions remember their group and who made them

Revision ID: 0007_group_session_rules
Revises: 0006_invitations
Create Date: 2026-11-27 11:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0007_group_session_rules'
down_revision = '0006_invitations'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('group_session_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('center_id', sa.Integer(), nullable=False),
    sa.Column('thread_id', sa.Integer(), nullable=False),
    sa.Column('scheduled_by', sa.Enum('OWNER', 'CO_TEACHERS', 'MEMBERS', name='group_creators', native_enum=False, length=20), nullable=False),
    sa.Column('instant_calls_by', sa.Enum('OWNER', 'CO_TEACHERS', 'MEMBERS', name='group_creators', native_enum=False, length=20), nullable=False),
    sa.Column('approval_required', sa.Boolean(), nullable=False),
    sa.Column('min_notice_hours', sa.Integer(), nullable=False),
    sa.Column('slots', sa.JSON(), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('default_duration_minutes', sa.Integer(), nullable=False),
    sa.Column('default_type', sa.Enum('CLASS', 'ONE_ON_ONE', 'GROUP_MEETING', 'INSTANT', name='session_type', native_enum=False, length=20), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['center_id'], ['centers.id'], name=op.f('fk_group_session_rules_center_id_centers')),
    sa.ForeignKeyConstraint(['thread_id'], ['threads.id'], name=op.f('fk_group_session_rules_thread_id_threads'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['updated_by_id'], ['users.id'], name=op.f('fk_group_session_rules_updated_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_group_session_rules')),
    sa.UniqueConstraint('thread_id', name=op.f('uq_group_session_rules_thread_id'))
    )
    with op.batch_alter_table('group_session_rules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_group_session_rules_center_id'), ['center_id'], unique=False)

    with op.batch_alter_table('video_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('group_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('created_by_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_video_sessions_group_id'), ['group_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_video_sessions_group_id_threads'), 'threads', ['group_id'], ['id'], ondelete='SET NULL')
        batch_op.create_foreign_key(batch_op.f('fk_video_sessions_created_by_id_users'), 'users', ['created_by_id'], ['id'])


def downgrade():
    with op.batch_alter_table('video_sessions', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_video_sessions_created_by_id_users'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_video_sessions_group_id_threads'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_video_sessions_group_id'))
        batch_op.drop_column('created_by_id')
        batch_op.drop_column('group_id')

    with op.batch_alter_table('group_session_rules', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_group_session_rules_center_id'))

    op.drop_table('group_session_rules')
