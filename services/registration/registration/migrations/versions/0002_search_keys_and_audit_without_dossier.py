"""search keys of last names; audit entries without a dossier

The helpdesk searches applicants and partners by last name, case and accents ignored: a key column
kept by the models (registration.models.name_key), filled here for the rows that exist. A refused
search concerns no dossier, so an audit entry may have none.

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa

from registration.models import NAME_KEY_LENGTH, name_key

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

PEOPLE = ('applicants', 'partners')


def _fill_keys(table_name):
    table = sa.table(table_name, sa.column('dossier_id', sa.String), sa.column('last_name', sa.String),
                     sa.column('last_name_key', sa.String))
    connection = op.get_bind()
    rows = connection.execute(sa.select(table.c.dossier_id, table.c.last_name)).all()
    for dossier_id, last_name in rows:
        connection.execute(table.update().where(table.c.dossier_id == dossier_id)
                           .values(last_name_key=name_key(last_name)))


def upgrade():
    for table_name in PEOPLE:
        with op.batch_alter_table(table_name, schema=None) as batch_op:
            batch_op.add_column(sa.Column('last_name_key', sa.String(length=NAME_KEY_LENGTH), nullable=True))
        _fill_keys(table_name)
        with op.batch_alter_table(table_name, schema=None) as batch_op:
            batch_op.alter_column('last_name_key', existing_type=sa.String(length=NAME_KEY_LENGTH), nullable=False)
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.alter_column('dossier_id', existing_type=sa.String(length=36), nullable=True)


def downgrade():
    op.execute(sa.text('DELETE FROM audit_log WHERE dossier_id IS NULL'))
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.alter_column('dossier_id', existing_type=sa.String(length=36), nullable=False)
    for table_name in PEOPLE:
        with op.batch_alter_table(table_name, schema=None) as batch_op:
            batch_op.drop_column('last_name_key')
