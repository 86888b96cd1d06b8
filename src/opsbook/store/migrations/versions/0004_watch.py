"""metric samples and alerts

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

from opsbook.store.types import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "metric_samples",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("value", sa.Float, nullable=False),
    )
    op.create_index("ix_metric_samples_name_at", "metric_samples", ["name", "at"])
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("rule", sa.String(200), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("labels", sa.JSON, nullable=False),
        sa.Column("source", sa.String(30), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("level", sa.String(10), nullable=False),
        sa.Column("value", sa.Float),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("component", sa.String(200)),
        sa.Column("runbook", sa.String(200)),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("fired_at", UTCDateTime),
        sa.Column("last_active_at", UTCDateTime, nullable=False),
        sa.Column("resolved_at", UTCDateTime),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incidents.id")),
    )
    op.create_index("ix_alerts_fingerprint", "alerts", ["fingerprint"])
    op.create_index("ix_alerts_state", "alerts", ["state"])
    op.create_index("ix_alerts_incident_id", "alerts", ["incident_id"])
    # At most one open alert per fingerprint, enforced by the database itself.
    op.create_index(
        "uq_alerts_open_fingerprint",
        "alerts",
        ["fingerprint"],
        unique=True,
        sqlite_where=sa.text("state != 'resolved'"),
        postgresql_where=sa.text("state != 'resolved'"),
    )


def downgrade() -> None:
    op.drop_table("alerts")
    op.drop_table("metric_samples")
