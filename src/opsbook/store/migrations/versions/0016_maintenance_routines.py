"""maintenance routines: first sight of each routine, claimed slots, key rotations

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

from opsbook.store.types import UTCDateTime

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "maintenance_routines",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("since", UTCDateTime, nullable=False),
    )
    op.create_table(
        "maintenance_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("routine", sa.String(64), nullable=False),
        sa.Column("slot_at", UTCDateTime, nullable=False),
        sa.Column("trigger", sa.String(20), nullable=False),
        sa.Column("late", sa.Boolean, nullable=False),
        sa.Column("missed", sa.Integer, nullable=False),
        sa.Column("claimed_at", UTCDateTime, nullable=False),
        sa.Column("claimed_by", sa.String(200), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runbook_runs.id")),
        sa.Column("error", sa.Text),
        sa.UniqueConstraint("routine", "slot_at"),
    )
    op.create_index("ix_maintenance_runs_routine", "maintenance_runs", ["routine"])
    op.create_table(
        "maintenance_key_rotations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("rotated_on", sa.Date, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("recorded_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_maintenance_key_rotations_key", "maintenance_key_rotations", ["key"])


def downgrade() -> None:
    op.drop_index("ix_maintenance_key_rotations_key", "maintenance_key_rotations")
    op.drop_table("maintenance_key_rotations")
    op.drop_index("ix_maintenance_runs_routine", "maintenance_runs")
    op.drop_table("maintenance_runs")
    op.drop_table("maintenance_routines")
