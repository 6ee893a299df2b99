"""add_presentation_pace

Audience pace: who moves through the questions, the facilitator for everyone ("facilitator")
or each phone by itself ("audience").

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# A table SQLite rebuilds keeps AUTOINCREMENT only when told again (see 0003).
KEEP_AUTOINCREMENT = {"table_kwargs": {"sqlite_autoincrement": True}}


def _keep() -> dict:
    return KEEP_AUTOINCREMENT if op.get_bind().dialect.name == "sqlite" else {}


def upgrade() -> None:
    with op.batch_alter_table('presentation', schema=None, **_keep()) as batch_op:
        batch_op.add_column(
            sa.Column(
                'pace',
                sqlmodel.sql.sqltypes.AutoString(length=12),
                nullable=False,
                server_default='facilitator',
            )
        )
    with op.batch_alter_table('presentation', schema=None, **_keep()) as batch_op:
        batch_op.alter_column('pace', existing_type=sqlmodel.sql.sqltypes.AutoString(length=12), server_default=None)


def downgrade() -> None:
    with op.batch_alter_table('presentation', schema=None, **_keep()) as batch_op:
        batch_op.drop_column('pace')
