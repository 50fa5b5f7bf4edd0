"""enrollment departures: the day a child left its facility, recorded when and by whom

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('enrollments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('left_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('departure_recorded_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('departure_recorded_by', sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table('enrollments', schema=None) as batch_op:
        batch_op.drop_column('departure_recorded_by')
        batch_op.drop_column('departure_recorded_at')
        batch_op.drop_column('left_on')
