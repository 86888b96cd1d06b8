"""`opsbook maintenance ...`: schedule, list, start, complete and cancel planned work; and
`opsbook status export DIR`, the page as static files.

Thin doors over status/maintenance.py and status/export.py: they read times, names and
paths as typed, call one service function and print its answer. Times are read in the
status page's time zone."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import typer
from sqlalchemy.orm import Session

from opsbook.bounds import parse_id
from opsbook.config.status import StatusConfig
from opsbook.console import console, duration_option, fail, literal, print_json, print_rows
from opsbook.context import AppContext, app_context
from opsbook.oncall.wallclock import parse_moment
from opsbook.status import export as site_export
from opsbook.status import maintenance
from opsbook.status.models import Maintenance
from opsbook.store.audit import default_actor

app = typer.Typer(
    help="Maintenance windows shown on the status page (schedule, list, start, complete, "
    "cancel), and routine maintenance run on a schedule (routines, due, run, rotated, history).",
    no_args_is_help=True,
)
JSON = typer.Option(False, "--json", help="Print as JSON.")


@contextmanager
def _session(ctx: typer.Context) -> Iterator[tuple[AppContext, StatusConfig, Session]]:
    """The status section and a unit of work; a refusal exits 2 with nothing changed."""
    context = app_context(ctx)
    status = context.config().status
    try:
        with context.store().session() as session:
            yield context, status, session
    except maintenance.MaintenanceError as exc:
        fail(str(exc))


def _row(row: Maintenance, now: dt.datetime, zone: ZoneInfo) -> dict[str, Any]:
    return {
        "id": row.id,
        "title": row.title,
        "message": row.message,
        "components": list(row.components),
        "from": row.starts_at.astimezone(zone).isoformat(),
        "to": row.ends_at.astimezone(zone).isoformat(),
        "status": maintenance.phase(row, now),
        "created_by": row.created_by,
    }


def _moment(option: str, text: str, zone: ZoneInfo, now: dt.datetime) -> dt.datetime:
    try:
        return parse_moment(text, zone=zone, now=now)
    except ValueError as exc:
        fail(f"{option}: {exc}")


def _said(row: dict[str, Any], what: str, as_json: bool) -> None:
    """Said once the change is committed, never before."""
    if as_json:
        print_json(row)
        return
    console.print(literal(f"maintenance #{row['id']} {what}: {row['title']}"))


@app.command("schedule")
def schedule(
    ctx: typer.Context,
    title: str = typer.Option(..., "--title", help="What customers read."),
    components: str = typer.Option(..., "--components", help="Public components, comma-separated."),
    start: str = typer.Option(..., "--from", help="2026-03-08 09:00 (page's zone), now."),
    end: str = typer.Option(..., "--to", help="2026-03-08 11:00, +2h (after --from)."),
    message: str = typer.Option("", "--message", help="More words for customers."),
    as_json: bool = JSON,
) -> None:
    """Plan work on public components; while it is under way their checks open no incidents.

    Example: opsbook maintenance schedule --title "Database upgrade" --components Database
    --from "2026-03-08 09:00" --to +2h
    """
    with _session(ctx) as (context, status, session):
        zone, now = ZoneInfo(status.time_zone), context.clock.now()
        begins = _moment("--from", start, zone, now)
        ends = (
            begins + duration_option("--to", end[1:])
            if end.startswith("+")
            else _moment("--to", end, zone, now)
        )
        row = maintenance.schedule(
            session=session,
            status=status,
            title=title,
            components=[c for c in components.split(",") if c.strip()],
            start=begins,
            end=ends,
            message=message,
            actor=default_actor(),
            clock=context.clock,
        )
        done = _row(row, now, zone)
    _said(done, "scheduled", as_json)


@app.command("list")
def list_(
    ctx: typer.Context,
    ended: bool = typer.Option(False, "--all", help="Include completed and cancelled ones."),
    as_json: bool = JSON,
) -> None:
    """Maintenances upcoming and under way, soonest first.

    Example: opsbook maintenance list --json
    """
    with _session(ctx) as (context, status, session):
        zone, now = ZoneInfo(status.time_zone), context.clock.now()
        rows = [_row(r, now, zone) for r in maintenance.maintenances(session, now=now, ended=ended)]
    print_rows(
        rows,
        [
            ("id", lambda r: f"#{r['id']}"),
            ("status", lambda r: literal(r["status"])),
            ("title", lambda r: literal(r["title"])),
            ("components", lambda r: literal(", ".join(r["components"]))),
            ("from", lambda r: r["from"]),
            ("to", lambda r: r["to"]),
        ],
        as_json=as_json,
        empty="no maintenance scheduled",
    )


def _change(ctx: typer.Context, text: str, what: str, as_json: bool) -> None:
    try:
        maintenance_id = parse_id(text, "a maintenance id")
    except ValueError as exc:
        fail(f"ID: {exc}")
    act = {
        "started": maintenance.start,
        "completed": maintenance.complete,
        "cancelled": maintenance.cancel,
    }[what]
    with _session(ctx) as (context, status, session):
        row = act(
            session=session,
            maintenance_id=maintenance_id,
            actor=default_actor(),
            clock=context.clock,
        )
        done = _row(row, context.clock.now(), ZoneInfo(status.time_zone))
    _said(done, what, as_json)


@app.command("start")
def start(
    ctx: typer.Context,
    maintenance_id: str = typer.Argument(..., metavar="ID"),
    as_json: bool = JSON,
) -> None:
    """Begin the work now, before its window opens.

    Example: opsbook maintenance start 3
    """
    _change(ctx, maintenance_id, "started", as_json)


@app.command("complete")
def complete(
    ctx: typer.Context,
    maintenance_id: str = typer.Argument(..., metavar="ID"),
    as_json: bool = JSON,
) -> None:
    """The work is done: its components' checks open incidents again.

    Example: opsbook maintenance complete 3
    """
    _change(ctx, maintenance_id, "completed", as_json)


@app.command("cancel")
def cancel(
    ctx: typer.Context,
    maintenance_id: str = typer.Argument(..., metavar="ID"),
    as_json: bool = JSON,
) -> None:
    """Call off work that has not started.

    Example: opsbook maintenance cancel 3
    """
    _change(ctx, maintenance_id, "cancelled", as_json)


def export(
    ctx: typer.Context,
    directory: Path = typer.Argument(..., metavar="DIR", help="Where the site goes."),
    as_json: bool = JSON,
) -> None:
    """Write the status page as static files into DIR (replaced whole, atomically), for
    nginx, S3 or any static host to serve when opsbook is down.

    Example: opsbook status export /var/www/status
    """
    context = app_context(ctx)
    config = context.config(required=True)
    config_path = context.config_path()
    try:
        done = site_export.export(
            store=context.store(),
            config=config,
            target=directory,
            now=context.clock.now(),
            protected=(config_path,) if config_path else (),
        )
    except site_export.ExportError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(f"cannot export into {directory}: {exc.strerror or exc}")
    row = {
        "path": str(done.path),
        "files": done.files,
        "bytes": done.bytes,
        "incidents": done.incidents,
        "history_pages": done.history_pages,
        "atomic": done.exchanged,
    }
    if as_json:
        print_json(row)
        return
    console.print(
        literal(
            f"exported the status page to {done.path}: {done.files} files, "
            f"{done.incidents} incident pages, {done.history_pages} history pages"
        )
    )
