"""oncall: test pages sent to the person on call, and who confirmed receipt

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-10
"""

import sqlalchemy as sa
from alembic import op

from opsbook.store.types import UTCDateTime

revision = "0021"
# Written after 0019 (another branch may add its own 0020); the lead renumbers on merge.
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "oncall_checks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("schedule", sa.String(200), nullable=False),
        sa.Column("person", sa.String(200), nullable=False),
        sa.Column("channels", sa.JSON, nullable=False),
        sa.Column("messages", sa.JSON, nullable=False),
        sa.Column("sent_at", UTCDateTime, nullable=False),
        sa.Column("sent_by", sa.String(200), nullable=False),
        sa.Column("confirmed_at", UTCDateTime),
        sa.Column("confirmed_by", sa.String(200)),
    )


def downgrade() -> None:
    op.drop_table("oncall_checks")
