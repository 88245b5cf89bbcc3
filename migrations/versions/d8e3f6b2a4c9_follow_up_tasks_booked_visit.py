"""Follow-up of missed visits: the booked pick-up date, "up to date at enrolment", task outcomes

- clients.art_next_visit: the date the clinic booked for her next ART pick-up.
- infants.up_to_date_on: every dose due before this date was given, dates not recorded.
- tasks.visit_key / outcome / note: the visit a missed-visit task is about, and what the Mentor
  Mother found; a unique index on (client_id, kind, visit_key) keeps one task per client and visit
  (NULL keys, as other tasks have, are distinct). A new task kind, feeding_question.

Revision ID: d8e3f6b2a4c9
Revises: e3b9a4c7d1f2
Create Date: 2026-12-05 20:40:00.000000

"""
import sqlalchemy as sa
from alembic import op


revision = "d8e3f6b2a4c9"
down_revision = "e3b9a4c7d1f2"
branch_labels = None
depends_on = None

OLD_KINDS = ("kind IN ('callback', 'enrolment_request', 'undeliverable', 'missed_visit', 'inbound_sms', "
             "'transfer_request', 'hiv_status')")
NEW_KINDS = ("kind IN ('callback', 'enrolment_request', 'undeliverable', 'missed_visit', 'inbound_sms', "
             "'transfer_request', 'hiv_status', "
             "'feeding_question')")
OUTCOMES = ("outcome IS NULL OR outcome IN ('reached_will_come', 'reached_already_went', 'not_reachable', "
            "'wrong_number', 'transferred_out', 'died')")


def upgrade():
    op.add_column("clients", sa.Column("art_next_visit", sa.Date(), nullable=True))
    op.add_column("infants", sa.Column("up_to_date_on", sa.Date(), nullable=True))
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("visit_key", sa.String(length=60), nullable=True))
        batch_op.add_column(sa.Column("outcome", sa.String(length=30), nullable=True))
        batch_op.add_column(sa.Column("note", sa.Text(), nullable=True))
        batch_op.drop_constraint(op.f("ck_tasks_kind"), type_="check")
        batch_op.create_check_constraint("kind", NEW_KINDS)
        batch_op.create_check_constraint("outcome", OUTCOMES)
        batch_op.create_index("uq_tasks_client_kind_visit", ["client_id", "kind", "visit_key"], unique=True)


def downgrade():
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index("uq_tasks_client_kind_visit")
        batch_op.drop_constraint(op.f("ck_tasks_outcome"), type_="check")
        batch_op.drop_constraint(op.f("ck_tasks_kind"), type_="check")
        batch_op.create_check_constraint("kind", OLD_KINDS)
        batch_op.drop_column("note")
        batch_op.drop_column("outcome")
        batch_op.drop_column("visit_key")
    op.drop_column("infants", "up_to_date_on")
    op.drop_column("clients", "art_next_visit")
