"""transfers: index the sender's claim by (partner, status, id)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 17:05:00
"""
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('transfers', schema=None) as batch_op:
        batch_op.drop_index('ix_transfers_due')
        batch_op.create_index('ix_transfers_sendable', ['partner', 'status', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('transfers', schema=None) as batch_op:
        batch_op.drop_index('ix_transfers_sendable')
        batch_op.create_index('ix_transfers_due', ['partner', 'status', 'next_attempt_at'], unique=False)
