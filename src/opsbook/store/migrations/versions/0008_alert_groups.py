"""alerts remember their Alertmanager group and whether a resolve detached them

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("group_key", sa.String(200)))
        batch.add_column(
            sa.Column("detached", sa.Boolean, nullable=False, server_default=sa.false())
        )
        batch.create_index("ix_alerts_group_key", ["group_key"])


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.drop_index("ix_alerts_group_key")
        batch.drop_column("detached")
        batch.drop_column("group_key")
