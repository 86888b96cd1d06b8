"""`opsbook backup create|list|prune`: thin doors over backups.create and backups.service;
`verify` and `restore` are in cli_restore."""

from __future__ import annotations

import datetime as dt
from typing import Any

import typer

from opsbook.backups import cli_files, cli_restore, files_store, service
from opsbook.backups import create as creating
from opsbook.backups.cli_shared import JSON, progress_bar, work_root
from opsbook.backups.errors import BackupError, BackupFailed
from opsbook.config.durations import format_duration
from opsbook.console import Exit, console, err, fail, literal, print_json, print_rows, visible
from opsbook.context import AppContext, app_context
from opsbook.guard import guarded
from opsbook.postgres.diagnostics import human_bytes, human_seconds
from opsbook.stopping import sigterm_as_ctrl_c
from opsbook.store.audit import default_actor

app = typer.Typer(
    help="Backups of the target database and the app's files: create, files, list, verify,"
    " restore, restore-files, prune.",
    no_args_is_help=True,
)


@app.command("create")
def create(
    ctx: typer.Context,
    label: str | None = typer.Option(None, "--label", help="A note shown in `backup list`."),
    checksums: bool = typer.Option(
        False, "--checksums", help="Also record each table's content checksum."
    ),
    as_json: bool = JSON,
) -> None:
    """Back up database.url (pg_dump -Fd -j N of one snapshot, with a manifest).

    Example: opsbook backup create --label "before migration 42" --checksums
    """
    context = app_context(ctx)
    config = context.config()
    url = context.target_url()
    if not as_json:
        err.print(literal(f"takes {creating.LOCKS}"))
    try:
        with (
            sigterm_as_ctrl_c(),
            progress_bar(show=not as_json and console.is_terminal) as progress,
        ):
            created = creating.create_backup(
                store=context.store(),
                url=url,
                settings=config.backups,
                root=config.resolve_path(config.backups.dir),
                label=label,
                checksums=checksums,
                actor=default_actor(),
                clock=context.clock,
                progress=progress,
            )
    except BackupFailed as exc:
        fail(f"backup failed: {exc}; nothing was kept", Exit.FOUND)
    except BackupError as exc:
        fail(f"{exc}; nothing was changed")
    backup, manifest = created.backup, created.manifest
    if as_json:
        print_json({**_row(context, backup.id), "manifest": manifest})
        return
    seconds = (backup.ended_at - backup.started_at).total_seconds() if backup.ended_at else 0
    console.print(
        literal(
            f"backup {backup.id} of {backup.database}: {backup.tables} tables, "
            f"{backup.rows:,} rows, {human_bytes(backup.size_bytes or 0)} in "
            f"{human_seconds(seconds)}; {backup.path}"
        )
    )


def _row(context: AppContext, backup_id: int) -> dict[str, Any]:
    with context.store().reading() as session:
        listed = service.list_backups(session=session, clock=context.clock, unfinished=True)
    return vars(next(b for b in listed if b.id == backup_id))


@app.command("list")
def list_(
    ctx: typer.Context,
    unfinished: bool = typer.Option(False, "--all", help="Also failed and abandoned attempts."),
    as_json: bool = JSON,
) -> None:
    """Backups in the catalog, newest first: age, size, duration, verified or not.

    Example: opsbook backup list --json
    """
    context = app_context(ctx)
    with context.store().reading() as session:
        rows = service.list_backups(session=session, clock=context.clock, unfinished=unfinished)
    print_rows(
        rows,
        [
            ("id", lambda b: str(b.id)),
            ("kind", lambda b: b.kind),
            ("state", lambda b: b.state),
            ("started", lambda b: f"{b.started_at:%Y-%m-%d %H:%M}"),
            ("age", lambda b: _age(b.age_seconds)),
            ("size", lambda b: "" if b.size_bytes is None else human_bytes(b.size_bytes)),
            ("took", lambda b: "" if b.seconds is None else human_seconds(b.seconds)),
            ("tables", lambda b: "" if b.tables is None else str(b.tables)),
            ("rows", lambda b: "" if b.rows is None else f"{b.rows:,}"),
            ("files", lambda b: "" if b.files is None else f"{b.files:,}"),
            ("verified", _verified),
            ("label", lambda b: b.label or ""),
        ],
        as_json=as_json,
        empty="no backups yet: opsbook backup create",
    )


