"""sites.region: a site's district, county or province (optional)

Doses limited to some regions of a country (a malaria vaccine, yellow fever)
are planned only for clients of sites in those regions; the names are those of
the country's schedule file. Existing sites get none (NULL): their clients keep
every national dose and no region-limited one. Adding a nullable column
without a default is instant on PostgreSQL.

Revision ID: d3a8f1c6b2e4
Revises: c4d2e9a1b7f3
Create Date: 2026-12-05 20:45:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'd3a8f1c6b2e4'
down_revision = "c4d2e9a1b7f3"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("sites", sa.Column("region", sa.String(length=80), nullable=True))


def downgrade():
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.drop_column("region")
