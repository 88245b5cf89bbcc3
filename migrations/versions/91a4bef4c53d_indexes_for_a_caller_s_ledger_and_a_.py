"""indexes for a caller's ledger and a number's tasks

A USSD effect reads its caller's ledger (audit entries by actor) and, for an
unknown number, her open enrolment request (tasks by phone) before acting;
without these indexes both read every task's rows, a cost that grows with
the programme.

On PostgreSQL the indexes are built CONCURRENTLY (outside the migration's
transaction), so a live audit log of millions of rows keeps taking writes
while they are built.

Revision ID: 91a4bef4c53d
Revises: 6f47732d4365
Create Date: 2026-11-23 16:19:29.926535

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '91a4bef4c53d'
down_revision = '6f47732d4365'
branch_labels = None
depends_on = None

INDEXES = (("audit_log", "ix_audit_actor_at", ["actor", "at"]), ("tasks", "ix_tasks_phone_kind", ["phone", "kind"]))


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            for table, name, columns in INDEXES:
                op.create_index(name, table, columns, postgresql_concurrently=True, if_not_exists=True)
        return
    for table, name, columns in INDEXES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(name, columns, unique=False)


def downgrade():
    for table, name, _ in reversed(INDEXES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(name)
