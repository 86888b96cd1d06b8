"""backups: files backups beside database backups (their kind and file count)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
# Written as 0017 after 0016 (another branch's); the lead renumbers on merge.
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("backups") as table:
        table.add_column(
            sa.Column("kind", sa.String(20), nullable=False, server_default="database")
        )
        table.add_column(sa.Column("files", sa.Integer))


def downgrade() -> None:
    with op.batch_alter_table("backups") as table:
        table.drop_column("files")
        table.drop_column("kind")
