"""check results and metric samples downsampled into buckets

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

from opsbook.store.types import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "check_history",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("every", sa.Integer, primary_key=True),
        sa.Column("bucket", UTCDateTime, primary_key=True),
        sa.Column("runs", sa.Integer, nullable=False),
        sa.Column("ok", sa.Integer, nullable=False),
        sa.Column("degraded", sa.Integer, nullable=False),
        sa.Column("down", sa.Integer, nullable=False),
        sa.Column("timed", sa.Integer, nullable=False),
        sa.Column("latency_sum", sa.Float, nullable=False),
        sa.Column("latency_max", sa.Float),
    )
    op.create_index("ix_check_history_every_bucket", "check_history", ["every", "bucket"])
    op.create_table(
        "metric_history",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("source", sa.String(200), primary_key=True),
        sa.Column("every", sa.Integer, primary_key=True),
        sa.Column("bucket", UTCDateTime, primary_key=True),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("total", sa.Float, nullable=False),
        sa.Column("low", sa.Float, nullable=False),
        sa.Column("high", sa.Float, nullable=False),
    )
    op.create_index("ix_metric_history_every_bucket", "metric_history", ["every", "bucket"])


def downgrade() -> None:
    op.drop_table("metric_history")
    op.drop_table("check_history")
