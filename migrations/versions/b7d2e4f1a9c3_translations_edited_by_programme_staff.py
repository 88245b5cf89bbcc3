"""translations edited by programme staff

The shipped catalogue files (gateway/i18n/<lang>.yaml) are the base; a row
here is a text a native speaker on the programme's staff wrote or corrected
on the console's Translations page (or imported as a PO file). A reviewed row
overrides the shipped text for its language and key; a draft row is work in
progress that no client sees. docs/translations.md tells the whole story.

Revision ID: b7d2e4f1a9c3
Revises: c7d2e5a1f3b8
Create Date: 2026-12-05 19:45:00

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'b7d2e4f1a9c3'
down_revision = "c7d2e5a1f3b8"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "translations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("state IN ('draft', 'reviewed')", name=op.f("ck_translations_state")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_translations")),
        sa.UniqueConstraint("language", "key", name=op.f("uq_translations_language")),
    )


def downgrade():
    op.drop_table("translations")
