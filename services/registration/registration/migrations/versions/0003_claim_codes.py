"""claim codes: a parent's account claims a dossier registered for them

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('claim_codes',
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('dossier_id', sa.String(length=36), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('used_by_account_id', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['dossier_id'], ['dossiers.id'], name=op.f('fk_claim_codes_dossier_id_dossiers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('code_hash', name=op.f('pk_claim_codes'))
    )
    with op.batch_alter_table('claim_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_claim_codes_dossier_id'), ['dossier_id'], unique=False)


def downgrade():
    with op.batch_alter_table('claim_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_claim_codes_dossier_id'))
    op.drop_table('claim_codes')
