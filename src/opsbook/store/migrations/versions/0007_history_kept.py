"""audit rows chained by hash; history can be neither replaced nor deleted

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28

Rows written before this revision are sealed into the chain here, in id order (the
order they were written in). That seals them as they are now: the chain vouches for them
from this migration on, not from when they were written.
"""

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from alembic import op

# The live seal, on purpose: rows sealed here are checked by `opsbook audit verify` with
# the same function. A change to the seal's format needs a migration that re-seals.
from opsbook.store.chain import GENESIS, seal
from opsbook.store.guards import (
    append_only_ddl,
    drop_append_only_ddl,
    drop_kept_ddl,
    drop_no_replace_ddl,
    kept_ddl,
    no_replace_ddl,
)
from opsbook.store.types import UTCDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_audit_log = sa.table(
    "audit_log",
    sa.column("id", sa.Integer),
    sa.column("at", UTCDateTime),
    sa.column("actor", sa.String),
    sa.column("action", sa.String),
    sa.column("target", sa.Text),
    sa.column("outcome", sa.String),
    sa.column("ref", sa.String),
    sa.column("details", sa.JSON),
    sa.column("seq", sa.Integer),
    sa.column("prev_hash", sa.String),
    sa.column("hash", sa.String),
)


@dataclass(frozen=True)
class _Written:
    seq: int
    at: dt.datetime
    actor: str
    action: str
    target: str
    outcome: str
    ref: str | None
    details: Any


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    # The append-only triggers would refuse the UPDATEs that seal the old rows, and on
    # SQLite making a column NOT NULL rebuilds the table, which drops its triggers: take
    # them off here and put them all back at the end.
    _execute(drop_append_only_ddl("audit_log", dialect))
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("seq", sa.Integer))
        batch.add_column(sa.Column("prev_hash", sa.String(64)))
        batch.add_column(sa.Column("hash", sa.String(64)))
    _seal_written_rows()
    with op.batch_alter_table("audit_log") as batch:
        batch.alter_column("seq", existing_type=sa.Integer, nullable=False)
        batch.alter_column("prev_hash", existing_type=sa.String(64), nullable=False)
        batch.alter_column("hash", existing_type=sa.String(64), nullable=False)
        batch.create_index("ix_audit_log_seq", ["seq"], unique=True)
    _execute(append_only_ddl("audit_log", dialect))
    _execute(no_replace_ddl("audit_log", ("id", "seq"), dialect))
    _execute(no_replace_ddl("incident_events", ("id",), dialect))
    _execute(kept_ddl("incidents", dialect))


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    _execute(drop_kept_ddl("incidents", dialect))
    _execute(drop_no_replace_ddl("incident_events", dialect))
    _execute(drop_no_replace_ddl("audit_log", dialect))
    _execute(drop_append_only_ddl("audit_log", dialect))
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_index("ix_audit_log_seq")
        batch.drop_column("hash")
        batch.drop_column("prev_hash")
        batch.drop_column("seq")
    _execute(append_only_ddl("audit_log", dialect))


def _execute(statements: list[str]) -> None:
    for statement in statements:
        op.execute(statement)


def _seal_written_rows(batch: int = 1000) -> None:
    bind = op.get_bind()
    columns = [c for c in _audit_log.c if c.name not in ("seq", "prev_hash", "hash")]
    seal_row = (
        sa.update(_audit_log)
        .where(_audit_log.c.id == sa.bindparam("row_id"))
        .values(
            seq=sa.bindparam("new_seq"),
            prev_hash=sa.bindparam("new_prev_hash"),
            hash=sa.bindparam("new_hash"),
        )
    )
    prev_hash, seq, last_id = GENESIS, 0, None
    while True:
        query = sa.select(*columns).order_by(_audit_log.c.id).limit(batch)
        if last_id is not None:
            query = query.where(_audit_log.c.id > last_id)
        found = bind.execute(query).all()
        if not found:
            return
        sealed = []
        for row in found:
            seq += 1
            fields = {k: v for k, v in row._mapping.items() if k != "id"}
            new_hash = seal(prev_hash, _Written(seq=seq, **fields))
            sealed.append(
                {"row_id": row.id, "new_seq": seq, "new_prev_hash": prev_hash, "new_hash": new_hash}
            )
            prev_hash = new_hash
        bind.execute(seal_row, sealed)
        last_id = found[-1].id
