"""`opsbook drill`: the seed's quarterly DR drill, automated, out of the operations that
already exist: backups.create (or a backup of the catalog), a scratch database
(loading.scratch_database, dropped whatever happens) or an empty target guarded as a
restore's is, pg_restore of a working copy, compare.compare of every table's rows and
content checksum against the manifest, schema.diff of the schema, and with an app
command, the app started on the restored database until healthy (app_check).

What the schema is compared with: a backup the drill takes itself records the source's
schema in its manifest, read inside the very snapshot it dumps, with each sequence's
value before and after pg_dump ran (see schema.py). A backup taken earlier without it
(`opsbook backup create`) is compared with the source's schema as it is now, sequence
values left out: the source has moved on since, and its values with it.

The RTO is measured from the moment the restore starts to the moment the app answers
healthy, or, without an app, to the moment everything was verified; a drill that found
a problem has recovered nothing, and records none.

A target must be empty and may never be the configured production database: a drill
proves a backup, it does not replace anything (`backup restore` is for that).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from opsbook.backups import compare, loading, records, split, targets
from opsbook.backups import create as creating
from opsbook.backups import restore as restoring
from opsbook.backups import schema as catalog
from opsbook.backups.app_check import AppRun, check_app
from opsbook.backups.errors import BackupError, BackupFailed
from opsbook.backups.records import Drill, Stage
from opsbook.backups.verify import complete_backup
from opsbook.clock import Clock
from opsbook.config import Config
from opsbook.postgres import queries
from opsbook.store import Store
from opsbook.store.audit import audited

LABEL = "dr drill"


@dataclass(frozen=True)
class DrillAsk:
    """What the drill is asked to do: which backup (None: take one of `source_url`),
    where to restore (None: a scratch database on the source's server), which app."""

    source_url: str | None
    backup_id: int | None = None
    target_url: str | None = None
    app: AppRun | None = None


def check_target(target_url: str, production_url: str | None) -> targets.Target:
    """A drill's target: a connection string, empty, not production; BackupError
    naming why not, before anything is done."""
    target = targets.parse(target_url)
    if restoring.is_production(target, production_url):
        raise BackupError(
            f"the target {target.shown} is the production database (database.url):"
            " a drill restores into a scratch or test database, never production"
        )
    _major, occupied = restoring.inspect_target(target)
    if occupied:
        named = ", ".join(occupied[:5]) + (" ..." if len(occupied) > 5 else "")
        raise BackupError(f"the target {target.shown} is not empty: it holds {named}")
    return target


def run_drill(
    *,
    store: Store,
    config: Config,
    ask: DrillAsk,
    root: Path,
    actor: str,
    clock: Clock,
    report_dir: Path,
    timer: Callable[[], float] = time.monotonic,
    scratch_name: Callable[[int], str] = lambda i: loading.scratch_name(i, purpose="drill"),
    after_restore: Callable[[str], None] = lambda _url: None,
) -> Drill:
    """Run a drill as `ask` says (see the module's docstring), then record it: the store,
    a Markdown and a JSON report in `report_dir`, action items for its problems.
    BackupError (nothing done) when it cannot start; BackupFailed when its own backup
    fails."""
    production = config.database.url.reveal() if config.database.url else None
    if ask.target_url is not None:
        check_target(ask.target_url, production)
    elif ask.source_url is None:
        raise BackupError("no database to restore into: set database.url or pass a target")
    if ask.backup_id is not None:
        complete_backup(store, ask.backup_id)  # refused before anything is recorded
    report_dir = creating.writable_root(report_dir, what="the report folder")
    secrets = [u for u in (ask.source_url, ask.target_url) if u]
    with audited(
        store,
        action="backup.drill",
        target=_place(ask.source_url) or "backup",
        actor=actor,
        details={"backup": ask.backup_id, "app": ask.app.argv if ask.app else None},
        secrets=secrets,
        clock=clock,
    ) as audit:
        drill = _backup(store, config, ask, root, actor, clock, timer)
        audit.details["backup"] = drill.backup
        with _restore_target(ask, drill, scratch_name) as url:
            _restore_and_verify(drill, store, config, ask, url, root, (timer, clock), after_restore)
        drill.ended_at = clock.now()
        records.record_drill(
            store=store, drill=drill, report_dir=report_dir, actor=actor, clock=clock
        )
        audit.details.update(drill=drill.id, problems=drill.problems[:50], rto=drill.rto_seconds)
        if drill.report_error is not None:
            audit.details["report_error"] = drill.report_error
        audit.outcome = "ok" if drill.ok else "differs"
    return drill


def _place(url: str | None) -> str | None:
    return targets.parse(url, what="database.url").identity if url else None


def _backup(
    store: Store,
    config: Config,
    ask: DrillAsk,
    root: Path,
    actor: str,
    clock: Clock,
    timer: Callable[[], float],
) -> Drill:
    """The drill's backup: taken now (with checksums and the schema), or the one asked."""
    started = clock.now()
    if ask.backup_id is not None:
        row = complete_backup(store, ask.backup_id)
        drill = Drill(row.id, False, row.source, "", started)
        drill.stages.append(Stage("backup", "skipped", 0.0, f"backup {row.id} of {row.database}"))
        return drill
    assert ask.source_url is not None
    began = timer()
    created = creating.create_backup(
        store=store,
        url=ask.source_url,
        settings=config.backups,
        root=root,
        label=LABEL,
        checksums=True,
        actor=actor,
        clock=clock,
        with_schema=True,
    )
    backup = created.backup
    drill = Drill(backup.id, True, backup.source, "", started)
    saw = f"backup {backup.id}: {backup.tables} tables, {backup.rows:,} rows"
    drill.stages.append(Stage("backup", "passed", timer() - began, saw))
    return drill


@contextmanager
def _restore_target(
    ask: DrillAsk, drill: Drill, scratch_name: Callable[[int], str]
) -> Iterator[str]:
    """The database to restore into: the target, or a scratch database on the source's
    server dropped afterwards whatever happens (failure, Ctrl-C)."""
    if ask.target_url is not None:
        drill.target = targets.parse(ask.target_url).shown
        yield ask.target_url
        return
    assert ask.source_url is not None
    drill.target = scratch_name(drill.backup)
    with loading.scratch_database(ask.source_url, drill.target) as url:
        yield url


def _restore_and_verify(
    drill: Drill,
    store: Store,
    config: Config,
    ask: DrillAsk,
    url: str,
    root: Path,
    time_: tuple[Callable[[], float], Clock],
    after_restore: Callable[[str], None],
) -> None:
    timer = time_[0]
    production = config.database.url.reveal() if config.database.url else None
    plan = restoring.plan_restore(
        store=store,
        backup_id=drill.backup,
        target_url=url,
        production_url=production,
        clean=False,
        jobs=config.backups.jobs,
        bindir=config.backups.bindir,
    )
    if plan.production or plan.occupied:  # made between the check and now
        check_target(url, production)
    began = timer()
    if not _restore(drill, plan, url, root, config.backups.restore_sort_memory, timer, began):
        return
    after_restore(url)
    manifest = plan.source.manifest or {}
    _rows(drill, url, plan.source.tables, config, timer)
    _schema(drill, url, ask.source_url, manifest.get("schema"), timer)
    if ask.app is not None and drill.ok:
        _app(drill, ask.app, url, config, time_)
    if drill.ok:
        drill.rto_seconds = round(timer() - began, 3)


def _restore(
    drill: Drill,
    plan: restoring.RestorePlan,
    url: str,
    root: Path,
    sort_memory: str | None,
    timer: Callable[[], float],
    began: float,
) -> bool:
    drill.checked.append(f"restore of backup {drill.backup} into {drill.target}")
    try:
        split.restore_backup(
            plan.tool,
            plan.source.path,
            url,
            work_root=root,
            jobs=plan.jobs,
            keep_owners=False,
            manifest=plan.source.manifest or {},
            split=plan.split,
            sort_memory=sort_memory,
        )
    except BackupFailed as exc:
        drill.stages.append(Stage("restore", "failed", timer() - began, str(exc)))
        drill.problems.append(f"restore: {exc}")
        return False
    saw = f"{len(plan.source.tables)} tables restored with {plan.tool.path.name} -j {plan.jobs}"
    saw += "".join(f"; {t.shown}'s rows in {t.streams} streams" for t in plan.split)
    drill.stages.append(Stage("restore", "passed", timer() - began, saw))
    return True


def _rows(
    drill: Drill,
    url: str,
    tables: list[dict[str, Any]],
    config: Config,
    timer: Callable[[], float],
) -> None:
    began = timer()
    lock_wait_ms = int(config.backups.lock_wait.total_seconds() * 1000)
    found = compare.compare(url, tables, lock_wait_ms=lock_wait_ms)
    summed = sum(1 for t in tables if t.get("checksum"))
    drill.checked.append(
        f"row counts of {len(tables)} tables, content checksums of {summed}, against the manifest"
    )
    problems = [d.text() for d in found.differences]
    drill.problems += problems
    saw = f"{len(found.counted)} tables, {found.rows:,} rows" + (
        f"; {len(problems)} difference(s)" if problems else ", all equal"
    )
    drill.stages.append(Stage("rows", "failed" if problems else "passed", timer() - began, saw))


def _schema(
    drill: Drill,
    url: str,
    source_url: str | None,
    recorded: dict[str, Any] | None,
    timer: Callable[[], float],
) -> None:
    began = timer()
    if recorded is None and source_url is None:
        why = "the backup recorded no schema and there is no source database to read"
        drill.stages.append(Stage("schema", "skipped", 0.0, why))
        return
    with queries.connect(url) as conn:
        restored = catalog.describe(conn)
    if recorded is not None:
        drill.checked.append(
            "schema against the source's at backup time (recorded in the manifest), sequence"
            " values within those read before and after pg_dump"
        )
        found = catalog.diff(
            recorded["description"], restored, sequences_after=recorded["sequences_after"]
        )
    else:
        assert source_url is not None
        drill.checked.append(
            "schema against the source's as it is now (the backup recorded none);"
            " sequence values not compared: the source has moved on since"
        )
        with queries.connect(source_url) as conn:
            found = catalog.diff(catalog.describe(conn), restored, values=False)
    problems = [d.text() for d in found]
    drill.problems += problems
    objects = sum(len(v) for v in restored.values())
    saw = f"{objects} objects compared" + (f"; {len(problems)} difference(s)" if problems else "")
    drill.stages.append(Stage("schema", "failed" if problems else "passed", timer() - began, saw))


def _app(
    drill: Drill, app: AppRun, url: str, config: Config, time_: tuple[Callable[[], float], Clock]
) -> None:
    timer, clock = time_
    began = timer()
    drill.checked.append(f"the app started on the restored database answers {app.health_path}")
    result = check_app(app, url, config=config, clock=clock, timer=timer)
    if not result.ok:
        drill.problems.append(f"app: {result.saw}")
    outcome = "passed" if result.ok else "failed"
    drill.stages.append(Stage("app", outcome, timer() - began, result.saw))
