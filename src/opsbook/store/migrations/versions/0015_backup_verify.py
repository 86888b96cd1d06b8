"""backups: whether a verify restored the backup, and the database's place

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("backups") as table:
        table.add_column(
            sa.Column("verified_deep", sa.Boolean, nullable=False, server_default=sa.false())
        )
        table.add_column(sa.Column("source", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("backups") as table:
        table.drop_column("source")
        table.drop_column("verified_deep")
