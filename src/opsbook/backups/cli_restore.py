"""`opsbook backup verify|restore`: thin doors over backups.verify and backups.restore.

Restore guards more than guard.py does, as issue #15 asks: the plan first, always; a
non-empty target only with `--clean --yes`; without `--yes` a dry run that exits 1 (a
restore nobody approved did not happen); and the configured production database only
when the database's name is typed at a terminal, which no flag replaces.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from opsbook.backups import restore as restoring
from opsbook.backups import verify as verifying
from opsbook.backups.cli_shared import JSON, backup_id, progress_bar, work_root
from opsbook.backups.errors import BackupError, BackupFailed
from opsbook.console import Exit, console, err, fail, literal, print_json, visible
from opsbook.context import AppContext, app_context
from opsbook.postgres.diagnostics import human_bytes
from opsbook.stopping import sigterm_as_ctrl_c
from opsbook.store.audit import default_actor


def verify(
    ctx: typer.Context,
    backup: str = typer.Argument(..., help="The backup's id (opsbook backup list)."),
    deep: bool = typer.Option(
        False, "--deep", help="Also restore into a scratch database and compare every table."
    ),
    as_json: bool = JSON,
) -> None:
    """Check a backup's files, manifest and table of contents; --deep restores it too.

    Exit 1 when anything differs, naming the file or table.

    Example: opsbook backup verify 12 --deep
    """
    context = app_context(ctx)
    number = backup_id(backup)
    config = context.config()
    try:
        with (
            sigterm_as_ctrl_c(),
            progress_bar(show=not as_json and console.is_terminal) as progress,
        ):
            verified = verifying.verify_backup(
                store=context.store(),
                backup_id=number,
                deep=deep,
                server_url=context.target_url() if deep else "",
                settings=config.backups,
                work_root=work_root(context),
                actor=default_actor(),
                clock=context.clock,
                progress=progress,
            )
    except BackupError as exc:
        fail(f"{exc}; nothing was checked")
    if as_json:
        print_json({**vars(verified), "ok": verified.ok})
    else:
        _show_verified(verified)
    if not verified.ok:
        raise typer.Exit(Exit.FOUND)


def _show_verified(verified: verifying.Verified) -> None:
    for difference in verified.differences:
        console.print(literal(difference.text()))
    how = (
        f", restored into {verified.scratch} and {verified.tables} tables compared"
        if verified.deep and verified.tables
        else ""
    )
    outcome = "verified" if verified.ok else f"{len(verified.differences)} difference(s)"
    console.print(
        literal(
            f"backup {verified.backup} of {verified.database}: {verified.files} files hashed,"
            f" {verified.entries} archive entries read{how}: {outcome}"
        )
    )


def restore(
    ctx: typer.Context,
    backup: str | None = typer.Argument(None, help="The backup's id (opsbook backup list)."),
    target: str = typer.Option(..., "--target", help="The database to restore into."),
    from_sql: Path | None = typer.Option(
        None, "--from-sql", help="Restore a plain pg_dump .sql file instead of a backup."
    ),
    clean: bool = typer.Option(
        False, "--clean", help="Drop the backup's objects in the target first (needs --yes)."
    ),
    yes: bool = typer.Option(False, "--yes", help="Restore (without it: show the plan)."),
    jobs: int = typer.Option(2, "--jobs", min=1, max=restoring.MAX_JOBS, help="pg_restore -j."),
    as_json: bool = JSON,
) -> None:
    """Restore a backup (or a plain .sql file) into --target, after showing the plan.

    Example: opsbook backup restore 12 --target postgresql://ops@db-test/app --yes
    """
    context = app_context(ctx)
    plan = _plan(context, backup, target, from_sql, clean, jobs)
    if not as_json:
        _show_plan(plan)
    _approve(context, plan, yes=yes, as_json=as_json)
    try:
        with (
            sigterm_as_ctrl_c(),
            progress_bar(show=not as_json and console.is_terminal) as progress,
        ):
            done = restoring.restore(
                store=context.store(),
                plan=plan,
                settings=context.config().backups,
                work_root=work_root(context),
                actor=default_actor(),
                clock=context.clock,
                progress=progress,
            )
    except BackupFailed as exc:
        fail(f"restore failed: {exc}; what went in before it stays in the target", Exit.FOUND)
    except BackupError as exc:
        fail(f"{exc}; nothing was changed")
    _show_restored(plan, done, as_json)
    if not done.ok:
        raise typer.Exit(Exit.FOUND)


def _plan(
    context: AppContext,
    backup: str | None,
    target: str,
    from_sql: Path | None,
    clean: bool,
    jobs: int,
) -> restoring.RestorePlan:
    if (backup is None) == (from_sql is None):
        fail("name a backup id or --from-sql FILE (one of them); nothing was changed")
    config = context.config()
    configured = config.database.url
    production = configured.reveal() if configured is not None else None
    bindir = config.backups.bindir
    try:
        if from_sql is not None:
            return restoring.plan_sql_restore(
                sql_file=from_sql,
                target_url=target,
                production_url=production,
                clean=clean,
                bindir=bindir,
            )
        return restoring.plan_restore(
            store=context.store(),
            backup_id=backup_id(backup or ""),
            target_url=target,
            production_url=production,
            clean=clean,
            jobs=jobs,
            bindir=bindir,
        )
    except BackupError as exc:
        fail(f"{exc}; nothing was changed")


def _approve(context: AppContext, plan: restoring.RestorePlan, *, yes: bool, as_json: bool) -> None:
    """Stop here unless the plan may go ahead (see the module's docstring)."""
    if plan.occupied and not plan.clean:
        _stop(plan, as_json, "the target is not empty: pass --clean --yes to restore over it")
    if not yes:
        _stop(plan, as_json, "dry run: pass --yes to restore")
    if not plan.production:
        return
    name = plan.target.dbname
    if not context.at_terminal():
        _stop(
            plan,
            as_json,
            "the target is the production database (database.url): restoring into it needs"
            " its name typed at a terminal, and there is none",
            Exit.BAD_INPUT,
        )
    typed = typer.prompt(
        visible(f"This restores into the PRODUCTION database. Type its name ({name})"),
        default="",
        show_default=False,
        err=True,
    )
    if typed != name:
        _stop(plan, as_json, f"{visible(typed)!r} is not {visible(name)!r}")


def _stop(plan: restoring.RestorePlan, as_json: bool, why: str, code: Exit = Exit.FOUND) -> None:
    if as_json:
        print_json({**_plan_json(plan), "restored": False, "why": why})
    fail(f"{why}; nothing was changed", code)


def _show_plan(plan: restoring.RestorePlan) -> None:
    source, target = plan.source, plan.target
    if source.backup is not None:
        taken = f"{source.taken_at:%Y-%m-%d %H:%M %Z}" if source.taken_at else "?"
        what = f"backup {source.backup} of {source.database}, taken {taken}"
        rows = f"{len(source.tables)} tables, {plan.rows:,} rows, {plan.jobs} jobs"
    else:
        what = f"the SQL file {source.path}"
        rows = "the tables the file makes (plain SQL: counted afterwards)"
    lines = [
        f"restore {what}",
        f"  into   {target.shown} (host {target.host or 'localhost'}, port {target.port},"
        f" database {target.dbname})",
        f"  rows   {rows}",
        f"  target {_occupied(plan)}",
    ]
    lines += [
        f"  split  {t.shown}: its rows in {t.streams} streams at once"
        f" ({human_bytes(t.bytes)} compressed)"
        for t in plan.split
    ]
    if plan.production:
        lines.append("  this is the PRODUCTION database (database.url)")
    if plan.superuser:
        lines.append(
            "  role   a SUPERUSER: SQL in the file (COPY ... TO PROGRAM, ALTER SYSTEM) acts on"
            " the server itself; restore only a file you trust, or as a role that is not one"
        )
    for line in lines:
        console.print(literal(line))


def _occupied(plan: restoring.RestorePlan) -> str:
    if not plan.occupied:
        return "is empty"
    named = ", ".join(plan.occupied[:5]) + (" ..." if len(plan.occupied) > 5 else "")
    more = "100+" if len(plan.occupied) > 100 else str(len(plan.occupied))
    then = (
        "; --clean: the backup's objects are dropped and made again"
        if plan.clean
        else "; not cleaned"
    )
    return f"holds {more}: {named}{then}"


def _plan_json(plan: restoring.RestorePlan) -> dict[str, Any]:
    source, target = plan.source, plan.target
    return {
        "backup": source.backup,
        "database": source.database,
        "taken_at": source.taken_at,
        "file": None if source.manifest is not None else str(source.path),
        "target": {
            "url": target.shown,
            "host": target.host,
            "port": target.port,
            "database": target.dbname,
        },
        "tables": [
            {"schema": t["schema"], "name": t["name"], "rows": t["rows"]} for t in source.tables
        ],
        "rows": plan.rows,
        "occupied": plan.occupied,
        "clean": plan.clean,
        "production": plan.production,
        "jobs": plan.jobs,
        "split": [
            {"schema": t.schema, "name": t.name, "streams": t.streams, "bytes": t.bytes}
            for t in plan.split
        ],
    }


def _show_restored(plan: restoring.RestorePlan, done: restoring.Restored, as_json: bool) -> None:
    if as_json:
        print_json(
            {
                **_plan_json(plan),
                "restored": True,
                "ok": done.ok,
                "counted": [
                    {"schema": c.schema, "name": c.name, "rows": c.rows, "checksum": c.checksum}
                    for c in done.counted
                ],
                "differences": [vars(d) for d in done.differences],
                "fed": done.fed,
            }
        )
        return
    expected = {(t["schema"], t["name"]): t["rows"] for t in plan.source.tables}
    for counted in done.counted:
        wanted = expected.get((counted.schema, counted.name))
        against = "" if wanted is None else f" (backup: {wanted:,})"
        console.print(literal(f"{counted.schema}.{counted.name}: {counted.rows:,} rows{against}"))
    for difference in done.differences:
        err.print(literal(difference.text()))
    total = sum(c.rows for c in done.counted)
    console.print(
        literal(
            f"restored {len(done.counted)} tables, {total:,} rows into {plan.target.shown}"
            + ("" if done.ok else f"; {len(done.differences)} difference(s)")
        )
    )
