"""claim failures: throttling the claim codes a parent's account tries

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
    op.create_table('claim_failures',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('account_id', sa.String(length=36), nullable=False),
    sa.Column('attempted_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_claim_failures_account_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_claim_failures'))
    )
    with op.batch_alter_table('claim_failures', schema=None) as batch_op:
        batch_op.create_index('ix_claim_failures_account', ['account_id', 'attempted_at'], unique=False)


def downgrade():
    with op.batch_alter_table('claim_failures', schema=None) as batch_op:
        batch_op.drop_index('ix_claim_failures_account')
    op.drop_table('claim_failures')
