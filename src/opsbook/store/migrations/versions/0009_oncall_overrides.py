"""on-call overrides: a person covers a schedule for a while

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

from opsbook.store.types import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "oncall_overrides",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("schedule", sa.String(200), nullable=False),
        sa.Column("person", sa.String(200), nullable=False),
        sa.Column("starts_at", UTCDateTime, nullable=False),
        sa.Column("ends_at", UTCDateTime, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("removed_at", UTCDateTime),
        sa.Column("removed_by", sa.String(200)),
    )
    op.create_index(
        "ix_oncall_overrides_schedule_ends_at", "oncall_overrides", ["schedule", "ends_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_oncall_overrides_schedule_ends_at", "oncall_overrides")
    op.drop_table("oncall_overrides")
