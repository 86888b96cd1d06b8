"""`opsbook db ...`: the target database, readable in ten seconds, fixable safely."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from opsbook.bounds import MAX_ID
from opsbook.config.secrets import mask_text
from opsbook.console import (
    Exit,
    Table,
    console,
    duration_option,
    err,
    fail,
    literal,
    print_json,
    safe,
)
from opsbook.context import app_context
from opsbook.incidents import service as incidents
from opsbook.postgres import archive as archive_mod
from opsbook.postgres import diagnostics, queries, remediation
from opsbook.postgres import migrations as migrations_mod
from opsbook.postgres import views as views_mod
from opsbook.postgres.diagnostics import human_bytes, human_seconds
from opsbook.store.audit import audited, default_actor
from opsbook.store.audit import entries as audit_entries

app = typer.Typer(
    help="The target database: status, diagnostics, safe remediation.", no_args_is_help=True
)
_JSON = typer.Option(False, "--json", help="Print as JSON.")
_INCIDENT = typer.Option(None, "--incident", min=1, max=MAX_ID, help="Note it on this incident.")
_STYLE = {"ok": "green", "info": "cyan", "warn": "yellow", "crit": "bold red"}


@app.callback()
def db(
    ctx: typer.Context,
    database_url: str | None = typer.Option(
        None,
        "--database-url",
        envvar="OPSBOOK_DATABASE_URL",
        help="Target database (default: database.url in the config).",
    ),
) -> None:
    """Example: opsbook db status"""
    app_context(ctx).database_url_option = database_url


@contextmanager
def _connect(ctx: typer.Context) -> Iterator[psycopg.Connection[Any]]:
    context = app_context(ctx)
    url = context.target_url()
    try:
        conn = queries.connect(url)
    except psycopg.OperationalError as exc:
        reason = mask_text(str(exc).strip().splitlines()[0] if str(exc).strip() else "", [url])
        fail(f"cannot connect to the target database: {reason}", Exit.FOUND)
    with conn:
        yield conn


def _seconds(value: float | None) -> str:
    return "" if value is None else human_seconds(value)


@app.command("status")
def status(ctx: typer.Context, as_json: bool = _JSON) -> None:
    """One screen: connections, long and blocked queries, cache, size, lag, wraparound.

    Example: opsbook db status
    """
    context = app_context(ctx)
    config = context.config()
    with _connect(ctx) as conn:
        report = diagnostics.status(
            conn,
            thresholds=diagnostics.Thresholds.from_config(config),
            disk_quota=config.database.disk_quota,
        )
    if as_json:
        print_json(
            {
                "server": report.server,
                "connections": report.connections,
                "worst": report.worst,
                "findings": [f.__dict__ for f in report.findings],
                "long_queries": report.long_queries,
                "blocked": report.blocked,
                "replicas": report.replicas,
            }
        )
    else:
        server = report.server
        console.print(
            f"[bold]{safe(server['database'])}[/] on PostgreSQL {safe(server['version'])}, up "
            f"{_seconds(server['uptime'])}" + (" (replica)" if server["in_recovery"] else "")
        )
        states = report.connections
        console.print(
            f"connections: {states['total']} ({states['active']} active, "
            f"{states['idle']} idle, {states['idle_in_transaction']} idle in "
            f"transaction, {states['waiting']} waiting on locks)"
        )
        table = Table("check", "state", "value", "why")
        for f in report.findings:
            table.add_row(f.check, literal(f.state, _STYLE[f.state]), f.value, f.reason)
        console.print(table)
        if report.long_queries:
            console.print("[bold]longest running[/]")
            for q in report.long_queries:
                console.print(
                    literal(f"  pid {q['pid']}  {_seconds(q['seconds'])}  {q['query'][:100]}")
                )
        for b in report.blocked:
            console.print(
                literal(
                    f"  pid {b['blocked_pid']} waits {_seconds(b['waiting_seconds'])} "
                    f"on pid {b['blocking_pid']} ({b['blocking_state']}): "
                    f"{b['blocking_query'][:80]}"
                )
            )
    if report.worst == "crit":
        raise typer.Exit(Exit.FOUND)


@app.command("connections")
def connections(
    ctx: typer.Context,
    by: str = typer.Option("state", "--by", help="state, user, application or client."),
    as_json: bool = _JSON,
) -> None:
    """Client connections grouped by state, user, application or client address.

    Example: opsbook db connections --by application
    """
    if by not in ("state", "user", "application", "client"):
        fail(f"--by {by!r}: use state, user, application or client")
    with _connect(ctx) as conn:
        found = queries.rows(conn, "connections_by", {"group": by})
    if as_json:
        print_json(found)
        return
    table = Table(by, "connections", "active", "idle", "idle in transaction")
    for row in found:
        table.add_row(
            str(row["key"]),
            str(row["connections"]),
            str(row["active"]),
            str(row["idle"]),
            str(row["idle_in_transaction"]),
        )
    console.print(table)


@app.command("slow")
def slow(
    ctx: typer.Context,
    limit: int = typer.Option(10, "--limit", min=1, max=MAX_ID),
    min_duration: str = typer.Option("0s", "--min-duration", help="e.g. 30s, 5m."),
    as_json: bool = _JSON,
) -> None:
    """Active queries, longest first (the runbook's "Check slow queries").

    Example: opsbook db slow --min-duration 30s
    """
    seconds = duration_option("--min-duration", min_duration).total_seconds()
    with _connect(ctx) as conn:
        found = queries.rows(conn, "slow_queries", {"min_seconds": seconds, "limit": limit})
    if as_json:
        print_json(found)
        return
    table = Table("pid", "running", "user", "application", "query")
    for q in found:
        table.add_row(
            str(q["pid"]),
            _seconds(q["seconds"]),
            q["user"] or "",
            q["application"] or "",
            literal(q["query"], newlines=True),
        )
    console.print(table if found else "no active queries over that duration")


@app.command("blocked")
def blocked(ctx: typer.Context, as_json: bool = _JSON) -> None:
    """Queries waiting on a lock and the sessions blocking them.

    Example: opsbook db blocked
    """
    with _connect(ctx) as conn:
        found = queries.rows(conn, "blocked_queries")
    if as_json:
        print_json(found)
        return
    table = Table("waiting pid", "waiting", "query", "blocked by", "its state", "its query")
    for b in found:
        table.add_row(
            str(b["blocked_pid"]),
            _seconds(b["waiting_seconds"]),
            literal(b["blocked_query"], newlines=True),
            str(b["blocking_pid"]),
            b["blocking_state"] or "",
            literal(b["blocking_query"], newlines=True),
        )
    console.print(table if found else "no query waits on a lock")


@app.command("sizes")
def sizes(
    ctx: typer.Context,
    tables: bool = typer.Option(False, "--tables", help="Only tables (no materialized views)."),
    limit: int = typer.Option(20, "--limit", min=1, max=MAX_ID),
    as_json: bool = _JSON,
) -> None:
    """Database size, then tables and materialized views with index and TOAST sizes.

    Example: opsbook db sizes --limit 10
    """
    with _connect(ctx) as conn:
        server = queries.one(conn, "server_info")
        found = queries.rows(conn, "table_sizes", {"limit": limit})
    if tables:
        found = [r for r in found if r["kind"] == "table"]
    if as_json:
        print_json(
            {
                "database": server["database"],
                "database_bytes": server["database_bytes"],
                "relations": found,
            }
        )
        return
    console.print(f"{safe(server['database'])}: {human_bytes(server['database_bytes'])}")
    table = Table("relation", "kind", "total", "table", "indexes", "toast", "rows (est.)")
    for r in found:
        table.add_row(
            f"{r['schema']}.{r['name']}",
            r["kind"],
            human_bytes(r["total_bytes"]),
            human_bytes(r["table_bytes"]),
            human_bytes(r["index_bytes"]),
            human_bytes(r["toast_bytes"]),
            f"{max(r['estimated_rows'], 0):,}",
        )
    console.print(table)


@app.command("indexes")
def indexes(
    ctx: typer.Context,
    unused: bool = typer.Option(False, "--unused", help="Never scanned (not unique/primary)."),
    duplicate: bool = typer.Option(False, "--duplicate", help="Covered by another index."),
    invalid: bool = typer.Option(False, "--invalid", help="Left invalid by a failed build."),
    as_json: bool = _JSON,
) -> None:
    """Indexes worth a look: unused, duplicate or invalid.

    Example: opsbook db indexes --unused
    """
    chosen = [
        n for n, on in (("unused", unused), ("duplicate", duplicate), ("invalid", invalid)) if on
    ] or ["unused", "duplicate", "invalid"]
    with _connect(ctx) as conn:
        found = {name: queries.rows(conn, f"{name}_indexes") for name in chosen}
    if as_json:
        print_json(found)
    else:
        _print_indexes(found)
    if any(found.values()):
        raise typer.Exit(Exit.FOUND)


def _print_indexes(found: dict[str, list[dict[str, Any]]]) -> None:
    for name, rows in found.items():
        console.print(f"[bold]{name}[/]: {len(rows)}")
        for row in rows:
            extra = f" (covered by {row['covered_by']})" if "covered_by" in row else ""
            console.print(
                literal(
                    f"  {row['schema']}.{row['index']} on {row['table']}: "
                    f"{human_bytes(row['bytes'])}{extra}"
                )
            )


@app.command("sequences")
def sequences(
    ctx: typer.Context,
    warn: float = typer.Option(
        0.75, "--warn", min=0, max=1, help="Flag sequences past this share used."
    ),
    as_json: bool = _JSON,
) -> None:
    """Sequences and how much of their range is used (exhaustion stops inserts).

    Example: opsbook db sequences --warn 0.5
    """
    with _connect(ctx) as conn:
        found = queries.rows(conn, "sequences")
    if as_json:
        print_json(found)
    else:
        table = Table("sequence", "type", "last value", "used")
        for s in found:
            style = "bold red" if s["used"] >= warn else "green"
            table.add_row(
                f"{s['schema']}.{s['sequence']}",
                s["type"],
                str(s["last_value"]),
                literal(f"{s['used']:.4%}", style),
            )
        console.print(table)
    if any(s["used"] >= warn for s in found):
        raise typer.Exit(Exit.FOUND)


# --- remediation -----------------------------------------------------------------------------


@app.command("idle")
def idle(
    ctx: typer.Context,
    older_than: str = typer.Option("10m", "--older-than", help="Idle for at least this long."),
    in_transaction: bool = typer.Option(
        False, "--in-transaction", help="Idle in transaction instead of idle."
    ),
    terminate: bool = typer.Option(False, "--terminate", help="End them (shows them first)."),
    yes: bool = typer.Option(False, "--yes", help="Act without asking."),
    force: bool = typer.Option(False, "--force", help="Include superuser-owned sessions."),
    incident: int | None = _INCIDENT,
    as_json: bool = _JSON,
) -> None:
    """Idle sessions (the runbook's "Kill idle connections"); --terminate ends them.

    Example: opsbook db idle --older-than 10m --terminate --incident 12
    """
    seconds = duration_option("--older-than", older_than).total_seconds()
    with _connect(ctx) as conn:
        database = queries.one(conn, "server_info")["database"]
        found = remediation.plan(
            conn,
            remediation.idle(seconds, in_transaction=in_transaction, database=database),
            force=force,
        )
        _act(
            ctx,
            conn,
            found,
            action="db.terminate",
            act=terminate,
            yes=yes,
            cancel=False,
            incident=incident,
            as_json=as_json,
        )


@app.command("kill")
def kill(
    ctx: typer.Context,
    pids: list[int] = typer.Argument(None, metavar="[PID]...", min=1, max=MAX_ID),
    cancel: bool = typer.Option(False, "--cancel", help="Cancel the query, keep the session."),
    all_connections: bool = typer.Option(
        False, "--all-connections", help="Every other client session of this database."
    ),
    yes: bool = typer.Option(False, "--yes", help="Act without asking."),
    force: bool = typer.Option(False, "--force", help="Include superuser-owned sessions."),
    incident: int | None = _INCIDENT,
    as_json: bool = _JSON,
) -> None:
    """End sessions by PID, or every other session of the database (careful!).

    Example: opsbook db kill 12345 --cancel --yes
    """
    pids = list(pids or [])
    if bool(pids) == all_connections:
        fail("name the PIDs to end, or pass --all-connections (not both)")
    with _connect(ctx) as conn:
        database = queries.one(conn, "server_info")["database"]
        pick = remediation.whole_database(database) if all_connections else remediation.by_pid(pids)
        found = remediation.plan(conn, pick, force=force)
        seen = {s["pid"] for s in found.targets} | {s["pid"] for s, _ in found.protected}
        missing = [p for p in pids if p not in seen]
        if missing:
            fail(
                f"no client session with pid {', '.join(map(str, missing))} (system and "
                "replication backends are never ended); nothing was changed"
            )
        _act(
            ctx,
            conn,
            found,
            action="db.cancel" if cancel else "db.terminate",
            act=True,
            yes=yes,
            cancel=cancel,
            incident=incident,
            as_json=as_json,
        )


def _act(
    ctx: typer.Context,
    conn: psycopg.Connection[Any],
    found: remediation.Plan,
    *,
    action: str,
    act: bool,
    yes: bool,
    cancel: bool,
    incident: int | None,
    as_json: bool,
) -> None:
    verb = "cancel the query of" if cancel else "terminate"
    if incident is not None:
        with app_context(ctx).store().session() as session:
            try:
                incidents.get(session, incident_id=incident)
            except incidents.IncidentError as exc:
                fail(str(exc))
    if not as_json:
        _show_plan(found, verb)
    if not act or not found.targets:
        if as_json:
            print_json(_plan_json(found, done=[]))
        return
    if not yes:
        if not sys.stdin.isatty():
            err.print(f"dry run: pass --yes to {verb} {len(found.targets)} session(s)")
            if as_json:
                print_json(_plan_json(found, done=[]))
            return
        if not typer.confirm(f"{verb} {len(found.targets)} session(s)?", default=False):
            fail("nothing was changed", Exit.FOUND)
    done = _end(ctx, conn, found.targets, action=action, cancel=cancel, incident=incident)
    if as_json:
        print_json(_plan_json(found, done=done))
    else:
        console.print(
            f"{'cancelled' if cancel else 'terminated'} {len(done)} of "
            f"{len(found.targets)} session(s)"
        )


def _end(
    ctx: typer.Context,
    conn: psycopg.Connection[Any],
    targets: list[dict[str, Any]],
    *,
    action: str,
    cancel: bool,
    incident: int | None,
) -> list[int]:
    context = app_context(ctx)
    return remediation.end_sessions(
        conn,
        targets,
        store=context.store(),
        actor=default_actor(),
        clock=context.clock,
        cancel=cancel,
        incident_id=incident,
    )


def _show_plan(found: remediation.Plan, verb: str) -> None:
    table = Table("pid", "user", "application", "state", "for", "query")
    for s in found.targets:
        table.add_row(
            str(s["pid"]),
            s["user"] or "",
            s["application"] or "",
            s["state"] or "",
            _seconds(s["state_seconds"]),
            (s["query"] or "")[:60],
        )
    console.print(
        f"would {verb} {len(found.targets)} session(s):" if found.targets else "no session to end"
    )
    if found.targets:
        console.print(table)
    for s, reason in found.protected:
        console.print(literal(f"  kept {remediation.describe(s)}: {reason}"))


def _plan_json(found: remediation.Plan, *, done: list[int]) -> dict[str, Any]:
    return {
        "targets": found.targets,
        "ended": done,
        "protected": [{"pid": s["pid"], "reason": r} for s, r in found.protected],
    }


@app.command("archive")
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
    as_json: bool = _JSON,
) -> None:
    """Move old rows to an archive table online, in batches; safe to stop and rerun.

    Example: opsbook db archive --table scenario_attempts --to scenario_attempts_archive --yes
    """
    age = duration_option("--older-than", older_than)
    pacing = archive_mod.Pacing(
        batch=batch,
        # PostgreSQL reads a lock_timeout of 0 as "wait forever": at least 1ms.
        lock_timeout=duration_option(
            "--lock-timeout", lock_timeout, minimum=dt.timedelta(milliseconds=1)
        ),
        max_replication_lag=duration_option("--max-lag", max_lag),
        pause=duration_option("--pause", pause),
    )
    context = app_context(ctx)
    with _connect(ctx) as conn:
        try:
            plan = archive_mod.prepare(
                conn,
                table=table,
                to=to,
                column=column,
                older_than=age,
                with_referencing=with_referencing,
            )
        except archive_mod.ArchiveError as exc:
            fail(f"{exc}; nothing was changed")
        summary = _archive_summary(plan, batch)
        if not as_json:
            for line in summary["lines"]:
                console.print(literal(line))
        if dry_run or plan.candidates == 0:
            if as_json:
                print_json({**summary["data"], "dry_run": dry_run, "moved": 0})
            return
        if not yes and not (sys.stdin.isatty() and typer.confirm("Move them?", default=False)):
            err.print("dry run: pass --yes to move the rows")
            if as_json:
                print_json({**summary["data"], "dry_run": True, "moved": 0})
            return
        if vacuum_full:
            err.print(
                "[bold yellow]warning:[/] VACUUM FULL takes an ACCESS EXCLUSIVE lock on "
                f"{safe(plan.source)}: every read and write waits until it has rewritten it"
            )
        with audited(
            context.store(),
            action="db.archive",
            target=f"{plan.source} -> {plan.archive}",
            actor=default_actor(),
            clock=context.clock,
            details=summary["data"],
        ) as record:
            created = archive_mod.create_archives(conn, plan)
            with Progress(
                TextColumn("archiving"),
                BarColumn(),
                TextColumn("{task.completed:,}/{task.total:,}"),
                TimeRemainingColumn(),
                console=err,
                transient=True,
            ) as bar:
                task = bar.add_task("archive", total=plan.candidates)
                result = archive_mod.run(
                    conn,
                    plan,
                    pacing=pacing,
                    progress=lambda n: bar.advance(task, n),
                    note=lambda text: err.print(literal(text)),
                )
            record.details.update(
                {"moved": result.moved, "batches": result.batches, "created": created}
            )
            archive_mod.vacuum(conn, plan.source, full=vacuum_full)
    rate = result.moved / result.seconds if result.seconds else 0.0
    data = {
        **summary["data"],
        "dry_run": False,
        "created": created,
        "moved": result.moved,
        "batches": result.batches,
        "lock_retries": result.lock_retries,
        "paused_seconds": result.paused_seconds,
        "seconds": round(result.seconds, 3),
        "vacuum": "full" if vacuum_full else "analyze",
    }
    if as_json:
        print_json(data)
    else:
        console.print(
            f"moved {result.moved:,} rows in {result.batches} batches "
            f"({rate:,.0f} rows/s); VACUUM ({data['vacuum'].upper()}) done"
        )


def _archive_summary(plan: archive_mod.ArchivePlan, batch: int) -> dict[str, Any]:
    data = {
        "table": str(plan.source),
        "archive": str(plan.archive),
        "create_archive": plan.create_archive,
        "column": plan.column,
        "cutoff": plan.cutoff.isoformat(),
        "candidates": plan.candidates,
        "batches": -(-plan.candidates // batch),
        "referencing": [
            {"table": str(r.table), "archive": str(r.archive), "constraint": r.constraint}
            for r in plan.referencing
        ],
    }
    lines = [
        f"archive {plan.candidates:,} rows of {plan.source} with {plan.column} before "
        f"{plan.cutoff:%Y-%m-%d %H:%M %Z} into {plan.archive}"
        + (" (created like the source)" if plan.create_archive else ""),
        f"in about {data['batches']:,} batches of {batch:,}, one statement each; rows where "
        f"{plan.column} is NULL (still in progress) stay",
    ]
    lines += [f"with referencing rows of {r.table} into {r.archive}" for r in plan.referencing]
    return {"data": data, "lines": lines}


views_app = typer.Typer(help="Materialized views: list and refresh.", invoke_without_command=True)
app.add_typer(views_app, name="views")


@views_app.callback()
def views_list(ctx: typer.Context, as_json: bool = _JSON) -> None:
    """List materialized views with size and their last refresh by opsbook.

    Example: opsbook db views
    """
    if ctx.invoked_subcommand is not None:
        return
    context = app_context(ctx)
    with _connect(ctx) as conn:
        found = views_mod.listing(conn)
    last = _last_refreshes(context.store())
    rows = [
        {
            **v,
            "last_refresh": last.get(f"{v['schema']}.{v['name']}"),
            "concurrently": views_mod.why_not_concurrently(v) is None,
        }
        for v in found
    ]
    if as_json:
        print_json(rows)
        return
    table = Table("view", "size", "refresh", "last refreshed by opsbook")
    for row in rows:
        mode = (
            literal("concurrently") if row["concurrently"] else literal("blocks readers", "yellow")
        )
        when = row["last_refresh"].strftime("%Y-%m-%d %H:%M UTC") if row["last_refresh"] else "-"
        table.add_row(f"{row['schema']}.{row['name']}", human_bytes(row["bytes"]), mode, when)
    console.print(table if rows else "no materialized views")


def _last_refreshes(store: Any) -> dict[str, Any]:
    # PostgreSQL does not record when a view was refreshed; opsbook's audit log does.
    with store.session() as session:
        entries = audit_entries(session, limit=1000, action="db.view.refresh")
    found: dict[str, Any] = {}
    for entry in entries:
        if entry.outcome == "ok" and entry.target not in found:
            found[entry.target] = entry.at
    return found


@views_app.command("refresh")
def views_refresh(
    ctx: typer.Context,
    names: list[str] = typer.Argument(None, metavar="[NAME]..."),
    function: str | None = typer.Option(
        None, "--function", help="Call this function instead (no arguments)."
    ),
    as_json: bool = _JSON,
) -> None:
    """Refresh views, CONCURRENTLY where a unique index allows (and say why not otherwise).

    Example: opsbook db views refresh --function refresh_reporting_views
    """
    if function and names:
        fail("name views or --function, not both")
    context = app_context(ctx)
    store, actor = context.store(), default_actor()
    with _connect(ctx) as conn:
        try:
            if function:
                with audited(
                    store,
                    action="db.view.refresh",
                    target=function,
                    actor=actor,
                    clock=context.clock,
                ):
                    seconds = views_mod.call_function(conn, function)
                if as_json:
                    print_json({"function": function, "seconds": seconds})
                else:
                    console.print(f"called {safe(function)}() in {seconds:.2f}s")
                return
            results = []
            for view in views_mod.resolve(conn, list(names or [])):
                target = f"{view['schema']}.{view['name']}"
                with audited(
                    store, action="db.view.refresh", target=target, actor=actor, clock=context.clock
                ) as record:
                    done = views_mod.refresh_one(conn, view)
                    record.details["concurrently"] = done.concurrently
                results.append(done)
        except views_mod.ViewError as exc:
            fail(f"{exc}; nothing was refreshed")
    if as_json:
        print_json([r.__dict__ for r in results])
        return
    for r in results:
        how = "concurrently" if r.concurrently else "not concurrently"
        console.print(f"refreshed {safe(r.view)} {how} in {r.seconds:.2f}s")
        if r.why_not:
            console.print(literal(f"  not concurrently because {r.why_not}"))


migrations_app = typer.Typer(
    help="Migrations of the target database (Supabase's record).", no_args_is_help=True
)
app.add_typer(migrations_app, name="migrations")
_DIR = typer.Option(Path("supabase/migrations"), "--dir", help="Folder of <version>_<name>.sql.")


def _migration_status(conn: psycopg.Connection[Any], directory: Path) -> migrations_mod.Status:
    try:
        return migrations_mod.status(conn, directory)
    except migrations_mod.MigrationError as exc:
        fail(str(exc))


@migrations_app.command("status")
def migrations_status(ctx: typer.Context, directory: Path = _DIR, as_json: bool = _JSON) -> None:
    """Applied versus pending migrations (exit 1 when some are pending).

    Example: opsbook db migrations status --dir supabase/migrations
    """
    with _connect(ctx) as conn:
        found = _migration_status(conn, directory)
    if as_json:
        print_json(
            {
                "applied": found.applied,
                "pending": [m.label for m in found.pending],
                "missing_files": found.missing_files,
            }
        )
    else:
        latest = found.applied[-1] if found.applied else None
        console.print(
            f"applied: {len(found.applied)}"
            + (f" (latest {safe(latest['version'])}_{safe(latest['name'])})" if latest else "")
        )
        for migration in found.pending:
            console.print(f"[yellow]pending[/]  {safe(migration.label)}")
        for label in found.missing_files:
            console.print(f"[red]applied, but no file[/] {safe(label)}")
    if found.pending:
        raise typer.Exit(Exit.FOUND)


@migrations_app.command("apply")
def migrations_apply(
    ctx: typer.Context,
    directory: Path = _DIR,
    no_backup: bool = typer.Option(
        False, "--no-backup", help="Apply without a verified backup first."
    ),
    yes: bool = typer.Option(False, "--yes", help="Apply without asking."),
    as_json: bool = _JSON,
) -> None:
    """Apply pending migrations in version order, each in a transaction.

    Example: opsbook db migrations apply --dir supabase/migrations --no-backup --yes
    """
    context = app_context(ctx)
    with _connect(ctx) as conn:
        found = _migration_status(conn, directory)
        if not found.pending:
            if as_json:
                print_json({"applied": []})
            else:
                console.print("no pending migrations")
            return
        if not no_backup:
            fail(
                "the runbook says: back up the database first. opsbook takes verified backups"
                " once its backup capability lands; until then take one yourself and pass"
                " --no-backup"
            )
        if not as_json:
            for migration in found.pending:
                console.print(f"would apply {safe(migration.label)}")
        if not yes and not (sys.stdin.isatty() and typer.confirm("Apply them?", default=False)):
            err.print(f"dry run: pass --yes to apply {len(found.pending)} migration(s)")
            return
        done: list[str] = []
        for migration in found.pending:
            try:
                with audited(
                    context.store(),
                    action="db.migrate",
                    target=migration.label,
                    actor=default_actor(),
                    clock=context.clock,
                ) as record:
                    record.details["statements"] = migrations_mod.apply_one(conn, migration)
            except migrations_mod.MigrationFailed as exc:
                if as_json:
                    print_json({"applied": done, "failed": migration.label, "error": str(exc)})
                fail(str(exc), Exit.FOUND)
            done.append(migration.label)
            if not as_json:
                console.print(f"applied {safe(migration.label)}")
    if as_json:
        print_json({"applied": done})
