"""backups: the catalog of backups of the target database

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

from opsbook.store.types import UTCDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "backups",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("label", sa.String(200)),
        sa.Column("database", sa.Text, nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("ended_at", UTCDateTime),
        sa.Column("server_version", sa.String(50)),
        sa.Column("pg_dump_version", sa.String(50)),
        sa.Column("compression", sa.String(20), nullable=False),
        sa.Column("size_bytes", sa.BigInteger),
        sa.Column("tables", sa.Integer),
        sa.Column("rows", sa.BigInteger),
        sa.Column("checksums", sa.Boolean, nullable=False),
        sa.Column("manifest_sha256", sa.String(64)),
        sa.Column("verified_at", UTCDateTime),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("error", sa.Text),
    )
    op.create_index("ix_backups_state_started_at", "backups", ["state", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_backups_state_started_at", "backups")
    op.drop_table("backups")
