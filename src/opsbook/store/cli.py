"""`opsbook store ...` and `opsbook audit ...`: opsbook's own state."""

from __future__ import annotations

import typer
from rich.table import Table

from opsbook.bounds import MAX_ID
from opsbook.console import console, print_json
from opsbook.context import app_context
from opsbook.store import audit, migrate
from opsbook.store.engine import make_engine

app = typer.Typer(help="opsbook's own state store.", no_args_is_help=True)
audit_app = typer.Typer(help="The append-only audit log.", no_args_is_help=True)


@app.command("upgrade")
def upgrade(ctx: typer.Context) -> None:
    """Apply pending migrations to the state store (also done on first use).

    Example: opsbook store upgrade
    """
    config = app_context(ctx).config()
    engine = make_engine(config.store.url.reveal(), base_dir=config.base_dir)
    try:
        before, after = migrate.upgrade(engine)
    finally:
        engine.dispose()
    where = config.store.url.masked()
    if before == after:
        console.print(f"{where}: already at revision {after}")
    else:
        console.print(f"{where}: migrated {before or 'empty'} -> {after}")


@app.command("status")
def status(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Show which store is used and whether migrations are pending.

    Example: opsbook store status --json
    """
    config = app_context(ctx).config()
    engine = make_engine(config.store.url.reveal(), base_dir=config.base_dir)
    try:
        current = migrate.current_revision(engine)
    finally:
        engine.dispose()
    head = migrate.head_revision()
    data = {
        "url": config.store.url.masked(),
        "dialect": engine.dialect.name,
        "revision": current,
        "head": head,
        "pending": current != head,
    }
    if as_json:
        print_json(data)
        return
    state = "up to date" if current == head else f"pending: {current or 'empty'} -> {head}"
    console.print(f"{data['url']} ({data['dialect']}): {state}")


@audit_app.command("list")
def list_entries(
    ctx: typer.Context,
    limit: int = typer.Option(
        50, "--limit", min=1, max=MAX_ID, help="How many entries, newest first."
    ),
    action: str | None = typer.Option(None, "--action", help="Only this action."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Show the newest audit log entries.

    Example: opsbook audit list --action db.kill --limit 20
    """
    store = app_context(ctx).store()
    with store.session() as session:
        found = audit.entries(session, limit=limit, action=action)
    # End rows are newer than their start rows, so any end is within the same page.
    ended = {e.ref for e in found if e.ref and e.outcome != "started"}
    unfinished = {e.id for e in found if e.outcome == "started" and e.ref not in ended}
    if as_json:
        print_json(
            [
                {
                    "id": e.id,
                    "at": e.at,
                    "actor": e.actor,
                    "action": e.action,
                    "target": e.target,
                    "outcome": e.outcome,
                    "unfinished": e.id in unfinished,
                    "ref": e.ref,
                    "details": e.details,
                }
                for e in found
            ]
        )
        return
    table = Table("at (UTC)", "actor", "action", "target", "outcome")
    for e in found:
        outcome = "[bold yellow]started, no end recorded[/]" if e.id in unfinished else e.outcome
        table.add_row(e.at.strftime("%Y-%m-%d %H:%M:%S"), e.actor, e.action, e.target, outcome)
    console.print(table if found else "the audit log is empty")
