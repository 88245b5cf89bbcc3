"""clients.clinic_number: a client's file number at her clinic, unique within her site

Optional (NULL for clients enrolled before, or without one). The unique index
on (clinic_number, site_id) both refuses a second client of a site with the
same number and serves the console's exact-match search (clinic_number
leads, so an admin's search across sites uses it too). NULLs are distinct in
a unique index, so any number of clients may have none.

On PostgreSQL the index is built CONCURRENTLY (outside the migration's
transaction), so a live clients table keeps taking writes meanwhile; adding a
nullable column without a default is instant.

Revision ID: c7d2e5a1f3b8
Revises: c4e1a7d2b9f0
Create Date: 2026-12-05 20:00:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'c7d2e5a1f3b8'
down_revision = "c4e1a7d2b9f0"
branch_labels = None
depends_on = None

INDEX = "uq_clients_clinic_number_site"
COLUMNS = ["clinic_number", "site_id"]


def upgrade():
    op.add_column("clients", sa.Column("clinic_number", sa.String(length=30), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            op.create_index(INDEX, "clients", COLUMNS, unique=True, postgresql_concurrently=True, if_not_exists=True)
        return
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.create_index(INDEX, COLUMNS, unique=True)


def downgrade():
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_index(INDEX)
        batch_op.drop_column("clinic_number")
