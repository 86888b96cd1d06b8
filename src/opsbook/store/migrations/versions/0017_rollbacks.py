"""rollbacks: a deploy record may be a rollback (provider's deployment, reason, from
which commit), and `running` holds the env while one is in flight: unique, so two
rollbacks of one env cannot run at once

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-08
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deploys") as batch:
        batch.add_column(sa.Column("running", sa.String(20)))
        batch.add_column(sa.Column("deployment", sa.Text))
        batch.add_column(sa.Column("from_commit", sa.String(64)))
        batch.add_column(sa.Column("reason", sa.Text))
    op.create_index("ux_deploys_running", "deploys", ["running"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_deploys_running", "deploys")
    with op.batch_alter_table("deploys") as batch:
        batch.drop_column("reason")
        batch.drop_column("from_commit")
        batch.drop_column("deployment")
        batch.drop_column("running")
