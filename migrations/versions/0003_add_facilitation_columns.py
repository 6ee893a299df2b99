"""add_facilitation_columns

What the question types and facilitation controls need: the QR link token and last activity of a
presentation (the typed code expires, the link keeps working), results hidden by default and
results on phones, a countdown per question, moderation of participants' text, removed
participants, earlier client keys of a ballot, word lists, and uploaded images.

On SQLite, presentation, question and participant are rebuilt with AUTOINCREMENT so a deleted
row's id is never given out again (tokens, topics and caches carry these ids). Foreign keys are
off during the rebuild (env.py), or dropping the old table would cascade to its children.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 01:10:00
"""

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AUTOINCREMENT = {"sqlite_autoincrement": True}


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def upgrade() -> None:
    sqlite = _sqlite()
    rebuild = {"recreate": "always", "table_kwargs": AUTOINCREMENT} if sqlite else {}

    with op.batch_alter_table('presentation', schema=None) as batch_op:
        batch_op.add_column(sa.Column('link_token', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
        batch_op.add_column(sa.Column('active_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('results_hidden_default', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('results_on_phones', sa.Boolean(), nullable=False, server_default=sa.false()))

    presentation = sa.table(
        'presentation',
        sa.column('id', sa.Integer()),
        sa.column('link_token', sa.String()),
        sa.column('active_at', sqlmodel.sql.sqltypes.UTCDateTime()),
        sa.column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime()),
    )
    bind = op.get_bind()
    for (pid,) in bind.execute(sa.select(presentation.c.id)).all():
        bind.execute(
            presentation.update()
            .where(presentation.c.id == pid)
            .values(link_token=secrets.token_urlsafe(16), active_at=presentation.c.updated_at)
        )

    with op.batch_alter_table('presentation', schema=None, **rebuild) as batch_op:
        batch_op.alter_column('link_token', existing_type=sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False)
        batch_op.alter_column('active_at', existing_type=sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False)
        batch_op.alter_column('results_hidden_default', existing_type=sa.Boolean(), server_default=None)
        batch_op.alter_column('results_on_phones', existing_type=sa.Boolean(), server_default=None)
        batch_op.create_unique_constraint(batch_op.f('uq_presentation_link_token'), ['link_token'])

    with op.batch_alter_table('question', schema=None, **rebuild) as batch_op:
        batch_op.add_column(sa.Column('countdown_seconds', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('closes_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))

    with op.batch_alter_table('participant', schema=None, **rebuild) as batch_op:
        batch_op.add_column(sa.Column('removed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))

    with op.batch_alter_table('ballot_item', schema=None) as batch_op:
        batch_op.add_column(sa.Column('moderation', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True))

    op.create_table('ballot_key',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ballot_id', sa.Integer(), nullable=False),
    sa.Column('client_key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('answer', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['ballot_id'], ['ballot.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('ballot_id', 'client_key')
    )
    op.create_table('word_list',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('language', sqlmodel.sql.sqltypes.AutoString(length=5), nullable=False),
    sa.Column('words', sa.Text(), nullable=False),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['owner_id'], ['user.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('owner_id', 'language')
    )
    op.create_table('upload',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('presentation_id', sa.Integer(), nullable=False),
    sa.Column('content_type', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('data', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['presentation_id'], ['presentation.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('upload', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_upload_presentation_id'), ['presentation_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('upload', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_upload_presentation_id'))
    op.drop_table('upload')
    op.drop_table('word_list')
    op.drop_table('ballot_key')
    with op.batch_alter_table('ballot_item', schema=None) as batch_op:
        batch_op.drop_column('moderation')
    with op.batch_alter_table('participant', schema=None) as batch_op:
        batch_op.drop_column('removed_at')
    with op.batch_alter_table('question', schema=None) as batch_op:
        batch_op.drop_column('closes_at')
        batch_op.drop_column('countdown_seconds')
    with op.batch_alter_table('presentation', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_presentation_link_token'), type_='unique')
        batch_op.drop_column('results_on_phones')
        batch_op.drop_column('results_hidden_default')
        batch_op.drop_column('active_at')
        batch_op.drop_column('link_token')
