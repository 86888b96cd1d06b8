"""Archival, planned then done: rows older than a cutoff moved to an archive table batch
by batch at a set pace, then VACUUM; audited as one `db.archive`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from opsbook.clock import Clock
from opsbook.postgres import archive, archive_run
from opsbook.postgres.archive import ArchiveError
from opsbook.postgres.changes import Connection
from opsbook.postgres.errors import Named
from opsbook.store import Store
from opsbook.store.audit import audited


@dataclass(frozen=True)
class ArchivalPlan:
    """What an archival would move, where to, and at what pace."""

    rows: archive.ArchivePlan
    pacing: archive_run.Pacing
    vacuum_full: bool = False

    @property
    def batches(self) -> int:
        return -(-self.rows.candidates // self.pacing.batch)

    def summary(self) -> dict[str, Any]:
        """The plan as data: what `--json` prints and the audit log keeps."""
        rows = self.rows
        return {
            "table": str(rows.source),
            "archive": str(rows.archive),
            "create_archive": rows.create_archive,
            "column": rows.column,
            "cutoff": rows.cutoff.isoformat(),
            "candidates": rows.candidates,
            "batches": self.batches,
            "referencing": [
                {"table": str(r.table), "archive": str(r.archive), "constraint": r.constraint}
                for r in rows.referencing
            ],
            "batch": self.pacing.batch,
            "lock_timeout_seconds": self.pacing.lock_timeout.total_seconds(),
            "max_lag_seconds": self.pacing.max_replication_lag.total_seconds(),
            "pause_seconds": self.pacing.pause.total_seconds(),
            "vacuum": "full" if self.vacuum_full else "analyze",
        }


@dataclass(frozen=True)
class Archived:
    """What an archival did: tables created, rows and batches moved, time spent waiting."""

    created: list[str]
    moved: int
    batches: int
    lock_retries: int
    paused_seconds: float
    seconds: float


def plan_archive(
    *,
    conn: Connection,
    table: str,
    to: str,
    column: str,
    older_than: dt.timedelta,
    with_referencing: bool = False,
    batch: int = 5000,
    lock_timeout: dt.timedelta = dt.timedelta(seconds=2),
    max_lag: dt.timedelta = dt.timedelta(seconds=10),
    pause: dt.timedelta = dt.timedelta(0),
    vacuum_full: bool = False,
    before: dt.datetime | None = None,
) -> ArchivalPlan:
    """Check everything before anything moves: the tables, the column, the references,
    and how many rows are older than `older_than` (or, given, `before`: a cutoff a
    procedure computed once). ArchiveError says what is wrong."""
    if batch < 1:
        raise ArchiveError(Named("batch", "the batch size"), " must be at least 1")
    rows = archive.prepare(
        conn,
        table=table,
        to=to,
        column=column,
        older_than=older_than,
        with_referencing=with_referencing,
        before=before,
    )
    pacing = archive_run.Pacing(
        batch=batch, lock_timeout=lock_timeout, max_replication_lag=max_lag, pause=pause
    )
    return ArchivalPlan(rows, pacing, vacuum_full)


def run_archive(
    *,
    conn: Connection,
    plan: ArchivalPlan,
    store: Store,
    actor: str,
    clock: Clock,
    progress: Callable[[int], None] | None = None,
    note: Callable[[str], None] | None = None,
) -> Archived:
    """Move the planned rows batch by batch, then VACUUM; audited as one `db.archive`.

    Stopped at any moment, every row is in exactly one of the two tables; the audit log
    shows a start with no end, and running the same plan again finishes the work.
    """
    rows = plan.rows
    with audited(
        store,
        action="db.archive",
        target=f"{rows.source} -> {rows.archive}",
        actor=actor,
        clock=clock,
        details=plan.summary(),
    ) as record:
        created = archive.create_archives(conn, rows)
        result = archive_run.run(conn, rows, pacing=plan.pacing, progress=progress, note=note)
        record.details.update(
            {"moved": result.moved, "batches": result.batches, "created": created}
        )
        archive.vacuum(conn, rows.source, full=plan.vacuum_full)
    return Archived(
        created,
        result.moved,
        result.batches,
        result.lock_retries,
        result.paused_seconds,
        result.seconds,
    )
