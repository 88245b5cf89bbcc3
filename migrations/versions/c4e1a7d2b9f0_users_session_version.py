"""users.session_version: ending every console session of a user at once

Console sessions are signed cookies the server cannot delete. Each one
carries the user's session_version as it was at sign-in; signing out,
changing the password and deactivation bump it, so every cookie issued
before is refused from then on.

Revision ID: c4e1a7d2b9f0
Revises: 91a4bef4c53d
Create Date: 2026-12-05 19:50:00

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'c4e1a7d2b9f0'
down_revision = '91a4bef4c53d'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_version", sa.Integer(), server_default="0", nullable=False))


def downgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("session_version")
