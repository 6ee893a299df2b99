"""add_rounds_quiz_and_qa

Rounds (a reset moves a question's ballots to an archived copy: parent_id, round), when voting
last opened (quiz points for fast answers), participants' nicknames (quiz leaderboard), and the
Q&A tables (entries with the facilitator's decisions, one upvote per participant per entry).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 01:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# A table SQLite rebuilds keeps AUTOINCREMENT only when told again (see 0003).
KEEP_AUTOINCREMENT = {"table_kwargs": {"sqlite_autoincrement": True}}


def _keep() -> dict:
    return KEEP_AUTOINCREMENT if op.get_bind().dialect.name == "sqlite" else {}


def upgrade() -> None:
    with op.batch_alter_table('question', schema=None, **_keep()) as batch_op:
        batch_op.add_column(sa.Column('opened_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('parent_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('round', sa.Integer(), nullable=False, server_default='1'))
        batch_op.create_index(batch_op.f('ix_question_parent_id'), ['parent_id'], unique=False)
        batch_op.create_foreign_key(
            batch_op.f('fk_question_parent_id_question'), 'question', ['parent_id'], ['id'],
            ondelete='CASCADE',
        )
    with op.batch_alter_table('question', schema=None, **_keep()) as batch_op:
        batch_op.alter_column('round', existing_type=sa.Integer(), server_default=None)

    with op.batch_alter_table('participant', schema=None, **_keep()) as batch_op:
        batch_op.add_column(sa.Column('nickname', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True))

    op.create_table('qa_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('question_id', sa.Integer(), nullable=False),
    sa.Column('participant_id', sa.Integer(), nullable=False),
    sa.Column('text', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
    sa.Column('answered', sa.Boolean(), nullable=False),
    sa.Column('pinned', sa.Boolean(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['participant_id'], ['participant.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['question_id'], ['question.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('qa_entry', schema=None) as batch_op:
        batch_op.create_index('ix_qa_entry_question_state', ['question_id', 'state'], unique=False)
        batch_op.create_index(batch_op.f('ix_qa_entry_participant_id'), ['participant_id'], unique=False)

    op.create_table('qa_vote',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entry_id', sa.Integer(), nullable=False),
    sa.Column('participant_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['entry_id'], ['qa_entry.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['participant_id'], ['participant.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('entry_id', 'participant_id')
    )
    with op.batch_alter_table('qa_vote', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_qa_vote_participant_id'), ['participant_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('qa_vote', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_qa_vote_participant_id'))
    op.drop_table('qa_vote')
    with op.batch_alter_table('qa_entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_qa_entry_participant_id'))
        batch_op.drop_index('ix_qa_entry_question_state')
    op.drop_table('qa_entry')
    with op.batch_alter_table('participant', schema=None) as batch_op:
        batch_op.drop_column('nickname')
    with op.batch_alter_table('question', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_question_parent_id_question'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_question_parent_id'))
        batch_op.drop_column('round')
        batch_op.drop_column('parent_id')
        batch_op.drop_column('opened_at')
