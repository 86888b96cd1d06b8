"""Target-database actions for runbooks: adapters over `postgres.service`, plus `sql.query`
(what `sql:` steps run, in sql_action.py).

The engine asks before a destructive step runs (`confirm`, `--yes`) and records the step;
the service function audits what it does, exactly as it does for `opsbook db ...`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import Field

from opsbook.bounds import Id
from opsbook.config import Duration, format_duration
from opsbook.config.durations import Timeout
from opsbook.postgres import service, sql_action
from opsbook.postgres.previews import would_end
from opsbook.postgres.sql_action import target_url
from opsbook.runbooks.actions import (
    Action,
    ActionContext,
    ActionFailed,
    ActionInputs,
    Registry,
)

# How a runbook step names the operations' inputs in their messages: as its `with:` keys.
NAMES = {
    "force": "set force: true to include it",
    "with_referencing": "Set with_referencing: true to archive the referencing rows with them",
    "without_backup": "run with no_backup: true",
}


class TargetInputs(ActionInputs):
    database_url: str | None = None


@contextmanager
def _target(context: ActionContext, inputs: TargetInputs) -> Iterator[service.Connection]:
    """The step's target database. A refusal from the service fails the step, in the words
    of a runbook (`with:` keys, not flags)."""
    url = target_url(context, inputs.database_url, to="act on")
    try:
        with service.connect(url) as conn:
            yield conn
    except service.PostgresError as exc:
        done = {"applied": exc.applied} if isinstance(exc, service.MigrationFailed) else {}
        raise ActionFailed(exc.text(NAMES), done) from None


def _who(context: ActionContext) -> service.Who:
    return {"store": context.store, "actor": context.actor, "clock": context.clock}


def _status(context: ActionContext, inputs: TargetInputs) -> dict[str, Any]:
    with _target(context, inputs) as conn:
        report = service.status(conn=conn, config=context.config)
    return {
        "worst": report.worst,
        "connections": report.connections,
        "findings": {
            f.check: {"state": f.state, "value": f.value, "reason": f.reason}
            for f in report.findings
        },
        "long_queries": report.long_queries,
        "blocked": [vars(b) for b in report.blocked],
        "notice": report.visibility.notice if report.visibility else None,
    }


class IdleInputs(TargetInputs):
    older_than: Duration = dt.timedelta(minutes=10)
    in_transaction: bool = False
    force: bool = False


def _terminate_idle(context: ActionContext, inputs: IdleInputs) -> dict[str, Any]:
    with _target(context, inputs) as conn:
        plan = _idle_plan(conn, inputs)
        ended = service.end_sessions(
            conn=conn, plan=plan, incident_id=context.incident_id, **_who(context)
        )
    # hidden: sessions of other roles whose state this role cannot read (never ended blind).
    return {
        "ended": ended.pids,
        "count": len(ended.pids),
        "protected": _protected(plan),
        "hidden": plan.unseen,
    }


def _idle_plan(conn: service.Connection, inputs: IdleInputs) -> service.SessionPlan:
    return service.plan_terminate_idle(
        conn=conn,
        older_than=inputs.older_than,
        in_transaction=inputs.in_transaction,
        force=inputs.force,
    )


def _preview_idle(context: ActionContext, inputs: IdleInputs) -> str:
    with _target(context, inputs) as conn:
        plan = _idle_plan(conn, inputs)
        pool = service.pool_use(conn=conn, config=context.config)
    idle = f"idle{' in transaction' if inputs.in_transaction else ''}"
    return would_end(plan, f"{idle} for more than {format_duration(inputs.older_than)}", pool)


class KillInputs(TargetInputs):
    pids: list[Id]
    cancel: bool = False
    force: bool = False


def _kill(context: ActionContext, inputs: KillInputs) -> dict[str, Any]:
    with _target(context, inputs) as conn:
        plan = service.plan_kill(
            conn=conn, pids=inputs.pids, cancel=inputs.cancel, force=inputs.force
        )
        ended = service.end_sessions(
            conn=conn, plan=plan, incident_id=context.incident_id, **_who(context)
        )
    # `missing` stays for runbooks that read it: a missing pid now refuses the step before
    # any session ends, so a step that succeeds has none.
    return {"ended": ended.pids, "missing": [], "protected": _protected(plan)}


def _protected(plan: service.SessionPlan) -> list[dict[str, Any]]:
    return [{"pid": p.session.pid, "reason": p.reason.say(NAMES)} for p in plan.protected]


class SlowInputs(TargetInputs):
    limit: Id = 10
    min_duration: Duration = dt.timedelta(0)


def _slow(context: ActionContext, inputs: SlowInputs) -> dict[str, Any]:
    with _target(context, inputs) as conn:
        found = service.slow_queries(
            conn=conn, min_duration=inputs.min_duration, limit=inputs.limit
        )
    return {
        "queries": [vars(q) for q in found],
        "count": len(found),
        "longest_seconds": max((q.seconds for q in found), default=0.0),
    }


class TopInputs(TargetInputs):
    limit: Id = 10


def _top(context: ActionContext, inputs: TopInputs) -> dict[str, Any]:
    with _target(context, inputs) as conn:
        found = service.top_statements(conn=conn, limit=inputs.limit)
    if found.missing:
        raise ActionFailed(found.missing, {"statements": [], "count": 0})
    return {"statements": found.statements, "count": len(found.statements), "since": found.since}


def _indexes(context: ActionContext, inputs: TargetInputs) -> dict[str, Any]:
    with _target(context, inputs) as conn:
        found = service.indexes(conn=conn)
    return {**found, "count": sum(len(v) for v in found.values())}


class ArchiveInputs(TargetInputs):
    table: str = "scenario_attempts"
    to: str = "scenario_attempts_archive"
    column: str = "ended_at"
    older_than: Duration = dt.timedelta(days=365)
    batch: int = Field(default=5000, ge=1, le=1_000_000)
    with_referencing: bool = False
    lock_timeout: Timeout = dt.timedelta(seconds=2)  # 0 would mean "wait forever"
    max_lag: Duration = dt.timedelta(seconds=10)
    pause: Duration = dt.timedelta(0)
    vacuum_full: bool = False
    # One cutoff for the whole procedure: a runbook counts, moves and verifies against it.
    before: dt.datetime | None = None


def _archive(context: ActionContext, inputs: ArchiveInputs) -> dict[str, Any]:
    # The inputs are the service's keywords, already typed (durations as timedelta).
    asked = inputs.model_dump(exclude={"database_url"})
    with _target(context, inputs) as conn:
        plan = service.plan_archive(conn=conn, **asked)
        done = service.run_archive(conn=conn, plan=plan, **_who(context))
    return {
        "count": done.moved,
        "batches": done.batches,
        "created": done.created,
        "cutoff": plan.rows.cutoff.isoformat(),
        "seconds": round(done.seconds, 3),
    }


def _describe_archive(i: ArchiveInputs) -> str:
    pace = f"lock_timeout {format_duration(i.lock_timeout)}, pausing while replicas lag"
    pace += f" over {format_duration(i.max_lag)}"
    pace += f", resting {format_duration(i.pause)} between batches" if i.pause else ""
    full = "VACUUM FULL (locks the table for the whole rewrite!)"
    vacuum = full if i.vacuum_full else "VACUUM (ANALYZE)"
    age = f"older than {format_duration(i.older_than)}"
    age = f"before {i.before.isoformat()}" if i.before else age
    return (
        f"move rows of {i.table} with {i.column} {age}"
        f" into {i.to} in batches of {i.batch} ({pace}), then {vacuum}"
    )


class ViewsInputs(TargetInputs):
    names: list[str] = []
    function: str | None = None


def _refresh_views(context: ActionContext, inputs: ViewsInputs) -> dict[str, Any]:
    with _target(context, inputs) as conn:
        plan = service.plan_refresh(conn=conn, names=inputs.names, function=inputs.function)
        done = service.refresh_views(conn=conn, plan=plan, **_who(context))
    if done.function:
        return {"function": done.function, "seconds": round(done.seconds, 3)}
    return {"refreshed": [vars(r) for r in done.refreshed], "count": len(done.refreshed)}


class MigrateInputs(TargetInputs):
    dir: str = "supabase/migrations"
    no_backup: bool = False


def _migrate(context: ActionContext, inputs: MigrateInputs) -> dict[str, Any]:
    directory = context.config.resolve_path(inputs.dir)
    with _target(context, inputs) as conn:
        catalog = service.BackupCatalog(
            context.store, context.clock.now(), context.config.backups.fresh_for
        )
        plan = service.plan_migrations(
            conn=conn, directory=directory, without_backup=inputs.no_backup, catalog=catalog
        )
        done = service.apply_migrations(conn=conn, plan=plan, **_who(context))
    return {"applied": done.applied, "count": len(done.applied), "backup": plan.backup}


def register(registry: Registry) -> None:
    """Register `sql.query` (sql_action.py) and the `db.*` actions."""
    sql_action.register(registry)
    registry.register(
        Action(
            "db.status",
            "Database vitals with ok/warn/crit findings (opsbook db status).",
            TargetInputs,
            _status,
            lambda i: "read database status",
        )
    )
    registry.register(
        Action(
            "db.terminate_idle",
            "End idle sessions older than a duration, sparing protected ones.",
            IdleInputs,
            _terminate_idle,
            lambda i: (
                f"terminate sessions idle{' in transaction' if i.in_transaction else ''}"
                f" for more than {format_duration(i.older_than)}"
                + (" (including superusers)" if i.force else "")
            ),
            destructive=True,
            preview=_preview_idle,
        )
    )
    registry.register(
        Action(
            "db.kill",
            "Cancel or terminate sessions by PID, sparing protected ones.",
            KillInputs,
            _kill,
            lambda i: (
                f"{'cancel the queries of' if i.cancel else 'terminate'} pid "
                + ", ".join(map(str, i.pids))
            ),
            destructive=True,
        )
    )
    registry.register(
        Action(
            "db.slow_queries",
            "Active queries longer than a duration, longest first.",
            SlowInputs,
            _slow,
            lambda i: f"list active queries running over {format_duration(i.min_duration)}",
        )
    )
    registry.register(
        Action(
            "db.top_statements",
            "The statements with the most total time since pg_stat_statements was reset.",
            TopInputs,
            _top,
            lambda i: f"list the {i.limit} costliest statements (pg_stat_statements)",
        )
    )
    registry.register(
        Action(
            "db.indexes",
            "Unused, duplicate and invalid indexes.",
            TargetInputs,
            _indexes,
            lambda i: "list unused, duplicate and invalid indexes",
        )
    )
    registry.register(
        Action(
            "db.archive",
            "Move rows older than a cutoff to an archive table, online, in batches.",
            ArchiveInputs,
            _archive,
            _describe_archive,
            destructive=True,
        )
    )
    registry.register(
        Action(
            "db.refresh_views",
            "Refresh materialized views (CONCURRENTLY where possible) or call a function.",
            ViewsInputs,
            _refresh_views,
            lambda i: (
                f"call {i.function}()"
                if i.function
                else "refresh " + (", ".join(i.names) or "every materialized view")
            ),
        )
    )
    registry.register(
        Action(
            "db.migrate",
            "Apply pending migrations in version order, recorded as Supabase does.",
            MigrateInputs,
            _migrate,
            lambda i: f"apply the pending migrations in {i.dir}",
            destructive=True,
        )
    )
