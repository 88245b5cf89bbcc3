"""welcome SMS and broadcasts

A message may now be a client's welcome SMS (``kind = 'welcome'``, at most
one per client: a partial unique index) or one recipient's copy of a
broadcast (``kind = 'broadcast'``, ``broadcast_id``). The ``broadcasts``
table keeps who wrote what to whom, and how many it reached.

The new columns are NULL for every existing message, so adding them is
quick. On PostgreSQL the two indexes on ``messages`` are built CONCURRENTLY
(outside the migration's transaction): a live table of millions of messages
keeps taking writes while they are built.

Revision ID: b7d2e5a91c04
Revises: b7d2e4f1a9c3
Create Date: 2026-12-05 19:50:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b7d2e5a91c04'
down_revision = "b7d2e4f1a9c3"
branch_labels = None
depends_on = None

WELCOME = sa.text("kind = 'welcome'")


def upgrade():
    op.create_table('broadcasts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('audience', sa.String(length=12), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=True),
    sa.Column('visit_date', sa.Date(), nullable=True),
    sa.Column('urgent', sa.Boolean(), nullable=False),
    sa.Column('segments', sa.SmallInteger(), nullable=False),
    sa.Column('recipients', sa.Integer(), nullable=False),
    sa.Column('skipped_opted_out', sa.Integer(), nullable=False),
    sa.Column('skipped_daily', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("audience IN ('site', 'visit_date', 'all')", name=op.f('ck_broadcasts_audience')),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_broadcasts_site_id_sites')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_broadcasts_user_id_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_broadcasts'))
    )
    with op.batch_alter_table('broadcasts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_broadcasts_site_id'), ['site_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_broadcasts_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column('broadcast_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_messages_broadcast_id_broadcasts'), 'broadcasts',
                                    ['broadcast_id'], ['id'], ondelete='SET NULL')
        batch_op.create_check_constraint(op.f('ck_messages_kind'), "kind IS NULL OR kind IN ('welcome', 'broadcast')")

    if op.get_bind().dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            op.create_index('ix_messages_broadcast_id', 'messages', ['broadcast_id'], postgresql_concurrently=True,
                            if_not_exists=True)
            op.create_index('uq_messages_welcome', 'messages', ['client_id'], unique=True,
                            postgresql_where=WELCOME, postgresql_concurrently=True, if_not_exists=True)
        return
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.create_index('ix_messages_broadcast_id', ['broadcast_id'], unique=False)
        batch_op.create_index('uq_messages_welcome', ['client_id'], unique=True, sqlite_where=WELCOME)


def downgrade():
    with op.batch_alter_table('messages', schema=None) as batch_op:
        batch_op.drop_index('uq_messages_welcome')
        batch_op.drop_index('ix_messages_broadcast_id')
        batch_op.drop_constraint(batch_op.f('ck_messages_kind'), type_='check')
        batch_op.drop_constraint(batch_op.f('fk_messages_broadcast_id_broadcasts'), type_='foreignkey')
        batch_op.drop_column('broadcast_id')
        batch_op.drop_column('kind')
    with op.batch_alter_table('broadcasts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_broadcasts_user_id'))
        batch_op.drop_index(batch_op.f('ix_broadcasts_site_id'))
    op.drop_table('broadcasts')
