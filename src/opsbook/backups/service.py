"""The backup catalog and retention: what there is, the newest complete one, and which
ones a prune would delete and why.

Retention keeps every backup younger than `keep_days`, and the newest `keep_min`
whatever their age; the newest complete backup is never deleted, and neither is the
newest verified one (once `backup verify` marks them). Unfinished attempts are deleted
once nothing is working on them any more: `failed` ones, and `running` ones whose
process on this host is gone (killed mid-dump). Database and files backups are kept apart:
each kind keeps its own newest, newest verified and keep-min. The objects of files backups
(files_store) go once no kept files backup references them.
"""

from __future__ import annotations

import datetime as dt
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from opsbook.backups import files_store
from opsbook.backups.models import Backup
from opsbook.clock import Clock
from opsbook.config.durations import format_duration
from opsbook.runbooks.processes import alive
from opsbook.store import Store
from opsbook.store.audit import record

MAX_KEEP_DAYS = 36_500
MAX_KEEP_MIN = 10_000
DATABASE = "database"


@dataclass(frozen=True)
class Listed:
    """One backup as `backup list` shows it."""

    id: int
    kind: str  # database, files
    state: str
    label: str | None
    database: str
    started_at: dt.datetime
    ended_at: dt.datetime | None
    age_seconds: float
    seconds: float | None
    size_bytes: int | None
    tables: int | None
    rows: int | None
    files: int | None
    checksums: bool
    verified_at: dt.datetime | None
    verified_deep: bool  # by a restore into a scratch database
    path: str


@dataclass(frozen=True)
class Doomed:
    backup: Listed
    reason: str


@dataclass(frozen=True)
class PrunePlan:
    delete: list[Doomed]
    keep: list[Doomed]  # each kept backup and why
    sweep: files_store.Sweep | None = None  # files backups' objects
    root: Path | None = None


@dataclass(frozen=True)
class Pruned:
    deleted: list[Doomed]
    objects: int = 0  # files backups' objects deleted
    object_bytes: int = 0


def _listed(row: Backup, now: dt.datetime) -> Listed:
    seconds = (row.ended_at - row.started_at).total_seconds() if row.ended_at else None
    return Listed(
        id=row.id,
        kind=row.kind,
        state=shown_state(row),
        label=row.label,
        database=row.database,
        started_at=row.started_at,
        ended_at=row.ended_at,
        age_seconds=max((now - row.started_at).total_seconds(), 0.0),
        seconds=seconds,
        size_bytes=row.size_bytes,
        tables=row.tables,
        rows=row.rows,
        files=row.files,
        checksums=row.checksums,
        verified_at=row.verified_at,
        verified_deep=bool(row.verified_deep),
        path=row.path,
    )


def shown_state(row: Backup) -> str:
    """`abandoned` for a running backup whose process on this host is gone."""
    if row.state == "running" and row.host == socket.gethostname() and not alive(row.pid):
        return "abandoned"
    return row.state


def list_backups(*, session: Session, clock: Clock, unfinished: bool = False) -> list[Listed]:
    """Complete backups, newest first; with `unfinished`, every attempt."""
    query = select(Backup).order_by(Backup.started_at.desc(), Backup.id.desc())
    if not unfinished:
        query = query.where(Backup.state == "complete")
    now = clock.now()
    return [_listed(row, now) for row in session.scalars(query)]


def newest_complete(
    *, session: Session, verified: bool = False, database: str | None = None
) -> Backup | None:
    """The newest complete backup (of `database`, its place as targets.identity, when
    given); with `verified`, the newest one `backup verify` passed (what the `backup`
    check judges: an unverified backup is not yet known to restore)."""
    query = select(Backup).where(Backup.state == "complete", Backup.kind == DATABASE)
    if database is not None:
        query = query.where(Backup.source == database)
    if verified:
        query = query.where(Backup.verified_at.is_not(None))
    query = query.order_by(Backup.started_at.desc(), Backup.id.desc()).limit(1)
    return session.scalars(query).first()


def count_unverified(*, session: Session, database: str | None = None) -> int:
    """Complete backups (of `database`, when given) no verify has passed."""
    query = select(func.count()).where(
        Backup.state == "complete", Backup.kind == DATABASE, Backup.verified_at.is_(None)
    )
    if database is not None:
        query = query.where(Backup.source == database)
    return int(session.scalar(query) or 0)


def fresh_verified_backup(
    *, session: Session, database: str, now: dt.datetime, within: dt.timedelta
) -> Backup | None:
    """The newest complete backup of `database` (its place, targets.identity) that a
    verify passed and that was taken within `within` of `now`: what makes it safe to
    migrate without being told to go ahead regardless."""
    query = (
        select(Backup)
        .where(
            Backup.state == "complete",
            Backup.kind == DATABASE,
            Backup.source == database,
            Backup.verified_at.is_not(None),
            Backup.started_at >= now - within,
        )
        .order_by(Backup.started_at.desc(), Backup.id.desc())
        .limit(1)
    )
    return session.scalars(query).first()


