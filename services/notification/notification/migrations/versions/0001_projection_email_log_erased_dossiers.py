"""projection, email log, erased dossiers

Revision ID: 0001
Revises: 
Create Date: 2026-11-28 16:11:10.159866
"""
from alembic import op
import sqlalchemy as sa

from loket.migrations import create_platform_tables, drop_platform_tables


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('dossier_projections',
    sa.Column('dossier_id', sa.String(length=64), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.Column('recipient', sa.String(length=320), nullable=True),
    sa.Column('language', sa.String(length=2), nullable=False),
    sa.Column('applicant_first_name', sa.String(length=100), nullable=False),
    sa.Column('restricted', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('dossier_id', name=op.f('pk_dossier_projections'))
    )
    op.create_table('email_log',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('idempotency_key', sa.String(length=200), nullable=False),
    sa.Column('message_id', sa.String(length=120), nullable=True),
    sa.Column('dossier_id', sa.String(length=64), nullable=False),
    sa.Column('event_id', sa.String(length=64), nullable=True),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('language', sa.String(length=2), nullable=False),
    sa.Column('recipient', sa.String(length=320), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.String(length=200), nullable=True),
    sa.Column('context', sa.JSON(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('queued', 'sent', 'parked')", name=op.f('ck_email_log_status')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_email_log')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_email_log_idempotency_key'))
    )
    with op.batch_alter_table('email_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_email_log_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_email_log_dossier_id'), ['dossier_id'], unique=False)
        batch_op.create_index('ix_email_log_status_next_attempt', ['status', 'next_attempt_at'], unique=False)

    op.create_table('erased_dossiers',
    sa.Column('dossier_id', sa.String(length=64), nullable=False),
    sa.Column('erased_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('dossier_id', name=op.f('pk_erased_dossiers'))
    )
    op.create_table('request_projections',
    sa.Column('request_id', sa.String(length=64), nullable=False),
    sa.Column('dossier_id', sa.String(length=64), nullable=False),
    sa.Column('child_first_name', sa.String(length=100), nullable=True),
    sa.Column('desired_start_date', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('near_sent', sa.Boolean(), nullable=False),
    sa.Column('passed_sent', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['dossier_id'], ['dossier_projections.dossier_id'], name=op.f('fk_request_projections_dossier_id_dossier_projections'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('request_id', name=op.f('pk_request_projections'))
    )
    with op.batch_alter_table('request_projections', schema=None) as batch_op:
        batch_op.create_index('ix_request_projections_active_start', ['desired_start_date'], unique=False, sqlite_where=sa.text("status = 'active'"), postgresql_where=sa.text("status = 'active'"))
        batch_op.create_index(batch_op.f('ix_request_projections_dossier_id'), ['dossier_id'], unique=False)

    create_platform_tables()


def downgrade():
    drop_platform_tables()
    with op.batch_alter_table('request_projections', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_request_projections_dossier_id'))
        batch_op.drop_index('ix_request_projections_active_start', sqlite_where=sa.text("status = 'active'"), postgresql_where=sa.text("status = 'active'"))

    op.drop_table('request_projections')
    op.drop_table('erased_dossiers')
    with op.batch_alter_table('email_log', schema=None) as batch_op:
        batch_op.drop_index('ix_email_log_status_next_attempt')
        batch_op.drop_index(batch_op.f('ix_email_log_dossier_id'))
        batch_op.drop_index(batch_op.f('ix_email_log_created_at'))

    op.drop_table('email_log')
    op.drop_table('dossier_projections')
