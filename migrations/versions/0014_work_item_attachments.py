"""control center: a work item's optional attachment (stored as chat's attachments are)

Revision ID: 0014_work_item_attachments
Revises: 0013_control_center
Create Date: 2026-11-26 11:05:00
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0014_work_item_attachments'
down_revision = '0013_control_center'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('cc_work_items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attachment_key', sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column('attachment_filename', sa.String(length=200),
                                      nullable=False, server_default=''))
        batch_op.add_column(sa.Column('attachment_content_type', sa.String(length=100),
                                      nullable=False, server_default=''))
        batch_op.add_column(sa.Column('attachment_size', sa.Integer(), nullable=False,
                                      server_default='0'))
    # The defaults only fill the rows that exist; new rows get theirs from the model.
    with op.batch_alter_table('cc_work_items', schema=None) as batch_op:
        batch_op.alter_column('attachment_filename', server_default=None)
        batch_op.alter_column('attachment_content_type', server_default=None)
        batch_op.alter_column('attachment_size', server_default=None)


def downgrade():
    with op.batch_alter_table('cc_work_items', schema=None) as batch_op:
        batch_op.drop_column('attachment_size')
        batch_op.drop_column('attachment_content_type')
        batch_op.drop_column('attachment_filename')
        batch_op.drop_column('attachment_key')
