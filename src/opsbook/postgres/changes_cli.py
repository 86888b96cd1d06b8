"""The `opsbook db` commands that change the target database, each through the guard.

Each one plans with `postgres.service`, shows the plan, acts only with `--yes` or a yes at
a terminal (`opsbook.guard`), and prints what the service did; the service audits it.
Mounted on the `db` app by `postgres/cli.py`.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from opsbook.bounds import MAX_ID
from opsbook.console import Cell, console, err, fail, literal, print_json, print_rows, safe
from opsbook.context import AppContext, app_context
from opsbook.guard import guarded
from opsbook.postgres import service
from opsbook.postgres.door import DIR, FLAGS, FORCE, INCIDENT, JSON, YES, duration, seconds, target
from opsbook.store.audit import default_actor


def idle(
    ctx: typer.Context,
    older_than: str = typer.Option("10m", "--older-than", help="Idle for at least this long."),
    in_transaction: bool = typer.Option(
        False, "--in-transaction", help="Idle in transaction instead of idle."
    ),
    terminate: bool = typer.Option(False, "--terminate", help="End them (shows them first)."),
    yes: bool = YES,
    force: bool = FORCE,
    incident: int | None = INCIDENT,
    as_json: bool = JSON,
) -> None:
    """Idle sessions (the runbook's "Kill idle connections"); --terminate ends them.

    Example: opsbook db idle --older-than 10m --terminate --incident 12
    """
    age = duration("--older-than", older_than)
    with target(ctx, writes=True) as conn:
        plan = service.plan_terminate_idle(
            conn=conn, older_than=age, in_transaction=in_transaction, force=force
        )
        _end_sessions(ctx, conn, plan, act=terminate, yes=yes, incident=incident, as_json=as_json)


def kill(
    ctx: typer.Context,
    pids: list[int] = typer.Argument(None, metavar="[PID]...", min=1, max=MAX_ID),
    cancel: bool = typer.Option(False, "--cancel", help="Cancel the query, keep the session."),
    all_connections: bool = typer.Option(
        False, "--all-connections", help="Every other client session of this database."
    ),
    yes: bool = YES,
    force: bool = FORCE,
    incident: int | None = INCIDENT,
    as_json: bool = JSON,
) -> None:
    """End sessions by PID, or every other session of the database (careful!).

    Example: opsbook db kill 12345 --cancel --yes
    """
    if bool(pids) == all_connections:
        fail("name the PIDs to end, or pass --all-connections (not both)")
    with target(ctx, writes=True) as conn:
        plan = service.plan_kill(
            conn=conn, pids=None if all_connections else pids, cancel=cancel, force=force
        )
        _end_sessions(ctx, conn, plan, act=True, yes=yes, incident=incident, as_json=as_json)


def _end_sessions(
    ctx: typer.Context,
    conn: service.Connection,
    plan: service.SessionPlan,
    *,
    act: bool,
    yes: bool,
    incident: int | None,
    as_json: bool,
) -> None:
    context = app_context(ctx)
    # With --yes nothing is asked: the plan is shown once, as what was done.
    quiet = as_json or (act and yes)
    outcome = guarded(
        plan,
        show=None if quiet else _show_sessions,
        needed=act and bool(plan.targets),
        yes=yes,
        to=f"{plan.verb} {len(plan.targets)} session(s)",
        act=lambda p: service.end_sessions(
            conn=conn, plan=p, incident_id=incident, **_who(context)
        ),
    )
    ended = outcome.result.pids if outcome.result else []
    if as_json:
        protected = [{"pid": p.session.pid, "reason": p.reason.say(FLAGS)} for p in plan.protected]
        print_json(
            {"targets": plan.targets, "ended": ended, "protected": protected, "hidden": plan.unseen}
        )
    elif outcome.acted:
        done = "cancelled" if plan.cancel else "terminated"
        console.print(f"{done} {len(ended)} of {len(plan.targets)} session(s):")
        print_rows([s for s in plan.targets if s.pid in ended], _SESSION, as_json=False)
        _show_kept(plan)
    elif quiet:
        _show_sessions(plan)


def _show_sessions(plan: service.SessionPlan) -> None:
    count = len(plan.targets)
    if count:
        console.print(f"would {plan.verb} {count} session(s):")
        print_rows(plan.targets, _SESSION, as_json=False)
    elif not plan.unseen:
        console.print("no session to end")
    _show_kept(plan)


def _show_kept(plan: service.SessionPlan) -> None:
    for kept in plan.protected:
        console.print(literal(f"  kept {kept.session.describe()}: {kept.reason.say(FLAGS)}"))
    if plan.unseen and plan.visibility:
        console.print(literal(_unseen(plan.unseen, plan.visibility)))


def _unseen(pids: list[int], rights: service.Visibility) -> str:
    """Why sessions that may be idle were left out: this role cannot see their state (and,
    without pg_signal_backend, could not end them either)."""
    sessions = f"{len(pids)} session(s) of other roles in this database"
    if rights.ends_others:
        return (
            f"this role cannot see whether {sessions} are idle, so it leaves them: {rights.grant}"
        )
    return (
        f"this role can neither see whether {sessions} are idle nor end them: {rights.grant} "
        "to see them (ending them also needs pg_signal_backend)"
    )


_SESSION: list[tuple[str, Cell[service.Session]]] = [
    ("pid", lambda s: str(s.pid)),
    ("user", lambda s: s.user or ""),
    ("application", lambda s: s.application or ""),
    ("state", lambda s: s.state or ""),
    ("for", lambda s: seconds(s.state_seconds)),
    ("query", lambda s: (s.query or "")[:60]),
]


def archive(
    ctx: typer.Context,
    table: str = typer.Option("scenario_attempts", "--table", help="Table to archive from."),
    to: str = typer.Option("scenario_attempts_archive", "--to", help="Archive table."),
    column: str = typer.Option("ended_at", "--column", help="Timestamp that says how old."),
    older_than: str = typer.Option("1y", "--older-than", help="Move rows older than this."),
    batch: int = typer.Option(5000, "--batch", min=1, max=1_000_000, help="Rows per statement."),
    with_referencing: bool = typer.Option(
        False, "--with-referencing", help="Also archive rows that reference moved ones."
    ),
    lock_timeout: str = typer.Option("2s", "--lock-timeout", help="Give up a batch's lock after."),
    max_lag: str = typer.Option("10s", "--max-lag", help="Pause while replicas lag more."),
    pause: str = typer.Option("0s", "--pause", help="Rest between batches."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the plan; move nothing."),
    yes: bool = typer.Option(False, "--yes", help="Move without asking."),
    vacuum_full: bool = typer.Option(
        False, "--vacuum-full", help="VACUUM FULL afterwards (locks the table!)."
    ),
    as_json: bool = JSON,
) -> None:
    """Move old rows to an archive table online, in batches; safe to stop and rerun.

    Example: opsbook db archive --table scenario_attempts --to scenario_attempts_archive --yes
    """
    age = duration("--older-than", older_than)
    # PostgreSQL reads a lock_timeout of 0 as "wait forever": at least 1ms.
    timeout = duration("--lock-timeout", lock_timeout, minimum=dt.timedelta(milliseconds=1))
    lag, rest = duration("--max-lag", max_lag), duration("--pause", pause)
    context = app_context(ctx)
    with target(ctx, writes=True) as conn:
        plan = service.plan_archive(
            conn=conn,
            table=table,
            to=to,
            column=column,
            older_than=age,
            with_referencing=with_referencing,
            batch=batch,
            lock_timeout=timeout,
            max_lag=lag,
            pause=rest,
            vacuum_full=vacuum_full,
        )
        outcome = guarded(
            plan,
            show=None if as_json else _show_archival,
            needed=plan.rows.candidates > 0,
            dry_run=dry_run,
            yes=yes,
            to="move the rows",
            act=lambda p: _archive(conn, p, context),
        )
    done = outcome.result
    data: dict[str, Any] = {**plan.summary(), "dry_run": outcome.dry_run, "moved": 0}
    if done is not None:
        data.update(vars(done), dry_run=False, seconds=round(done.seconds, 3))
    if as_json:
        print_json(data)
    elif done is not None:
        rate = done.moved / done.seconds if done.seconds else 0.0
        console.print(
            f"moved {done.moved:,} rows in {done.batches} batches "
            f"({rate:,.0f} rows/s); VACUUM ({data['vacuum'].upper()}) done"
        )


def _show_archival(plan: service.ArchivalPlan) -> None:
    rows, batch = plan.rows, plan.pacing.batch
    created = " (created like the source)" if rows.create_archive else ""
    lines = [
        f"archive {rows.candidates:,} rows of {rows.source} with {rows.column} before "
        f"{rows.cutoff:%Y-%m-%d %H:%M %Z} into {rows.archive}{created}",
        f"in about {plan.batches:,} batches of {batch:,}, one statement each; rows where "
        f"{rows.column} is NULL (still in progress) stay",
    ]
    lines += [f"with referencing rows of {r.table} into {r.archive}" for r in rows.referencing]
    for line in lines:
        console.print(literal(line))


def _archive(
    conn: service.Connection, plan: service.ArchivalPlan, context: AppContext
) -> service.Archived:
    if plan.vacuum_full:
        err.print(
            "[bold yellow]warning:[/] VACUUM FULL takes an ACCESS EXCLUSIVE lock on "
            f"{safe(plan.rows.source)}: every read and write waits until it has rewritten it"
        )
    with Progress(
        TextColumn("archiving"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,}"),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("archive", total=plan.rows.candidates)
        return service.run_archive(
            conn=conn,
            plan=plan,
            progress=lambda n: bar.advance(task, n),
            note=lambda text: err.print(literal(text)),
            **_who(context),
        )


def views_refresh(
    ctx: typer.Context,
    names: list[str] = typer.Argument(None, metavar="[NAME]..."),
    function: str | None = typer.Option(
        None, "--function", help="Call this function instead (no arguments)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Say how each would refresh; do not."),
    as_json: bool = JSON,
) -> None:
    """Refresh views, CONCURRENTLY where a unique index allows (and say why not otherwise).

    Example: opsbook db views refresh --function refresh_reporting_views
    """
    context = app_context(ctx)
    with target(ctx, writes=True) as conn:
        plan = service.plan_refresh(conn=conn, names=names or [], function=function)
        # A refresh loses nothing, so it needs no yes; a view without a unique index blocks
        # its readers while it refreshes, which --dry-run shows beforehand.
        outcome = guarded(
            plan,
            show=_show_refresh if dry_run and not as_json else None,
            dry_run=dry_run,
            ask=False,
            to="refresh them",
            act=lambda p: service.refresh_views(conn=conn, plan=p, **_who(context)),
        )
    if as_json:
        print_json(_refresh_json(plan, outcome.result))
    elif outcome.result is not None:
        _print_refreshed(outcome.result)


def _show_refresh(plan: service.RefreshPlan) -> None:
    if plan.function:
        console.print(f"would call {safe(plan.function)}()")
    for view in plan.views:
        why_not = view.why_not_concurrently
        how = f"not concurrently: {why_not}" if why_not else "concurrently"
        console.print(literal(f"would refresh {view.qualified} {how}"))


def _refresh_json(plan: service.RefreshPlan, done: service.ViewsRefreshed | None) -> Any:
    if done is None:
        views = [
            {
                "view": v.qualified,
                "concurrently": not v.why_not_concurrently,
                "why_not": v.why_not_concurrently,
            }
            for v in plan.views
        ]
        return {"dry_run": True, "function": plan.function, "views": views}
    return {"function": done.function, "seconds": done.seconds} if done.function else done.refreshed


def _print_refreshed(done: service.ViewsRefreshed) -> None:
    if done.function:
        console.print(f"called {safe(done.function)}() in {done.seconds:.2f}s")
    for r in done.refreshed:
        how = "concurrently" if r.concurrently else "not concurrently"
        console.print(f"refreshed {safe(r.view)} {how} in {r.seconds:.2f}s")
        if r.why_not:
            console.print(literal(f"  not concurrently because {r.why_not}"))


def migrations_apply(
    ctx: typer.Context,
    directory: Path = DIR,
    no_backup: bool = typer.Option(
        False,
        "--no-backup",
        help="Apply without a verified backup (else one of the last backups.fresh_for).",
    ),
    yes: bool = typer.Option(False, "--yes", help="Apply without asking."),
    as_json: bool = JSON,
) -> None:
    """Apply pending migrations in version order, each in a transaction.

    Example: opsbook db migrations apply --dir supabase/migrations --no-backup --yes
    """
    context = app_context(ctx)
    with target(ctx, writes=True) as conn:
        catalog = service.BackupCatalog(
            context.store(), context.clock.now(), context.config().backups.fresh_for
        )
        plan = service.plan_migrations(
            conn=conn, directory=directory, without_backup=no_backup, catalog=catalog
        )
        try:
            outcome = guarded(
                plan,
                show=None if as_json else _show_migrations,
                needed=bool(plan.pending),
                yes=yes,
                to=f"apply {len(plan.pending)} migration(s)",
                act=lambda p: service.apply_migrations(conn=conn, plan=p, **_who(context)),
            )
        except service.MigrationFailed as exc:
            _print_applied(exc.applied, {"failed": exc.migration.label, "error": str(exc)}, as_json)
            raise
    applied = outcome.result.applied if outcome.result else []
    dry_run = {"dry_run": True, "pending": [m.label for m in plan.pending]}
    _print_applied(applied, dry_run if outcome.dry_run else {}, as_json)


def _show_migrations(plan: service.MigrationPlan) -> None:
    if not plan.pending:
        console.print("no pending migrations")
    elif plan.backup is not None:
        console.print(f"verified backup {plan.backup} is fresh: restore it if this goes wrong")
    for migration in plan.pending:
        console.print(f"would apply {safe(migration.label)}")


def _print_applied(applied: list[str], more: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json({"applied": applied, **more})
        return
    for label in applied:
        console.print(f"applied {safe(label)}")


def _who(context: AppContext) -> service.Who:
    """Who acts and where it is written down: this command's store, actor and clock."""
    return {"store": context.store(), "actor": default_actor(), "clock": context.clock}
