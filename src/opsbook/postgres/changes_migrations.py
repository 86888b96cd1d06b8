"""Migrations of the target database, planned then applied: the pending files in version
order, refused without a fresh verified backup unless told to go ahead; each applied in
one transaction and audited as `db.migrate`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from opsbook.backups import service as backups
from opsbook.backups import targets
from opsbook.clock import Clock
from opsbook.config.durations import format_duration
from opsbook.postgres import migrations
from opsbook.postgres.changes import Connection
from opsbook.postgres.errors import Named, PostgresError
from opsbook.postgres.migrations import MigrationFailed
from opsbook.store import Store
from opsbook.store.audit import audited


class BackupRequired(PostgresError):
    """Migrations are pending, no fresh verified backup of the database is in the catalog,
    and nobody said to go ahead without one."""


@dataclass(frozen=True)
class MigrationPlan:
    """The migrations that would be applied, in version order, and the verified backup
    of this database that makes it safe to (None: none was needed, or told to go ahead)."""

    pending: list[migrations.MigrationFile]
    backup: int | None = None


@dataclass(frozen=True)
class BackupCatalog:
    """Where a migration looks for a fresh verified backup: opsbook's store, the time now,
    and how recent a backup must be (backups.fresh_for)."""

    store: Store
    now: dt.datetime
    fresh_for: dt.timedelta


@dataclass(frozen=True)
class MigrationsApplied:
    """The migrations applied, by label, in order."""

    applied: list[str]


def plan_migrations(
    *,
    conn: Connection,
    directory: Path,
    without_backup: bool = False,
    catalog: BackupCatalog | None = None,
) -> MigrationPlan:
    """The pending migrations in version order. With any pending, refused unless the
    catalog holds a verified backup of this database taken within `fresh_for`, or the
    caller goes ahead without one: the runbook says to back up first."""
    pending = migrations.status(conn, directory).pending
    if not pending or without_backup:
        return MigrationPlan(pending)
    backup = _fresh_backup(conn, catalog)
    if backup is None:
        within = catalog.fresh_for if catalog else dt.timedelta(hours=24)
        raise BackupRequired(
            f"no verified backup in the last {_hours(within)}: opsbook backup create &&"
            " opsbook backup verify ID, or ",
            Named("without_backup", "go ahead without one"),
        )
    return MigrationPlan(pending, backup)


def _fresh_backup(conn: Connection, catalog: BackupCatalog | None) -> int | None:
    if catalog is None:
        return None
    with catalog.store.reading() as session:
        found = backups.fresh_verified_backup(
            session=session,
            database=targets.of_connection(conn),
            now=catalog.now,
            within=catalog.fresh_for,
        )
        return found.id if found else None


def _hours(span: dt.timedelta) -> str:
    """`24 h` as the runbook's reader says it; other spans as durations are written."""
    hours, rest = divmod(int(span.total_seconds()), 3600)
    return f"{hours} h" if not rest else format_duration(span)


def apply_migrations(
    *, conn: Connection, plan: MigrationPlan, store: Store, actor: str, clock: Clock
) -> MigrationsApplied:
    """Apply the planned migrations in order, each in one transaction and audited as
    `db.migrate`. The first that fails is rolled back and raises MigrationFailed, whose
    `applied` names those that went in before it."""
    done: list[str] = []
    for migration in plan.pending:
        try:
            with audited(
                store, action="db.migrate", target=migration.label, actor=actor, clock=clock
            ) as record:
                if plan.backup is not None:  # the backup this change could go back to
                    record.details["backup"] = plan.backup
                record.details["statements"] = migrations.apply_one(conn, migration)
        except MigrationFailed as exc:
            exc.applied = done
            raise
        done.append(migration.label)
    return MigrationsApplied(done)
