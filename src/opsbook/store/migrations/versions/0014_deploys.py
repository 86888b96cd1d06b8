"""deploys: one row per verified (or failed) deployment, with its stages

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

from opsbook.store.types import UTCDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deploys",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("commit", sa.String(64), nullable=False),
        sa.Column("env", sa.String(20), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("verdict", sa.String(20), nullable=False),
        sa.Column("failed_stage", sa.String(20)),
        sa.Column("stages", sa.JSON, nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("ended_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_deploys_env_verdict_ended_at", "deploys", ["env", "verdict", "ended_at"])


def downgrade() -> None:
    op.drop_index("ix_deploys_env_verdict_ended_at", "deploys")
    op.drop_table("deploys")
