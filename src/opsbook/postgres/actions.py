"""Target-database actions for runbooks (`sql:` steps run through `sql.query`)."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row
from pydantic import Field

from opsbook.bounds import Id
from opsbook.config import parse_duration
from opsbook.postgres import archive, diagnostics, migrations, queries, remediation, views
from opsbook.postgres.queries import connect, plain
from opsbook.runbooks.actions import (
    LITERAL,
    Action,
    ActionContext,
    ActionFailed,
    ActionInputs,
    Registry,
)
from opsbook.store.audit import audited

ROW_LIMIT = 500


class SqlInputs(ActionInputs):
    # Never templated: values are bound through params (`%(name)s`), never spliced in.
    sql: str = Field(json_schema_extra=LITERAL)
    params: dict[str, Any] = {}
    writes: bool = False
    database_url: str | None = None


def _query(context: ActionContext, inputs: SqlInputs) -> dict[str, Any]:
    url = inputs.database_url
    if url is None:
        if context.config.database.url is None:
            raise ActionFailed("database.url is not set in the config: no database to query")
        url = context.config.database.url.reveal()
    try:
        with connect(url, autocommit=False) as conn:
            with conn.cursor(row_factory=dict_row) as cur:
                # Read-only unless the step says it writes; bounded by the step's timeout.
                if not inputs.writes:
                    cur.execute("SET TRANSACTION READ ONLY")
                cur.execute(
                    "SELECT set_config('statement_timeout', %s, true)",
                    (f"{int(context.timeout * 1000)}ms",),
                )
                # A read-only step runs exactly one statement, prepared (the extended
                # protocol refuses "commit; create table ..."), inside a READ ONLY
                # transaction that a single statement cannot turn read-write.
                cur.execute(inputs.sql.encode(), inputs.params or None, prepare=not inputs.writes)
                rows = cur.fetchmany(ROW_LIMIT) if cur.description else []
                columns = [c.name for c in cur.description] if cur.description else []
                rowcount = cur.rowcount
            conn.commit()
    except psycopg.Error as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ActionFailed(f"SQL failed: {message}") from None
    return {
        "rows": [{k: plain(v) for k, v in row.items()} for row in rows],
        "rowcount": rowcount,
        "columns": columns,
    }


def _describe(inputs: SqlInputs) -> str:
    mode = "WRITES" if inputs.writes else "read-only"
    params = f" with {inputs.params}" if inputs.params else ""
    return f"SQL ({mode}){params}:\n{inputs.sql.strip()}"


def _target(context: ActionContext, given: str | None) -> str:
    if given:
        return given
    if context.config.database.url is None:
        raise ActionFailed("database.url is not set in the config: no database to act on")
    return context.config.database.url.reveal()


class StatusInputs(ActionInputs):
    database_url: str | None = None


def _status(context: ActionContext, inputs: StatusInputs) -> dict[str, Any]:
    with connect(_target(context, inputs.database_url)) as conn:
        report = diagnostics.status(
            conn,
            thresholds=diagnostics.Thresholds.from_config(context.config),
            disk_quota=context.config.database.disk_quota,
        )
    return {
        "worst": report.worst,
        "connections": report.connections,
        "findings": {
            f.check: {"state": f.state, "value": f.value, "reason": f.reason}
            for f in report.findings
        },
        "long_queries": report.long_queries,
        "blocked": report.blocked,
    }


class IdleInputs(ActionInputs):
    older_than: str = "10m"
    in_transaction: bool = False
    force: bool = False
    database_url: str | None = None


def _terminate_idle(context: ActionContext, inputs: IdleInputs) -> dict[str, Any]:
    try:
        seconds = parse_duration(inputs.older_than).total_seconds()
    except ValueError as exc:
        raise ActionFailed(f"older_than: {exc}") from None
    with connect(_target(context, inputs.database_url)) as conn:
        database = queries.one(conn, "server_info")["database"]
        plan = remediation.plan(
            conn,
            remediation.idle(seconds, in_transaction=inputs.in_transaction, database=database),
            force=inputs.force,
        )
        ended = remediation.end_sessions(
            conn,
            plan.targets,
            store=context.store,
            actor=context.actor,
            clock=context.clock,
            cancel=False,
            incident_id=context.incident_id,
        )
    return {
        "ended": ended,
        "count": len(ended),
        "protected": [{"pid": s["pid"], "reason": r} for s, r in plan.protected],
    }


class KillInputs(ActionInputs):
    pids: list[Id]
    cancel: bool = False
    force: bool = False
    database_url: str | None = None


def _kill(context: ActionContext, inputs: KillInputs) -> dict[str, Any]:
    with connect(_target(context, inputs.database_url)) as conn:
        plan = remediation.plan(conn, remediation.by_pid(inputs.pids), force=inputs.force)
        ended = remediation.end_sessions(
            conn,
            plan.targets,
            store=context.store,
            actor=context.actor,
            clock=context.clock,
            cancel=inputs.cancel,
            incident_id=context.incident_id,
        )
    missing = sorted(set(inputs.pids) - set(ended) - {s["pid"] for s, _ in plan.protected})
    return {
        "ended": ended,
        "missing": missing,
        "protected": [{"pid": s["pid"], "reason": r} for s, r in plan.protected],
    }


class SlowInputs(ActionInputs):
    limit: Id = 10
    min_duration: str = "0s"
    database_url: str | None = None


def _slow(context: ActionContext, inputs: SlowInputs) -> dict[str, Any]:
    try:
        seconds = parse_duration(inputs.min_duration).total_seconds()
    except ValueError as exc:
        raise ActionFailed(f"min_duration: {exc}") from None
    with connect(_target(context, inputs.database_url)) as conn:
        found = queries.rows(conn, "slow_queries", {"min_seconds": seconds, "limit": inputs.limit})
    return {
        "queries": found,
        "count": len(found),
        "longest_seconds": max((q["seconds"] for q in found), default=0.0),
    }


class IndexInputs(ActionInputs):
    database_url: str | None = None


def _indexes(context: ActionContext, inputs: IndexInputs) -> dict[str, Any]:
    with connect(_target(context, inputs.database_url)) as conn:
        found = {
            name: queries.rows(conn, f"{name}_indexes")
            for name in ("unused", "duplicate", "invalid")
        }
    return {**found, "count": sum(len(v) for v in found.values())}


class ArchiveInputs(ActionInputs):
    table: str = "scenario_attempts"
    to: str = "scenario_attempts_archive"
    column: str = "ended_at"
    older_than: str = "1y"
    batch: int = Field(default=5000, ge=1, le=1_000_000)
    with_referencing: bool = False
    database_url: str | None = None


def _archive(context: ActionContext, inputs: ArchiveInputs) -> dict[str, Any]:
    try:
        age = parse_duration(inputs.older_than)
    except ValueError as exc:
        raise ActionFailed(f"older_than: {exc}") from None
    with connect(_target(context, inputs.database_url)) as conn:
        try:
            plan = archive.prepare(
                conn,
                table=inputs.table,
                to=inputs.to,
                column=inputs.column,
                older_than=age,
                with_referencing=inputs.with_referencing,
            )
        except archive.ArchiveError as exc:
            raise ActionFailed(str(exc)) from None
        with audited(
            context.store,
            action="db.archive",
            target=f"{plan.source} -> {plan.archive}",
            actor=context.actor,
            clock=context.clock,
            details={"candidates": plan.candidates, "cutoff": plan.cutoff.isoformat()},
        ) as record:
            created = archive.create_archives(conn, plan)
            result = archive.run(conn, plan, pacing=archive.Pacing(batch=inputs.batch))
            record.details.update({"moved": result.moved, "batches": result.batches})
        archive.vacuum(conn, plan.source, full=False)
    return {
        "count": result.moved,
        "batches": result.batches,
        "created": created,
        "cutoff": plan.cutoff.isoformat(),
        "seconds": round(result.seconds, 3),
    }


class ViewsInputs(ActionInputs):
    names: list[str] = []
    function: str | None = None
    database_url: str | None = None


def _refresh_views(context: ActionContext, inputs: ViewsInputs) -> dict[str, Any]:
    with connect(_target(context, inputs.database_url)) as conn:
        try:
            if inputs.function:
                with audited(
                    context.store,
                    action="db.view.refresh",
                    target=inputs.function,
                    actor=context.actor,
                    clock=context.clock,
                ):
                    seconds = views.call_function(conn, inputs.function)
                return {"function": inputs.function, "seconds": round(seconds, 3)}
            done = []
            for view in views.resolve(conn, inputs.names):
                target = f"{view['schema']}.{view['name']}"
                with audited(
                    context.store,
                    action="db.view.refresh",
                    target=target,
                    actor=context.actor,
                    clock=context.clock,
                ):
                    done.append(views.refresh_one(conn, view).__dict__)
        except views.ViewError as exc:
            raise ActionFailed(str(exc)) from None
    return {"refreshed": done, "count": len(done)}


class MigrateInputs(ActionInputs):
    dir: str = "supabase/migrations"
    no_backup: bool = False
    database_url: str | None = None


def _migrate(context: ActionContext, inputs: MigrateInputs) -> dict[str, Any]:
    if not inputs.no_backup:
        raise ActionFailed(
            "back up the database first (opsbook's backups arrive later): take one"
            " yourself, then run with no_backup: true"
        )
    directory = context.config.resolve_path(inputs.dir)
    done: list[str] = []
    with connect(_target(context, inputs.database_url)) as conn:
        try:
            pending = migrations.status(conn, directory).pending
            for migration in pending:
                with audited(
                    context.store,
                    action="db.migrate",
                    target=migration.label,
                    actor=context.actor,
                    clock=context.clock,
                ):
                    migrations.apply_one(conn, migration)
                done.append(migration.label)
        except (migrations.MigrationError, migrations.MigrationFailed) as exc:
            raise ActionFailed(str(exc), {"applied": done}) from None
    return {"applied": done, "count": len(done)}


def register(registry: Registry) -> None:
    registry.register(
        Action(
            "sql.query",
            "Run SQL on the target database (read-only unless writes: true).",
            SqlInputs,
            _query,
            _describe,
            writes=lambda i: i.writes,
        )
    )
    registry.register(
        Action(
            "db.status",
            "Database vitals with ok/warn/crit findings (opsbook db status).",
            StatusInputs,
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
                f" for more than {i.older_than}" + (" (including superusers)" if i.force else "")
            ),
            destructive=True,
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
            lambda i: f"list active queries running over {i.min_duration}",
        )
    )
    registry.register(
        Action(
            "db.indexes",
            "Unused, duplicate and invalid indexes.",
            IndexInputs,
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
            lambda i: (
                f"move rows of {i.table} with {i.column} older than {i.older_than} into"
                f" {i.to} in batches of {i.batch}, then VACUUM (ANALYZE)"
            ),
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
