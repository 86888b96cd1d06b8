"""`opsbook backup files SRC` and `opsbook backup restore-files ID DEST`: thin doors over
backups.files_backup and backups.files_restore.

restore-files follows `backup restore`: the plan first, always; without `--yes` a dry run
that exits 1. File names are shown escaped (console.visible): a name holding an escape
sequence, a newline or Rich markup is data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from opsbook.backups import files_backup, files_restore
from opsbook.backups.cli_shared import JSON, backup_id, progress_bar, work_root
from opsbook.backups.errors import BackupError, BackupFailed
from opsbook.console import Exit, console, err, fail, literal, print_json
from opsbook.context import app_context
from opsbook.postgres.diagnostics import human_bytes
from opsbook.store.audit import default_actor


def files(
    ctx: typer.Context,
    source: Path = typer.Argument(..., help="The folder to back up (the app's stored files)."),
    label: str | None = typer.Option(None, "--label", help="A note shown in `backup list`."),
    as_json: bool = JSON,
) -> None:
    """Back up a folder of files into backups.dir/files; unchanged files are not copied
    again. Symbolic links are skipped with a warning, never followed.

    Example: opsbook backup files /srv/app/recordings --label nightly
    """
    context = app_context(ctx)
    try:
        with progress_bar(show=not as_json and console.is_terminal) as progress:
            done = files_backup.backup_files(
                store=context.store(),
                source=source,
                root=work_root(context),
                label=label,
                actor=default_actor(),
                clock=context.clock,
                warn=lambda text: err.print(literal(f"warning: {text}")),
                progress=progress,
            )
    except BackupFailed as exc:
        fail(f"files backup failed: {exc}; no backup was recorded", Exit.FOUND)
    except BackupError as exc:
        fail(f"{exc}; nothing was changed")
    if as_json:
        print_json({k: v for k, v in vars(done).items() if k != "entries"})
        return
    console.print(
        literal(
            f"files backup {done.backup} of {done.source}: {done.files:,} files"
            f" ({done.new:,} new, {done.changed:,} changed, {done.unchanged:,} unchanged),"
            f" {human_bytes(done.bytes)}, {human_bytes(done.bytes_copied)} copied; {done.path}"
        )
    )


def restore_files(
    ctx: typer.Context,
    backup: str = typer.Argument(..., help="The files backup's id (opsbook backup list)."),
    dest: Path = typer.Argument(..., help="The folder to write the files into."),
    yes: bool = typer.Option(False, "--yes", help="Restore (without it: show the plan)."),
    as_json: bool = JSON,
) -> None:
    """Write a files backup into DEST, each file checked against its sha256, after showing
    the plan. Files DEST holds that the backup does not are left as they are.

    Example: opsbook backup restore-files 14 /srv/restore/recordings --yes
    """
    context = app_context(ctx)
    number = backup_id(backup)
    try:
        plan = files_restore.plan_files_restore(store=context.store(), backup_id=number, dest=dest)
    except BackupError as exc:
        fail(f"{exc}; nothing was changed")
    if not as_json:
        _show_plan(plan)
    if not yes:
        if as_json:
            print_json({**_plan_json(plan), "restored": False, "why": "dry run"})
        fail("dry run: pass --yes to restore; nothing was changed", Exit.FOUND)
    try:
        with progress_bar(show=not as_json and console.is_terminal) as progress:
            done = files_restore.restore_files(
                store=context.store(),
                plan=plan,
                actor=default_actor(),
                clock=context.clock,
                progress=progress,
            )
    except BackupFailed as exc:
        fail(f"restore failed: {exc}; the files written before it stay", Exit.FOUND)
    _show_restored(plan, done, as_json)
    if not done.ok:
        raise typer.Exit(Exit.FOUND)


def _show_plan(plan: files_restore.FilesRestorePlan) -> None:
    held = (
        "is empty"
        if not plan.occupied
        else f"holds {', '.join(repr(n) for n in plan.occupied[:5])}"
        + (" ..." if len(plan.occupied) > 5 else "")
        + f"; {plan.overwritten:,} of the backup's files would replace what is there"
    )
    for line in (
        f"restore files backup {plan.backup} of {plan.source}, taken"
        f" {plan.taken_at:%Y-%m-%d %H:%M %Z}",
        f"  into  {files_restore.shown_path(plan.dest)}",
        f"  files {len(plan.entries):,}, {human_bytes(plan.bytes)}",
        f"  dest  {held}",
    ):
        console.print(literal(line))


def _plan_json(plan: files_restore.FilesRestorePlan) -> dict[str, Any]:
    return {
        "backup": plan.backup,
        "source": plan.source,
        "taken_at": plan.taken_at,
        "dest": files_restore.shown_path(plan.dest),
        "files": len(plan.entries),
        "bytes": plan.bytes,
        "occupied": plan.occupied,
        "overwritten": plan.overwritten,
    }


def _show_restored(
    plan: files_restore.FilesRestorePlan, done: files_restore.FilesRestored, as_json: bool
) -> None:
    if as_json:
        print_json(
            {
                **_plan_json(plan),
                "restored": True,
                "ok": done.ok,
                "restored_files": done.files,
                "restored_bytes": done.bytes,
                "differences": [vars(d) for d in done.differences],
            }
        )
        return
    for difference in done.differences:
        err.print(literal(difference.text()))
    console.print(
        literal(
            f"restored {done.files:,} files, {human_bytes(done.bytes)} into "
            f"{files_restore.shown_path(plan.dest)}"
            + ("" if done.ok else f"; {len(done.differences)} difference(s)")
        )
    )
