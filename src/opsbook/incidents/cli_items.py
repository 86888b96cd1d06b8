"""`opsbook incident actions add|done|list`: action items from the terminal.

Called bare (`opsbook incident actions [--open]`), it lists the items of every incident,
like `list` without an ID.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import typer

from opsbook.config import parse_duration
from opsbook.config.durations import DurationOutOfRange
from opsbook.console import Table, console, fail, print_json
from opsbook.incidents import service
from opsbook.incidents.cli_common import JSON, incident_number, session
from opsbook.incidents.views import item_json
from opsbook.store.audit import default_actor

_OPEN = typer.Option(False, "--open", help="Only items not done.")


app = typer.Typer(invoke_without_command=True)


@app.callback()
def across(ctx: typer.Context, open_only: bool = _OPEN, as_json: bool = JSON) -> None:
    """Action items: add, complete and list them, for one incident or across all.

    Example: opsbook incident actions add 12 "Add pool limits" --owner alice --due 7d
    """
    if ctx.invoked_subcommand is None:
        list_(ctx, None, open_only, as_json)


@app.command("add")
def add(
    ctx: typer.Context,
    incident_id: str = typer.Argument(..., metavar="ID"),
    text: str = typer.Argument(..., metavar="TEXT", help="What to do, in a few words."),
    owner: str | None = typer.Option(None, "--owner", help="Who does it."),
    due: str | None = typer.Option(None, "--due", help="2026-03-09, or 7d from now."),
    as_json: bool = JSON,
) -> None:
    """Add an action item to an incident.

    Example: opsbook incident actions add 12 "Add pool limits" --owner alice --due 7d
    """
    number = incident_number(incident_id)
    with session(ctx) as (context, _config, db):
        item = service.add_action(
            db,
            incident_id=number,
            title=text,
            owner=owner,
            due=_due(due, context.clock.now()),
            clock=context.clock,
            actor=default_actor(),
        )
        rows = [item_json(item)]
    _print(rows, as_json)


@app.command("done")
def done(
    ctx: typer.Context,
    incident_id: str = typer.Argument(..., metavar="ID"),
    item_id: str = typer.Argument(..., metavar="N", help="The item's number (see list)."),
    as_json: bool = JSON,
) -> None:
    """Mark an incident's action item done.

    Example: opsbook incident actions done 12 3
    """
    number = incident_number(incident_id)
    with session(ctx) as (context, _config, db):
        item = service.complete_action(
            db,
            incident_id=number,
            item_id=incident_number(item_id, "an action item"),
            clock=context.clock,
            actor=default_actor(),
        )
        rows = [item_json(item)]
    _print(rows, as_json)


@app.command("list")
def list_(
    ctx: typer.Context,
    incident_id: str | None = typer.Argument(None, metavar="[ID]", help="Only this incident."),
    open_only: bool = _OPEN,
    as_json: bool = JSON,
) -> None:
    """List action items, of one incident or of all, by incident.

    Example: opsbook incident actions list --open
    """
    number = incident_number(incident_id) if incident_id is not None else None
    with session(ctx) as (_context, _config, db):
        items = service.list_actions(db, incident_id=number, open_only=open_only)
        rows = [item_json(i) for i in items]
    _print(rows, as_json)


def _print(rows: Sequence[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        print_json(rows)
        return
    table = Table("incident", "item", "title", "owner", "due", "done")
    for row in rows:
        table.add_row(
            f"#{row['incident_id']}",
            str(row["id"]),
            row["title"],
            row["owner"] or "",
            row["due"] or "",
            "yes" if row["done"] else "",
        )
    console.print(table if rows else "no action items")


def _due(value: str | None, now: dt.datetime) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        pass
    try:
        return (now + parse_duration(value)).date()
    except DurationOutOfRange as exc:
        fail(f"--due: {exc}")
    except ValueError:
        fail(f"--due {value!r} is neither a date (2026-03-09) nor a duration (7d)")
