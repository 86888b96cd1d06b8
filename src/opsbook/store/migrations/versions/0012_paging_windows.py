"""paging windows: one row per person paged, for the per-person rate limit and its digest

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

from opsbook.store.types import UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "paging_windows",
        sa.Column("person", sa.String(200), primary_key=True),
        sa.Column("opened_at", UTCDateTime),
        sa.Column("folded", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("paging_windows")
