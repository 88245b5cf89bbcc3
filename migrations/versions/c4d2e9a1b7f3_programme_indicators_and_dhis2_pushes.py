"""programme indicators and DHIS2 pushes

- ``sites.dhis2_org_unit``: the DHIS2 organisation unit a site reports as.
- ``dhis2_pushes``: one row for each push of a month's indicators to DHIS2,
  with DHIS2's import summary (shown on the operations page).
- ``ix_appointments_kind_due``: the indicators count a month's visits of one
  kind (refills, tests, doses); without it each count reads every appointment.
  On PostgreSQL it is built CONCURRENTLY, as the previous migration's indexes.

Revision ID: c4d2e9a1b7f3
Revises: b7d2e5a91c04
Create Date: 2026-12-05 19:45:00

"""
import sqlalchemy as sa
from alembic import op


revision = "c4d2e9a1b7f3"
down_revision = "b7d2e5a91c04"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dhis2_org_unit", sa.String(length=11), nullable=True))
    op.create_table(
        "dhis2_pushes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("values_sent", sa.Integer(), nullable=False),
        sa.Column("imported", sa.Integer(), nullable=True),
        sa.Column("updated", sa.Integer(), nullable=True),
        sa.Column("ignored", sa.Integer(), nullable=True),
        sa.Column("deleted", sa.Integer(), nullable=True),
        sa.Column("conflicts", sa.JSON(), nullable=True),
        sa.Column("error", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(["site_id"], ["sites.id"], name=op.f("fk_dhis2_pushes_site_id_sites"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dhis2_pushes")),
        sa.CheckConstraint("status IN ('running', 'ok', 'conflicts', 'failed')", name=op.f("ck_dhis2_pushes_status")),
    )
    op.create_index(op.f("ix_dhis2_pushes_period"), "dhis2_pushes", ["period"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        # CONCURRENTLY (outside the migration's transaction): millions of appointments keep taking writes.
        with op.get_context().autocommit_block():
            op.create_index("ix_appointments_kind_due", "appointments", ["kind", "due_date"],
                            postgresql_concurrently=True, if_not_exists=True)
        return
    with op.batch_alter_table("appointments", schema=None) as batch_op:
        batch_op.create_index("ix_appointments_kind_due", ["kind", "due_date"], unique=False)


def downgrade():
    with op.batch_alter_table("appointments", schema=None) as batch_op:
        batch_op.drop_index("ix_appointments_kind_due")
    op.drop_index("ix_dhis2_pushes_period", table_name="dhis2_pushes")
    op.drop_table("dhis2_pushes")
    with op.batch_alter_table("sites", schema=None) as batch_op:
        batch_op.drop_column("dhis2_org_unit")
