"""The target database's changing operations, each a read-only plan and an act.

A plan is refused with a `PostgresError` before anything changes; the act on that plan
writes the audit log here and nowhere else. `service.py` is the domain's one entry point
and re-exports these. Four plan/act pairs of one shape live together so that the shape
stays one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

import psycopg

from opsbook.backups import service as backups
from opsbook.backups import targets
from opsbook.clock import Clock
from opsbook.config.durations import format_duration
from opsbook.incidents import service as incidents
from opsbook.postgres import archive, archive_run, migrations, remediation, rights, views
from opsbook.postgres.archive import ArchiveError
from opsbook.postgres.errors import Named, PostgresError
from opsbook.postgres.migrations import MigrationFailed
from opsbook.postgres.remediation import Protected, Session
from opsbook.postgres.rights import Visibility
from opsbook.postgres.views import MaterializedView, Refreshed, ViewError
from opsbook.store import Store
from opsbook.store.audit import audited

Connection = psycopg.Connection[Any]


class Who(TypedDict):
    """Who acts, and where it is written down: what every changing operation is given."""

    store: Store
    actor: str
    clock: Clock


class MissingSessions(PostgresError):
    """A pid names no client session: the whole request is refused before anything ends."""


class UnknownIncident(PostgresError):
    """The incident to note the result on does not exist."""


class BackupRequired(PostgresError):
    """Migrations are pending, no fresh verified backup of the database is in the catalog,
    and nobody said to go ahead without one."""


# --- ending sessions -------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionPlan:
    """The sessions a request would end, those it keeps and why, and how it would end them.
    `unseen`: sessions of this database whose state this role cannot read, so it cannot
    tell whether the request would pick them (`visibility` says what to grant)."""

    targets: list[Session]
    protected: list[Protected]
    cancel: bool = False
    unseen: list[int] = field(default_factory=list)
    visibility: Visibility | None = None

    @property
    def verb(self) -> str:
        return "cancel the query of" if self.cancel else "terminate"


@dataclass(frozen=True)
class Ended:
    """The pids signalled, out of the plan's targets (a session may end on its own first)."""

    pids: list[int]
    cancel: bool


def plan_terminate_idle(
    *,
    conn: Connection,
    older_than: dt.timedelta,
    in_transaction: bool = False,
    force: bool = False,
) -> SessionPlan:
    """Sessions of this database idle (or idle in a transaction) for at least `older_than`."""
    database = _database(conn)
    select = remediation.idle(older_than, in_transaction=in_transaction, database=database)
    found = remediation.pick(conn, select, force=force)
    unseen = [s.pid for s in found.unseen if s.database == database]
    return SessionPlan(
        found.targets, found.protected, unseen=unseen, visibility=rights.visibility(conn)
    )


def plan_kill(
    *,
    conn: Connection,
    pids: Sequence[int] | None,
    cancel: bool = False,
    force: bool = False,
) -> SessionPlan:
    """Sessions by pid, or (`pids` None) every other client session of this database.

    A pid that names no client session refuses the whole request before anything ends: a
    mistyped pid must not end the others while the one meant runs on.
    """
    select = (
        remediation.whole_database(_database(conn)) if pids is None else remediation.by_pid(pids)
    )
    found = remediation.pick(conn, select, force=force)
    seen = {s.pid for s in found.targets} | {p.session.pid for p in found.protected}
    missing = [pid for pid in pids or () if pid not in seen]
    if missing:
        raise MissingSessions(
            f"no client session with pid {', '.join(map(str, missing))}"
            " (system and replication backends are never ended)"
        )
    return SessionPlan(found.targets, found.protected, cancel, visibility=rights.visibility(conn))


def end_sessions(
    *,
    conn: Connection,
    plan: SessionPlan,
    store: Store,
    actor: str,
    clock: Clock,
    incident_id: int | None = None,
) -> Ended:
    """End the plan's targets, each audited (intent, then outcome), and note the result on
    the incident. An unknown incident refuses before any session is ended."""
    _known_incident(store, incident_id)
    action = "db.cancel" if plan.cancel else "db.terminate"
    done: list[int] = []
    for target in plan.targets:
        details = {
            "state": target.state,
            "query": target.query,
            "idle_seconds": target.state_seconds,
            "user": target.user,
        }
        with audited(
            store,
            action=action,
            target=target.describe(),
            actor=actor,
            details=details,
            clock=clock,
        ) as record:
            signalled = remediation.end(conn, target.pid, cancel=plan.cancel)
            record.outcome = "ok" if signalled else "gone"
        if signalled:
            done.append(target.pid)
    if incident_id is not None and plan.targets:
        word = "cancelled queries of" if plan.cancel else "terminated"
        with store.session() as session:
            incidents.log_event(
                session,
                incident=incidents.get(session, incident_id=incident_id),
                kind="db.remediation",
                actor=actor,
                clock=clock,
                text=f"{word} {len(done)} session(s): " + ", ".join(str(p) for p in done),
                data={"action": action, "pids": done},
            )
    return Ended(done, plan.cancel)


def _known_incident(store: Store, incident_id: int | None) -> None:
    if incident_id is None:
        return
    with store.session() as session:
        try:
            incidents.get(session, incident_id=incident_id)
        except incidents.IncidentError as exc:
            raise UnknownIncident(str(exc)) from None


def _database(conn: Connection) -> str:
    row = conn.execute("select current_database()").fetchone()
    assert row is not None
    return str(row[0])


# --- archival --------------------------------------------------------------------------------


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


# --- materialized views ----------------------------------------------------------------------


@dataclass(frozen=True)
class RefreshPlan:
    """The views to refresh, or the function that refreshes them."""

    views: list[MaterializedView]
    function: str | None = None


@dataclass(frozen=True)
class ViewsRefreshed:
    """The views refreshed, or the function called, and how long it took."""

    refreshed: list[Refreshed]
    function: str | None = None
    seconds: float = 0.0


def plan_refresh(
    *, conn: Connection, names: Sequence[str] = (), function: str | None = None
) -> RefreshPlan:
    """The named views (every one when none is named), or a function taking no arguments.
    An unknown name refuses them all."""
    if function and names:
        raise ViewError(
            "name ", Named("names", "views"), " or ", Named("function", "a function"), ", not both"
        )
    if function:
        views.function(conn, function)
        return RefreshPlan([], function)
    return RefreshPlan(views.resolve(conn, list(names)))


def refresh_views(
    *, conn: Connection, plan: RefreshPlan, store: Store, actor: str, clock: Clock
) -> ViewsRefreshed:
    """Refresh each planned view (CONCURRENTLY where it can) or call the function; each
    audited as `db.view.refresh`, which is where `list_views` finds the last refresh."""
    if plan.function:
        with audited(
            store, action="db.view.refresh", target=plan.function, actor=actor, clock=clock
        ):
            seconds = views.call_function(conn, plan.function)
        return ViewsRefreshed([], plan.function, seconds)
    done: list[Refreshed] = []
    for view in plan.views:
        with audited(
            store, action="db.view.refresh", target=view.qualified, actor=actor, clock=clock
        ) as record:
            refreshed = views.refresh_one(conn, view)
            record.details["concurrently"] = refreshed.concurrently
        done.append(refreshed)
    return ViewsRefreshed(done, seconds=sum(r.seconds for r in done))


# --- migrations ------------------------------------------------------------------------------


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
