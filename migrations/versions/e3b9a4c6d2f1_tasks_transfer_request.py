"""tasks.kind: transfer_request (a coordinator enrolling a number already enrolled at another site)

The admin approves (the client moves to the new site, history kept) or
rejects. Only the CHECK constraint on tasks.kind changes. PostgreSQL swaps it
in place; SQLite rebuilds the table (batch mode).

Revision ID: e3b9a4c6d2f1
Revises: d3a8f1c6b2e4
Create Date: 2026-12-05 20:30:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = "e3b9a4c6d2f1"
down_revision = "d3a8f1c6b2e4"
branch_labels = None
depends_on = None

BEFORE = ("callback", "enrolment_request", "undeliverable", "missed_visit", "inbound_sms")
AFTER = BEFORE + ("transfer_request",)


def _kinds(kinds) -> str:
    return "kind IN (" + ", ".join(f"'{k}'" for k in kinds) + ")"


def _swap(kinds) -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_tasks_kind"), type_="check")
        batch_op.create_check_constraint(op.f("ck_tasks_kind"), _kinds(kinds))


def upgrade():
    _swap(AFTER)


def downgrade():
    op.execute("DELETE FROM tasks WHERE kind = 'transfer_request'")
    _swap(BEFORE)
