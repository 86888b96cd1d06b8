"""`opsbook maintenance routines|due|run|rotated|history`: the routine maintenance that
`opsbook serve` runs on its schedules, beside the status page's maintenance windows
(`maintenance schedule|list|start|complete|cancel`, status/cli.py).

Thin doors over routines/service.py, keys.py and views.py."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import typer

from opsbook.bounds import MAX_ID
from opsbook.config import Config
from opsbook.console import Exit, console, err, fail, literal, print_json, print_rows, safe
from opsbook.context import AppContext, app_context
from opsbook.registry import default_registry
from opsbook.routines import keys, service, views
from opsbook.routines.check import routine_issues
from opsbook.runbooks.reporter import ConsoleReporter
from opsbook.store.audit import default_actor

JSON = typer.Option(False, "--json", help="Print as JSON.")


def refuse_bad_routines(config: Config) -> None:
    """Routines naming a runbook that does not exist stop the command (exit 2), each
    problem located in opsbook.yaml."""
    issues = routine_issues(config)
    if issues:
        for issue in issues:
            err.print(literal(issue))
        fail(f"{len(issues)} problem(s) in maintenance.routines; nothing was run")


def _context(ctx: typer.Context) -> AppContext:
    context = app_context(ctx)
    refuse_bad_routines(context.config())
    return context


def _local(config: Config, routine: str, when: dt.datetime) -> str:
    found = config.maintenance.routines.get(routine)
    zone = ZoneInfo(found.timezone or config.timezone) if found else ZoneInfo("UTC")
    return f"{when.astimezone(zone):%Y-%m-%d %H:%M %Z}"


def routines(ctx: typer.Context, as_json: bool = JSON) -> None:
    """Each configured routine: its schedule in words, time zone, next run, last run.

    Example: opsbook maintenance routines --json
    """
    context = _context(ctx)
    config = context.config()
    with context.store().reading() as session:
        rows = views.overview(session, config, now=context.clock.now())

    def last(row: views.RoutineView) -> str:
        if row.last_run is None:
            return "never"
        return f"{_local(config, row.name, row.last_run)}: {row.last_outcome}"

    print_rows(
        rows,
        [
            ("routine", lambda r: r.name),
            ("runbook", lambda r: r.runbook),
            ("schedule", lambda r: r.schedule),
            ("time zone", lambda r: r.timezone),
            ("next run", lambda r: r.next_run_local),
            ("last run", last),
        ],
        as_json=as_json,
        empty="no routines configured (maintenance.routines in opsbook.yaml)",
    )


def due(ctx: typer.Context, as_json: bool = JSON) -> None:
    """Open checklists (steps of routine runs waiting for a person) and API keys due for
    rotation, with how to mark each done.

    Example: opsbook maintenance due
    """
    context = _context(ctx)
    config = context.config()
    with context.store().reading() as session:
        lists = views.open_checklists(session)
        key_states = [k for k in keys.key_states(session, config, clock=context.clock) if k.due]
    if as_json:
        print_json(
            {
                "checklists": [
                    {
                        "routine": c.routine,
                        "run_id": c.run_id,
                        "slot_at": c.slot_at,
                        "steps": c.steps,
                        "mark_done": c.mark_done,
                    }
                    for c in lists
                ],
                "keys_due": [k.__dict__ | {"says": k.sentence} for k in key_states],
            }
        )
        return
    if not lists and not key_states:
        console.print("nothing due: no open maintenance checklist, no key due for rotation")
        return
    for checklist in lists:
        when = _local(config, checklist.routine, checklist.slot_at)
        console.print(
            f"[bold]{safe(checklist.routine)}[/] for {when} (run {checklist.run_id}): "
            f"{len(checklist.steps)} step{'s' if len(checklist.steps) != 1 else ''} to do"
        )
        for step in checklist.steps:
            console.print(literal(f"  - {step.id}: {step.instruction or step.title}"))
        console.print(literal(f"  when done: {checklist.mark_done}"), style="dim")
    if key_states:
        console.print("[bold]API keys due for rotation[/]:")
        for state in key_states:
            console.print(literal(f"  - {state.sentence}"))
        console.print(literal("  when rotated: opsbook maintenance rotated KEY"), style="dim")


def run(
    ctx: typer.Context,
    name: str = typer.Argument(..., metavar="NAME", help="A routine of maintenance.routines."),
    yes: bool = typer.Option(False, "--yes", help="Approve the steps that need confirmation."),
    as_json: bool = JSON,
) -> None:
    """Run a routine now, recorded like a scheduled run; steps that need a person become
    its open checklist (opsbook maintenance due).

    Example: opsbook maintenance run weekly
    """
    context = _context(ctx)
    config = context.config()
    try:
        runbook = service.configured(config, name).runbook
        started = service.run_now(
            context.store(),
            config,
            default_registry(),
            name=name,
            clock=context.clock,
            actor=default_actor(),
            yes=yes,
            reporter=lambda total: ConsoleReporter(total, quiet_stdout=as_json),
        )
    except service.RoutineError as exc:
        fail(str(exc))
    if as_json:
        print_json(started)
    else:
        console.print(
            f"maintenance {safe(name)} (runbook {safe(runbook)}): run {started.run_id} "
            f"{started.outcome}"
        )
        if started.error:
            console.print(literal(started.error))
        if started.outcome == "waiting":
            console.print("steps still to do by hand: opsbook maintenance due")
    if started.outcome in ("failed", "refused"):
        raise typer.Exit(Exit.FOUND)


def rotated(
    ctx: typer.Context,
    key: str = typer.Argument(..., metavar="KEY", help="A key of maintenance.keys."),
    on: str | None = typer.Option(None, "--on", help="The day it was rotated (default today)."),
) -> None:
    """Record that an API key was rotated (today, or --on 2026-06-01).

    Example: opsbook maintenance rotated stripe
    """
    context = app_context(ctx)
    day = _date("--on", on) if on is not None else None
    try:
        with context.store().session() as session:
            recorded = keys.record_rotation(
                session,
                context.config(),
                key=key,
                on=day,
                actor=default_actor(),
                clock=context.clock,
            )
    except keys.RotationError as exc:
        fail(str(exc))
    console.print(f"recorded: {safe(key)} rotated {recorded.isoformat()}")


def _date(option: str, text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        fail(f"{option}: {text[:40]!r} is not a date (use 2026-06-01)")


def history(
    ctx: typer.Context,
    name: str | None = typer.Argument(None, metavar="[NAME]", help="Only this routine's runs."),
    limit: int = typer.Option(20, "--limit", min=1, max=MAX_ID, help="How many, newest first."),
    as_json: bool = JSON,
) -> None:
    """Past routine runs and their findings (each step's outcome and output).

    Example: opsbook maintenance history monthly --json
    """
    context = app_context(ctx)
    config = context.config()
    if name is not None and name not in config.maintenance.routines:
        try:
            service.configured(config, name)
        except service.RoutineError as exc:
            fail(str(exc))
    with context.store().reading() as session:
        entries = views.history(session, routine=name, limit=limit)
    print_rows(
        entries,
        [
            ("for", lambda e: _local(config, e.routine, e.slot_at)),
            ("routine", lambda e: e.routine),
            ("how", _how),
            ("run", lambda e: "" if e.run_id is None else str(e.run_id)),
            ("outcome", lambda e: e.outcome),
            ("findings", _findings),
        ],
        as_json=as_json,
        empty="no routine has run yet",
    )


def _how(entry: views.HistoryEntry) -> str:
    if not entry.late:
        return entry.trigger
    missed = f" (+{entry.missed} missed)" if entry.missed else ""
    return f"{entry.trigger}, late{missed}"


def _findings(entry: views.HistoryEntry) -> str:
    if entry.error:
        return entry.error
    said: list[str] = []
    waiting = [f["step"] for f in entry.findings if f["status"] == "waiting"]
    for finding in entry.findings:
        if finding["status"] == "failed":
            said.append(f"{finding['step']}: {finding['error'] or 'failed'}")
    if waiting:
        said.append(f"waiting: {', '.join(waiting)}")
    return "\n".join(said) or "none"
