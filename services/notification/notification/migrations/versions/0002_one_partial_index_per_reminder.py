"""one partial index per reminder: a reminded request leaves the index

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 16:35:20.110754
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('request_projections', schema=None) as batch_op:
        batch_op.drop_index('ix_request_projections_active_start')
        batch_op.create_index('ix_request_projections_near_due', ['desired_start_date'], unique=False, sqlite_where=sa.text("status = 'active' AND NOT near_sent"), postgresql_where=sa.text("status = 'active' AND NOT near_sent"))
        batch_op.create_index('ix_request_projections_passed_due', ['desired_start_date'], unique=False, sqlite_where=sa.text("status = 'active' AND NOT passed_sent"), postgresql_where=sa.text("status = 'active' AND NOT passed_sent"))



def downgrade():
    with op.batch_alter_table('request_projections', schema=None) as batch_op:
        batch_op.drop_index('ix_request_projections_passed_due', sqlite_where=sa.text("status = 'active' AND NOT passed_sent"), postgresql_where=sa.text("status = 'active' AND NOT passed_sent"))
        batch_op.drop_index('ix_request_projections_near_due', sqlite_where=sa.text("status = 'active' AND NOT near_sent"), postgresql_where=sa.text("status = 'active' AND NOT near_sent"))
        batch_op.create_index('ix_request_projections_active_start', ['desired_start_date'], unique=False, sqlite_where=sa.text("status = 'active'"), postgresql_where=sa.text("status = 'active'"))

