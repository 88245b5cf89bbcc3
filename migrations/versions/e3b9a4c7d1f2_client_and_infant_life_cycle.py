"""The life cycle of a client and an infant: HIV status, closing and reopening, infant test results

clients: hiv_status (positive / negative / unknown; clients already on ART or with an HIV-exposed
infant become positive, every other one unknown), status (active / closed), closed_reason,
closed_on, reopened_on, art_started (the day she started ART). infants: status, closed_reason, closed_on, reopened_on, hiv_result, and the child's own ART
(art_last_dispensed, art_days_supply). doses_given: result (an infant HIV test's result). tasks.kind may be
hiv_status (a Mentor Mother finds out the status of a mother whose baby was registered over USSD).

Every new column is nullable or has a constant server default, so adding it is instant on
PostgreSQL (no table rewrite).

Revision ID: e3b9a4c7d1f2
Revises: e3b9a4c6d2f1
Create Date: 2026-12-05 20:30:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = "e3b9a4c7d1f2"
down_revision = "e3b9a4c6d2f1"
branch_labels = None
depends_on = None

TASK_KINDS_BEFORE = "'callback', 'enrolment_request', 'undeliverable', 'missed_visit', 'inbound_sms', 'transfer_request'"
TASK_KINDS_NOW = TASK_KINDS_BEFORE + ", 'hiv_status'"


def upgrade():
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("hiv_status", sa.String(length=10), nullable=False, server_default="unknown"))
        batch_op.add_column(sa.Column("status", sa.String(length=8), nullable=False, server_default="active"))
        batch_op.add_column(sa.Column("closed_reason", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("closed_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("reopened_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("art_started", sa.Date(), nullable=True))
        batch_op.create_check_constraint(op.f("ck_clients_hiv_status"), "hiv_status IN ('positive', 'negative', 'unknown')")
        batch_op.create_check_constraint(op.f("ck_clients_status"), "status IN ('active', 'closed')")
    with op.batch_alter_table("infants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("status", sa.String(length=8), nullable=False, server_default="active"))
        batch_op.add_column(sa.Column("closed_reason", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("closed_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("reopened_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("hiv_result", sa.String(length=14), nullable=True))
        batch_op.add_column(sa.Column("art_last_dispensed", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("art_days_supply", sa.SmallInteger(), nullable=True))
        batch_op.create_check_constraint(op.f("ck_infants_status"), "status IN ('active', 'closed')")
        batch_op.create_check_constraint(
            op.f("ck_infants_hiv_result"), "hiv_result IS NULL OR hiv_result IN ('negative', 'positive', 'indeterminate')")
    with op.batch_alter_table("doses_given", schema=None) as batch_op:
        batch_op.add_column(sa.Column("result", sa.String(length=14), nullable=True))
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_tasks_kind"), type_="check")
        batch_op.create_check_constraint(op.f("ck_tasks_kind"), f"kind IN ({TASK_KINDS_NOW})")
    # A client on ART, or the mother of an HIV-exposed infant, is living with HIV.
    op.execute("UPDATE clients SET hiv_status = 'positive' WHERE art_last_dispensed IS NOT NULL OR EXISTS "
               "(SELECT 1 FROM infants WHERE infants.client_id = clients.id AND infants.hiv_exposed)")


def downgrade():
    op.execute("DELETE FROM tasks WHERE kind = 'hiv_status'")
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_tasks_kind"), type_="check")
        batch_op.create_check_constraint(op.f("ck_tasks_kind"), f"kind IN ({TASK_KINDS_BEFORE})")
    with op.batch_alter_table("doses_given", schema=None) as batch_op:
        batch_op.drop_column("result")
    with op.batch_alter_table("infants", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_infants_hiv_result"), type_="check")
        batch_op.drop_constraint(op.f("ck_infants_status"), type_="check")
        for column in ("art_days_supply", "art_last_dispensed", "hiv_result", "reopened_on", "closed_on", "closed_reason", "status"):
            batch_op.drop_column(column)
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_clients_status"), type_="check")
        batch_op.drop_constraint(op.f("ck_clients_hiv_status"), type_="check")
        for column in ("art_started", "reopened_on", "closed_on", "closed_reason", "status", "hiv_status"):
            batch_op.drop_column(column)
