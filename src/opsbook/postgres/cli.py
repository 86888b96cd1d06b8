"""`opsbook db ...`: the target database, readable in ten seconds, fixable safely.

Every command is an adapter over `postgres.service`: it reads what was typed, calls the
operation and shows the result as a table or `--json`. The commands that read are here;
those that change the database (through `opsbook.guard`) are in `changes_cli`.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, cast, get_args

import typer

from opsbook.bounds import MAX_ID
from opsbook.console import Cell, Exit, console, fail, literal, print_json, print_rows, safe
from opsbook.context import app_context
from opsbook.postgres import changes_cli, service
from opsbook.postgres.diagnostics import Finding, human_bytes
from opsbook.postgres.door import DIR, JSON, duration, seconds, target

app = typer.Typer(
    help="The target database: status, diagnostics, safe remediation.", no_args_is_help=True
)
views_app = typer.Typer(help="Materialized views: list and refresh.", invoke_without_command=True)
migrations_app = typer.Typer(
    help="Migrations of the target database (Supabase's record).", no_args_is_help=True
)
app.add_typer(views_app, name="views")
app.add_typer(migrations_app, name="migrations")
app.command("idle")(changes_cli.idle)
app.command("kill")(changes_cli.kill)
app.command("archive")(changes_cli.archive)
views_app.command("refresh")(changes_cli.views_refresh)
migrations_app.command("apply")(changes_cli.migrations_apply)
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


@app.command("status")
def status(ctx: typer.Context, as_json: bool = JSON) -> None:
    """One screen: connections, long and blocked queries, cache, size, lag, wraparound.

    Example: opsbook db status
    """
    with target(ctx) as conn:
        report = service.status(conn=conn, config=app_context(ctx).config())
    if as_json:
        print_json({**vars(report), "worst": report.worst})
    else:
        _print_status(report)
    if report.worst == "crit":
        raise typer.Exit(Exit.FOUND)


def _print_status(report: service.StatusReport) -> None:
    server, states = report.server, report.connections
    console.print(
        f"[bold]{safe(server['database'])}[/] on PostgreSQL {safe(server['version'])}, up "
        f"{seconds(server['uptime'])}" + (" (replica)" if server["in_recovery"] else "")
    )
    hidden = f", {states['hidden']} of other roles, details hidden" if states["hidden"] else ""
    console.print(
        f"connections: {states['total']} ({states['active']} active, "
        f"{states['idle']} idle, {states['idle_in_transaction']} idle in "
        f"transaction, {states['waiting']} waiting on locks{hidden})"
    )
    print_rows(report.findings, _FINDING, as_json=False)
    if report.long_queries:
        console.print("[bold]longest running[/]")
    for q in report.long_queries:
        console.print(literal(f"  pid {q['pid']}  {seconds(q['seconds'])}  {q['query'][:100]}"))
    if report.blocked:
        console.print("[bold]blocking[/] (root blockers first)")
        _print_tree(report.blocked, indent="  ")


def _print_tree(tree: list[service.LockSession], *, indent: str = "") -> None:
    for session in tree:
        branch = "   " * (session.depth - 1) + "└─ " if session.depth else ""
        console.print(literal(indent + branch + _tree_line(session)))


def _tree_line(s: service.LockSession) -> str:
    """`pid 12 waits 5s for ShareLock on orders; holds ShareLock on items: app_user@shop,
    idle in transaction, web: lock table orders`: all of it data, shown as text."""
    line = s.name
    if s.waits_for:
        line += f" waits {seconds(s.waiting_seconds) or 'a moment'} for {s.waits_for}"
    if s.holds:
        line += f"{';' if s.waits_for else ''} holds {s.held}"
    about = [f"{s.user}@{s.database}" if s.user else s.database, s.state, s.application]
    line += ": " + ", ".join(a for a in about if a)
    return line + (f": {s.query[:80]}" if s.query else "")


_FINDING: list[tuple[str, Cell[Finding]]] = [
    ("check", lambda f: f.check),
    ("state", lambda f: literal(f.state, _STYLE[f.state])),
    ("value", lambda f: f.value),
    ("why", lambda f: f.reason),
]


@app.command("connections")
def connections(
    ctx: typer.Context,
    by: str = typer.Option("state", "--by", help="state, user, application or client."),
    as_json: bool = JSON,
) -> None:
    """Client connections grouped by state, user, application or client address.

    Example: opsbook db connections --by application
    """
    if by not in get_args(service.Grouping):
        fail(f"--by {by!r}: use state, user, application or client")
    with target(ctx) as conn:
        found = service.connections(conn=conn, by=cast(service.Grouping, by))
    columns: list[tuple[str, Cell[dict[str, Any]]]] = [
        (by, lambda r: str(r["key"])),
        ("connections", lambda r: str(r["connections"])),
        ("active", lambda r: str(r["active"])),
        ("idle", lambda r: str(r["idle"])),
        ("idle in transaction", lambda r: str(r["idle_in_transaction"])),
    ]
    if any(r["hidden"] for r in found):  # other roles' sessions, their state unknown here
        columns.append(("details hidden", lambda r: str(r["hidden"])))
    print_rows(found, columns, as_json=as_json)


@app.command("slow")
def slow(
    ctx: typer.Context,
    limit: int = typer.Option(10, "--limit", min=1, max=MAX_ID),
    min_duration: str = typer.Option("0s", "--min-duration", help="e.g. 30s, 5m."),
    as_json: bool = JSON,
) -> None:
    """Active queries, longest first (the runbook's "Check slow queries").

    Example: opsbook db slow --min-duration 30s
    """
    least = duration("--min-duration", min_duration)
    with target(ctx) as conn:
        found = service.slow_queries(conn=conn, min_duration=least, limit=limit)
    print_rows(found, _ACTIVE, as_json=as_json, empty="no active queries over that duration")


def _marks(q: service.ActiveQuery) -> str:
    """What sets a query apart: it only waits on a lock (ending it frees nothing), or it
    runs in another database than the one asked about."""
    marks = []
    if q.blocked_by:
        marks.append(f"waits on a lock held by pid {', '.join(map(str, q.blocked_by))}")
    elif q.wait_event_type == "Lock":
        marks.append("waits on a lock")
    if q.other_database:
        marks.append(f"other database: {q.database}")
    return "; ".join(marks)


_ACTIVE: list[tuple[str, Cell[service.ActiveQuery]]] = [
    ("pid", lambda q: str(q.pid)),
    ("running", lambda q: seconds(q.seconds)),
    ("user", lambda q: q.user or ""),
    ("application", lambda q: q.application or ""),
    ("note", lambda q: literal(_marks(q), "yellow")),
    ("query", lambda q: literal(q.query or "", newlines=True)),
]


@app.command("blocked")
def blocked(ctx: typer.Context, as_json: bool = JSON) -> None:
    """Sessions in a lock wait as a tree: each root blocker, then what waits on it.

    Example: opsbook db blocked
    """
    with target(ctx) as conn:
        found = service.blocked_queries(conn=conn)
    if as_json:
        print_json(found)
    elif found:
        _print_tree(found)
    else:
        console.print("no query waits on a lock")


@app.command("sizes")
def sizes(
    ctx: typer.Context,
    tables: bool = typer.Option(False, "--tables", help="Only tables (no materialized views)."),
    limit: int = typer.Option(20, "--limit", min=1, max=MAX_ID),
    as_json: bool = JSON,
) -> None:
    """Database size, then tables and materialized views with index and TOAST sizes.

    Example: opsbook db sizes --limit 10
    """
    with target(ctx) as conn:
        found = service.sizes(conn=conn, limit=limit, tables_only=tables)
    if not as_json:
        console.print(f"{safe(found.database)}: {human_bytes(found.database_bytes)}")
    print_rows(found.relations, _RELATION, as_json=as_json, data=found)


_RELATION: list[tuple[str, Cell[dict[str, Any]]]] = [
    ("relation", lambda r: f"{r['schema']}.{r['name']}"),
    ("kind", lambda r: str(r["kind"])),
    ("total", lambda r: human_bytes(r["total_bytes"])),
    ("table", lambda r: human_bytes(r["table_bytes"])),
    ("indexes", lambda r: human_bytes(r["index_bytes"])),
    ("toast", lambda r: human_bytes(r["toast_bytes"])),
    ("rows (est.)", lambda r: f"{max(r['estimated_rows'], 0):,}"),
]


@app.command("indexes")
def indexes(
    ctx: typer.Context,
    unused: bool = typer.Option(False, "--unused", help="Never scanned (not unique/primary)."),
    duplicate: bool = typer.Option(False, "--duplicate", help="Covered by another index."),
    invalid: bool = typer.Option(False, "--invalid", help="Left invalid by a failed build."),
    as_json: bool = JSON,
) -> None:
    """Indexes worth a look: unused, duplicate or invalid.

    Example: opsbook db indexes --unused
    """
    asked = {"unused": unused, "duplicate": duplicate, "invalid": invalid}
    kinds = [kind for kind in service.INDEX_KINDS if asked[kind]] or service.INDEX_KINDS
    with target(ctx) as conn:
        found = service.indexes(conn=conn, kinds=kinds)
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
    as_json: bool = JSON,
) -> None:
    """Sequences and how much of their range is used (exhaustion stops inserts).

    Example: opsbook db sequences --warn 0.5
    """
    with target(ctx) as conn:
        found = service.sequences(conn=conn)
    columns: list[tuple[str, Cell[dict[str, Any]]]] = [
        ("sequence", lambda s: f"{s['schema']}.{s['sequence']}"),
        ("type", lambda s: str(s["type"])),
        ("last value", lambda s: str(s["last_value"])),
        (
            "used",
            lambda s: literal(f"{s['used']:.4%}", "bold red" if s["used"] >= warn else "green"),
        ),
    ]
    print_rows(found, columns, as_json=as_json)
    if any(s["used"] >= warn for s in found):
        raise typer.Exit(Exit.FOUND)


@views_app.callback()
def views_list(ctx: typer.Context, as_json: bool = JSON) -> None:
    """List materialized views with size and their last refresh by opsbook.

    Example: opsbook db views
    """
    if ctx.invoked_subcommand is not None:
        return
    with target(ctx) as conn:
        found = service.list_views(conn=conn, store=app_context(ctx).store())
    print_rows(found, _VIEW, as_json=as_json, empty="no materialized views")


_MODE = {True: "", False: "yellow"}
_VIEW: list[tuple[str, Cell[service.ViewListing]]] = [
    ("view", lambda v: f"{v.schema}.{v.name}"),
    ("size", lambda v: human_bytes(v.bytes)),
    (
        "refresh",
        lambda v: literal(
            "concurrently" if v.concurrently else "blocks readers", _MODE[v.concurrently]
        ),
    ),
    ("last refreshed by opsbook", lambda v: _when(v.last_refresh)),
]


def _when(at: dt.datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC") if at else "-"


@migrations_app.command("status")
def migrations_status(ctx: typer.Context, directory: Path = DIR, as_json: bool = JSON) -> None:
    """Applied versus pending migrations (exit 1 when some are pending).

    Example: opsbook db migrations status --dir supabase/migrations
    """
    with target(ctx) as conn:
        found = service.migration_status(conn=conn, directory=directory)
    if as_json:
        pending = [m.label for m in found.pending]
        print_json({**vars(found), "pending": pending})
    else:
        latest = f" (latest {safe(found.applied[-1].label)})" if found.applied else ""
        console.print(f"applied: {len(found.applied)}{latest}")
        for migration in found.pending:
            console.print(f"[yellow]pending[/]  {safe(migration.label)}")
        for label in found.missing_files:
            console.print(f"[red]applied, but no file[/] {safe(label)}")
    if found.pending:
        raise typer.Exit(Exit.FOUND)
