"""drills: one row per `opsbook drill`, its stages, RTO and problems

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

from opsbook.store.types import UTCDateTime

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "drills",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("ended_at", UTCDateTime, nullable=False),
        sa.Column("backup_id", sa.Integer, nullable=False),
        sa.Column("took_backup", sa.Boolean, nullable=False),
        sa.Column("source", sa.Text),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("verdict", sa.String(20), nullable=False),
        sa.Column("rto_seconds", sa.Float),
        sa.Column("stages", sa.JSON, nullable=False),
        sa.Column("problems", sa.JSON, nullable=False),
        sa.Column("report", sa.Text, nullable=False),
        sa.Column("incident_id", sa.Integer),
        sa.Column("actor", sa.String(200), nullable=False),
    )
    op.create_index("ix_drills_started_at", "drills", ["started_at"])


def downgrade() -> None:
    op.drop_index("ix_drills_started_at", "drills")
    op.drop_table("drills")
