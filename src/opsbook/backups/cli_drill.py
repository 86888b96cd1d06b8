"""`opsbook drill [list]`: thin doors over backups.drill.run_drill and the drills record."""

from __future__ import annotations

from pathlib import Path

import typer

from opsbook.backups import app_check, records
from opsbook.backups import drill as drilling
from opsbook.backups.cli_shared import JSON, backup_id
from opsbook.backups.errors import BackupError, BackupFailed
from opsbook.console import Exit, console, err, fail, literal, print_json, print_rows, visible
from opsbook.context import AppContext, app_context
from opsbook.postgres.diagnostics import human_seconds
from opsbook.stopping import sigterm_as_ctrl_c
from opsbook.store.audit import default_actor

MAX_APP_WAIT = 3600

app = typer.Typer(
    invoke_without_command=True,
    help="DR drills: restore a backup into a scratch database and prove it comes back.",
)


@app.callback()
def drill(
    ctx: typer.Context,
    backup: str | None = typer.Option(
        None, "--backup", help="Drill with this backup (default: take one now)."
    ),
    target: str | None = typer.Option(
        None, "--target", help="Restore into this empty database (default: a scratch one)."
    ),
    app_cmd: str | None = typer.Option(
        None,
        "--app-cmd",
        help="Start the app with this command (no shell) on the restored database"
        " (DATABASE_URL) and a free port (PORT); it must answer app.health_path ok.",
    ),
    app_url: str | None = typer.Option(
        None, "--app-url", help="Where the app listens (default: http://127.0.0.1:$PORT)."
    ),
    app_wait: int = typer.Option(
        60, "--app-wait", min=1, max=MAX_APP_WAIT, help="Seconds the app has to be healthy."
    ),
    report_dir: Path | None = typer.Option(
        None, "--report-dir", help="Where the reports go (default: backups.dir/drills)."
    ),
    as_json: bool = JSON,
) -> None:
    """Back up, restore, compare rows, checksums and schema, start the app: the DR drill.

    Exit 1 when anything differs (each difference named, an action item opened).

    Example: opsbook drill --app-cmd "opsbook sandbox run"
    """
    if ctx.invoked_subcommand is not None:
        return  # `opsbook drill list`
    context = app_context(ctx)
    config = context.config()
    number = backup_id(backup) if backup is not None else None
    root = config.resolve_path(config.backups.dir)
    ask = drilling.DrillAsk(
        source_url=_source(context, needed=number is None or target is None),
        backup_id=number,
        target_url=target,
        app=_app_run(context, app_cmd, app_url, app_wait),
    )
    try:
        with sigterm_as_ctrl_c():
            done = drilling.run_drill(
                store=context.store(),
                config=config,
                ask=ask,
                root=root,
                report_dir=report_dir if report_dir is not None else root / "drills",
                actor=default_actor(),
                clock=context.clock,
            )
    except BackupFailed as exc:
        fail(f"the drill's backup failed: {exc}; nothing was restored", Exit.FOUND)
    except BackupError as exc:
        fail(f"{exc}; nothing was changed")
    if as_json:
        print_json(records.as_json(done))
    else:
        _show(done)
    if done.report_error is not None:
        said = f"error: {done.report_error}; the drill is recorded (opsbook drill list)"
        err.print(literal(said))
    if not done.ok or done.report_error is not None:
        raise typer.Exit(Exit.FOUND)


def _source(context: AppContext, *, needed: bool) -> str | None:
    """The source database: needed to take a backup or to make a scratch database on its
    server; otherwise only read (its schema) when configured."""
    if needed:
        return context.target_url()
    configured = context.config().database.url
    return context.database_url_option or (configured.reveal() if configured else None)


def _app_run(
    context: AppContext, command: str | None, url: str | None, wait: int
) -> app_check.AppRun | None:
    if command is None:
        if url is not None:
            fail("--app-url needs --app-cmd (the app to start); nothing was changed")
        return None
    try:
        argv = app_check.parse_command(command)
        if url is not None:
            app_check.check_url(url)
    except BackupError as exc:
        fail(f"{exc}; nothing was changed")
    health = context.config().app.health_path
    return app_check.AppRun(argv, health, url, float(wait))


def _show(done: records.Drill) -> None:
    for stage in done.stages:
        took = _seconds(stage.seconds)
        console.print(literal(f"{stage.name:8} {stage.outcome:8} {took:>8}  {stage.saw}"))
    for problem in done.problems:
        err.print(literal(problem))
    rto = f"RTO {_seconds(done.rto_seconds)}" if done.rto_seconds is not None else "no RTO"
    items = f"; action items on incident #{done.incident}" if done.incident else ""
    report = f"report {done.reports['markdown']}" if done.reports else "no report"
    console.print(
        literal(
            f"drill {done.id} of backup {done.backup}: {done.verdict}, {rto},"
            f" {len(done.problems)} problem(s){items}; {report}"
        )
    )


def _seconds(seconds: float) -> str:
    """A tenth of a second matters for a small database's RTO; minutes for a large one."""
    return f"{seconds:.1f}s" if seconds < 60 else human_seconds(seconds)


@app.command("list")
def list_(ctx: typer.Context, as_json: bool = JSON) -> None:
    """Past drills, newest first: when, which backup, the RTO, the verdict.

    Example: opsbook drill list --json
    """
    context = app_context(ctx)
    with context.store().reading() as session:
        rows = records.list_drills(session=session)
    print_rows(
        rows,
        [
            ("id", lambda d: str(d.id)),
            ("when", lambda d: f"{d.started_at:%Y-%m-%d %H:%M}"),
            ("backup", lambda d: f"{d.backup}" + ("" if d.took_backup else " (existing)")),
            ("into", lambda d: visible(d.target)),
            ("RTO", lambda d: "" if d.rto_seconds is None else _seconds(d.rto_seconds)),
            ("verdict", lambda d: d.verdict),
            ("problems", lambda d: str(d.problems)),
            ("incident", lambda d: "" if d.incident is None else f"#{d.incident}"),
        ],
        as_json=as_json,
        empty="no drills yet: opsbook drill",
    )