def _verified(backup: service.Listed) -> str:
    if backup.verified_at is None:
        return "no"
    return f"{backup.verified_at:%Y-%m-%d %H:%M}" + (" (deep)" if backup.verified_deep else "")


def _age(seconds: float) -> str:
    """`2d3h`, `45m`: to the minute (days old is what retention reads)."""
    return format_duration(dt.timedelta(minutes=int(seconds // 60)))


@app.command("prune")
def prune(
    ctx: typer.Context,
    keep_days: int = typer.Option(
        7, "--keep-days", min=0, max=service.MAX_KEEP_DAYS, help="Keep backups this young."
    ),
    keep_min: int = typer.Option(
        3, "--keep-min", min=0, max=service.MAX_KEEP_MIN, help="Keep at least this many."
    ),
    yes: bool = typer.Option(False, "--yes", help="Delete without asking."),
    as_json: bool = JSON,
) -> None:
    """Delete backups past retention (a dry run without --yes); never the newest one.

    Example: opsbook backup prune --keep-days 7 --keep-min 3 --yes
    """
    context = app_context(ctx)
    store = context.store()
    with store.reading() as session:
        plan = service.plan_prune(
            session=session,
            clock=context.clock,
            keep_days=keep_days,
            keep_min=keep_min,
            root=work_root(context),
        )
    outcome = guarded(
        plan,
        show=None if as_json else _show_prune,
        needed=bool(plan.delete or (plan.sweep and plan.sweep.objects)),
        # --json keeps stdout for the one document: no question there, a dry run instead.
        dry_run=as_json and not yes,
        yes=yes,
        to=f"delete {len(plan.delete)} backup(s)",
        act=lambda p: service.prune(
            store=store, plan=p, actor=default_actor(), clock=context.clock
        ),
    )
    pruned = outcome.result
    if as_json:
        print_json(
            {
                "dry_run": not outcome.acted,
                "delete": [_doomed(d) for d in plan.delete],
                "keep": [_doomed(d) for d in plan.keep],
                "deleted": [d.backup.id for d in pruned.deleted] if pruned else [],
                "objects": _sweep_json(plan.sweep, pruned),
            }
        )
    elif pruned:
        console.print(
            literal(
                f"deleted {len(pruned.deleted)} backup(s) and {pruned.objects} files"
                f" object(s) ({human_bytes(pruned.object_bytes)})"
            )
        )


def _sweep_json(sweep: files_store.Sweep | None, pruned: service.Pruned | None) -> dict[str, Any]:
    planned = sweep.objects if sweep else []
    return {
        "unreferenced": len(planned),
        "referenced": sweep.referenced if sweep else 0,
        "skipped": sweep.skipped if sweep else None,
        "deleted": pruned.objects if pruned else 0,
        "deleted_bytes": pruned.object_bytes if pruned else 0,
    }


def _doomed(doomed: service.Doomed) -> dict[str, Any]:
    return {"id": doomed.backup.id, "path": doomed.backup.path, "reason": doomed.reason}


def _show_prune(plan: service.PrunePlan) -> None:
    sweep = plan.sweep
    if not plan.delete and not (sweep and sweep.objects):
        console.print("nothing to delete")
    for doomed in plan.delete:
        console.print(literal(f"delete {_named(doomed)}: {doomed.reason}"))
    for doomed in plan.keep:
        console.print(literal(f"keep   {_named(doomed)}: {doomed.reason}"))
    if sweep and sweep.skipped:
        console.print(literal(f"files objects: none deleted, {sweep.skipped}"))
    elif sweep and sweep.objects:
        console.print(
            literal(
                f"delete {len(sweep.objects)} files object(s) ({human_bytes(sweep.bytes)})"
                " no kept files backup references"
            )
        )


def _named(doomed: service.Doomed) -> str:
    backup = doomed.backup
    label = f" ({visible(backup.label)})" if backup.label else ""
    return f"backup {backup.id}{label}"


app.command("verify")(cli_restore.verify)
app.command("restore")(cli_restore.restore)
app.command("files")(cli_files.files)
app.command("restore-files")(cli_files.restore_files)
