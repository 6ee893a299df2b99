"""add_presentation_branding

The projector's look per presentation: the organisation's logo (an upload of the presentation;
no foreign key, so deleting the image never blocks and a missing one is simply not shown), its
main colour, and a high-contrast theme.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 05:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# A table SQLite rebuilds keeps AUTOINCREMENT only when told again (see 0003).
KEEP_AUTOINCREMENT = {"table_kwargs": {"sqlite_autoincrement": True}}


def _keep() -> dict:
    return KEEP_AUTOINCREMENT if op.get_bind().dialect.name == "sqlite" else {}


def upgrade() -> None:
    with op.batch_alter_table('presentation', schema=None, **_keep()) as batch_op:
        batch_op.add_column(sa.Column('logo_upload_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('brand_color', sqlmodel.sql.sqltypes.AutoString(length=7), nullable=True))
        batch_op.add_column(sa.Column('high_contrast', sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table('presentation', schema=None, **_keep()) as batch_op:
        batch_op.alter_column('high_contrast', existing_type=sa.Boolean(), server_default=None)


def downgrade() -> None:
    with op.batch_alter_table('presentation', schema=None, **_keep()) as batch_op:
        batch_op.drop_column('high_contrast')
        batch_op.drop_column('brand_color')
        batch_op.drop_column('logo_upload_id')
