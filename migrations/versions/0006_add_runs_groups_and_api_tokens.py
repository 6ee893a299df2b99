"""add_runs_groups_and_api_tokens

Runs of one presentation (series_key shared by the runs, run_date, place; question lineage
shared by a question's copies in other runs), what the projector shows beside a question's
results (split by group, the earlier round beside this one), groups participants pick when joining (and the
threshold below which a group is not shown apart), paper counts (participant.paper), a
retention period per run, and personal API tokens (stored hashed).

Existing presentations each become a series of one run, existing questions a lineage of one.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 04:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# A table SQLite rebuilds keeps AUTOINCREMENT only when told again (see 0003).
KEEP_AUTOINCREMENT = {"table_kwargs": {"sqlite_autoincrement": True}}


def _keep() -> dict:
    return KEEP_AUTOINCREMENT if op.get_bind().dialect.name == "sqlite" else {}


def upgrade() -> None:
    key = sqlmodel.sql.sqltypes.AutoString(length=32)
    with op.batch_alter_table('presentation', schema=None, **_keep()) as batch_op:
        batch_op.add_column(sa.Column('series_key', key, nullable=True))
        batch_op.add_column(sa.Column('run_date', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('place', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
        batch_op.add_column(sa.Column('groups', sa.JSON(), nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('group_threshold', sa.Integer(), nullable=False, server_default='3'))
        batch_op.add_column(sa.Column('retention_days', sa.Integer(), nullable=True))
    op.execute("UPDATE presentation SET series_key = 'p' || CAST(id AS VARCHAR)")
    with op.batch_alter_table('presentation', schema=None, **_keep()) as batch_op:
        batch_op.alter_column('series_key', existing_type=key, nullable=False)
        batch_op.alter_column('groups', existing_type=sa.JSON(), server_default=None)
        batch_op.alter_column('group_threshold', existing_type=sa.Integer(), server_default=None)
        batch_op.create_index(batch_op.f('ix_presentation_series_key'), ['series_key'], unique=False)

    with op.batch_alter_table('question', schema=None, **_keep()) as batch_op:
        batch_op.add_column(sa.Column('lineage', key, nullable=True))
        batch_op.add_column(sa.Column('split_groups', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('compare_rounds', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute("UPDATE question SET lineage = 'q' || CAST(id AS VARCHAR)")
    with op.batch_alter_table('question', schema=None, **_keep()) as batch_op:
        batch_op.alter_column('lineage', existing_type=key, nullable=False)
        batch_op.alter_column('split_groups', existing_type=sa.Boolean(), server_default=None)
        batch_op.alter_column('compare_rounds', existing_type=sa.Boolean(), server_default=None)
        batch_op.create_index(batch_op.f('ix_question_lineage'), ['lineage'], unique=False)

    with op.batch_alter_table('participant', schema=None, **_keep()) as batch_op:
        batch_op.add_column(sa.Column('group_name', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True))
        batch_op.add_column(sa.Column('paper', sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table('participant', schema=None, **_keep()) as batch_op:
        batch_op.alter_column('paper', existing_type=sa.Boolean(), server_default=None)

    op.create_table('api_token',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('token_hash', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('prefix', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('last_used_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('revoked_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['owner_id'], ['user.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_token_owner_id'), ['owner_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('api_token', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_token_owner_id'))
    op.drop_table('api_token')
    with op.batch_alter_table('participant', schema=None, **_keep()) as batch_op:
        batch_op.drop_column('paper')
        batch_op.drop_column('group_name')
    with op.batch_alter_table('question', schema=None, **_keep()) as batch_op:
        batch_op.drop_index(batch_op.f('ix_question_lineage'))
        batch_op.drop_column('compare_rounds')
        batch_op.drop_column('split_groups')
        batch_op.drop_column('lineage')
    with op.batch_alter_table('presentation', schema=None, **_keep()) as batch_op:
        batch_op.drop_index(batch_op.f('ix_presentation_series_key'))
        batch_op.drop_column('retention_days')
        batch_op.drop_column('group_threshold')
        batch_op.drop_column('groups')
        batch_op.drop_column('place')
        batch_op.drop_column('run_date')
        batch_op.drop_column('series_key')
