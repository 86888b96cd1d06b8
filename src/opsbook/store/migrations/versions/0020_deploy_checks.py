"""deploy_checks: one row per pre-deployment checklist, its items beside it

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-09
"""

import sqlalchemy as sa
from alembic import op

from opsbook.store.types import UTCDateTime

revision = "0020"
# The lead renumbers on merge when another branch also wrote a 0020.
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deploy_checks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("commit", sa.String(64), nullable=False),
        sa.Column("env", sa.String(20), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("verdict", sa.String(20), nullable=False),
        sa.Column("items", sa.JSON, nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("ended_at", UTCDateTime),
    )
    op.create_index("ix_deploy_checks_env_commit", "deploy_checks", ["env", "commit"])


def downgrade() -> None:
    op.drop_index("ix_deploy_checks_env_commit", "deploy_checks")
    op.drop_table("deploy_checks")
