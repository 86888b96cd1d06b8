"""`opsbook store ...` and `opsbook audit ...`: opsbook's own state."""

from __future__ import annotations

import re
from typing import Any

import typer
from sqlalchemy import Engine

from opsbook.bounds import MAX_ID
from opsbook.config import Config
from opsbook.console import Exit, Table, console, fail, literal, print_json, safe
from opsbook.context import app_context
from opsbook.store import audit, chain, migrate
from opsbook.store.engine import StoreUrlError, make_engine

app = typer.Typer(help="opsbook's own state store.", no_args_is_help=True)


def _engine(config: Config) -> Engine:
    """The store's engine without migrating it; a URL that names no store stops (exit 2)."""
    try:
        return make_engine(config.store.url.reveal(), base_dir=config.base_dir)
    except StoreUrlError as exc:
        fail(str(exc))


audit_app = typer.Typer(help="The append-only audit log.", no_args_is_help=True)
_HASH = re.compile(r"[0-9a-f]{64}")


@app.command("upgrade")
def upgrade(ctx: typer.Context) -> None:
    """Apply pending migrations to the state store (also done on first use).

    Example: opsbook store upgrade
    """
    config = app_context(ctx).config()
    engine = _engine(config)
    try:
        before, after = migrate.upgrade(engine)
    finally:
        engine.dispose()
    where = config.store.url.masked()
    if before == after:
        console.print(f"{safe(where)}: already at revision {after}")
    else:
        console.print(f"{safe(where)}: migrated {before or 'empty'} -> {after}")


@app.command("status")
def status(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Show which store is used and whether migrations are pending.

    Example: opsbook store status --json
    """
    config = app_context(ctx).config()
    engine = _engine(config)
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
    console.print(f"{safe(data['url'])} ({data['dialect']}): {state}")


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
        outcome = (
            literal("started, no end recorded", "bold yellow") if e.id in unfinished else e.outcome
        )
        table.add_row(e.at.strftime("%Y-%m-%d %H:%M:%S"), e.actor, e.action, e.target, outcome)
    console.print(table if found else "the audit log is empty")


@audit_app.command("verify")
def verify(
    ctx: typer.Context,
    anchor: str | None = typer.Option(
        None,
        "--anchor",
        metavar="HASH",
        help="A head hash printed by an earlier verify and kept outside the database;"
        " fail unless it is still in the chain.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Check the audit log's hash chain; name the first row changed or removed.

    Finds what a superuser, or anyone who can write the SQLite file, changed past the triggers.

    Exit 0: intact. Exit 1: a row was changed or removed, or the --anchor is gone.

    Example: opsbook audit verify --json
    """
    if anchor is not None:
        anchor = anchor.strip().lower()
        if not _HASH.fullmatch(anchor):
            fail(f"--anchor {anchor!r} is not a hash `opsbook audit verify` prints (64 hex digits)")
    verdict = chain.verify(app_context(ctx).store(), anchor=anchor)
    if as_json:
        print_json(_verdict_json(verdict, anchor))
    else:
        _print_verdict(verdict, anchor)
    if not verdict.intact:
        raise typer.Exit(Exit.FOUND)


def _verdict_json(verdict: chain.Verdict, anchor: str | None) -> dict[str, Any]:
    problem = verdict.problem
    return {
        "intact": verdict.intact,
        "rows": verdict.rows,
        # The last row found intact: the chain's head when nothing is wrong.
        "head": None
        if verdict.head_id is None
        else {"id": verdict.head_id, "seq": verdict.head.seq, "hash": verdict.head.hash},
        "first_bad": None
        if problem is None
        else {
            "id": problem.id,
            "seq": problem.seq,
            "problem": problem.kind,
            "detail": problem.detail,
        },
        "anchor": None if anchor is None else {"hash": anchor, "found": verdict.anchor_found},
    }


def _print_verdict(verdict: chain.Verdict, anchor: str | None) -> None:
    problem = verdict.problem
    if problem is not None:
        console.print(
            f"[bold red]audit log tampered:[/] row id {problem.id} (chain position"
            f" {problem.seq}): {problem.kind}: {safe(problem.detail)}"
        )
        if verdict.rows:
            console.print(f"the {_rows(verdict.rows)} before it are intact")
        return
    if verdict.head_id is None:
        console.print("0 rows, chain intact (the audit log is empty)")
    else:
        console.print(f"{_rows(verdict.rows)}, chain intact")
        console.print(f"head: id {verdict.head_id}, hash {verdict.head.hash}")
    if verdict.anchor_found is False:
        console.print(
            f"[bold red]anchor {anchor} is not in the chain:[/] the log was rewritten and"
            " re-sealed, or rows were cut from its end, since that hash was printed"
        )
    elif verdict.anchor_found:
        console.print(f"anchor {anchor} is in the chain: nothing up to it was rewritten")


def _rows(count: int) -> str:
    return f"{count} row{'s' if count != 1 else ''}"