def plan_prune(
    *, session: Session, clock: Clock, keep_days: int, keep_min: int, root: Path | None = None
) -> PrunePlan:
    """Which backups a prune deletes, and why each other one stays; with `root` (the
    backups folder), which files objects go with them. Reads only."""
    if not 0 <= keep_days <= MAX_KEEP_DAYS:
        raise ValueError(f"keep_days {keep_days}: 0 to {MAX_KEEP_DAYS}")
    if not 0 <= keep_min <= MAX_KEEP_MIN:
        raise ValueError(f"keep_min {keep_min}: 0 to {MAX_KEEP_MIN}")
    every = list_backups(session=session, clock=clock, unfinished=True)
    delete: list[Doomed] = []
    keep: list[Doomed] = []
    for kind in sorted({b.kind for b in every}):
        _plan_kind([b for b in every if b.kind == kind], keep_days, keep_min, delete, keep)
    sweep = _sweep(root, [d.backup for d in keep]) if root is not None else None
    return PrunePlan(delete, keep, sweep, root)


def _sweep(root: Path, kept: list[Listed]) -> files_store.Sweep:
    """The objects no kept files backup references."""
    kept = [b for b in kept if b.kind == files_store.KIND]
    folders = [Path(b.path) for b in kept if b.state == "complete"]
    return files_store.plan_sweep(root, folders, busy=any(b.state == "running" for b in kept))


def _plan_kind(
    every: list[Listed], keep_days: int, keep_min: int, delete: list[Doomed], keep: list[Doomed]
) -> None:
    """Retention among the backups of one kind, newest first."""
    complete = [b for b in every if b.state == "complete"]
    newest_verified = next((b for b in complete if b.verified_at is not None), None)
    horizon = dt.timedelta(days=keep_days).total_seconds()
    kind = "" if not every or every[0].kind == DATABASE else f"{every[0].kind} "
    for backup in every:
        age = format_duration(dt.timedelta(seconds=round(backup.age_seconds)))
        if backup.state in ("failed", "abandoned"):
            delete.append(Doomed(backup, f"{backup.state}: never finished"))
        elif backup.state != "complete":
            keep.append(Doomed(backup, f"{backup.state}: its process is still at work"))
        elif backup is complete[0]:
            keep.append(Doomed(backup, f"the newest complete {kind}backup"))
        elif backup is newest_verified:
            keep.append(Doomed(backup, f"the newest verified {kind}backup"))
        elif complete.index(backup) < keep_min:
            keep.append(Doomed(backup, f"among the newest {keep_min} (keep-min)"))
        elif backup.age_seconds <= horizon:
            keep.append(Doomed(backup, f"{age} old, within {keep_days} days"))
        else:
            delete.append(
                Doomed(
                    backup, f"{age} old, past {keep_days} days and not among the newest {keep_min}"
                )
            )


def prune(*, store: Store, plan: PrunePlan, actor: str, clock: Clock) -> Pruned:
    """Delete what `plan` says, each backup's files then its row, each audited; then the
    objects no kept files backup references."""
    deleted = []
    for doomed in plan.delete:
        backup = doomed.backup
        final = Path(backup.path)
        # Only a folder named as create names it: a catalog row edited to point
        # elsewhere must not turn a prune into `rm -rf` of that place.
        if final.name.endswith(f"Z-{backup.id}"):
            for folder in (final, final.with_name(final.name + ".partial")):
                if folder.exists():
                    shutil.rmtree(folder)
        with store.session() as session:
            row = session.get(Backup, backup.id)
            if row is None:
                continue
            session.delete(row)
            record(
                session,
                action="backup.prune",
                target=backup.database,
                outcome="ok",
                actor=actor,
                details={"backup": backup.id, "path": backup.path, "reason": doomed.reason},
                clock=clock,
            )
        deleted.append(doomed)
    if plan.sweep is None or plan.root is None or not plan.sweep.objects:
        return Pruned(deleted)
    with store.reading() as session:
        again = plan_prune(session=session, clock=clock, keep_days=0, keep_min=MAX_KEEP_MIN)
    count, size = files_store.sweep(plan.sweep, _sweep(plan.root, [d.backup for d in again.keep]))
    with store.session() as session:
        record(
            session,
            action="backup.prune_objects",
            target=str(files_store.objects_folder(plan.root)),
            outcome="ok",
            actor=actor,
            details={"objects": count, "bytes": size},
            clock=clock,
        )
    return Pruned(deleted, count, size)
