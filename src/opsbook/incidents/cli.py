"""`opsbook incident ...`: drive an incident from the terminal.

Each command is a thin door over one service function: it turns typed words into the
function's inputs, runs it in one transaction and shows the incident as it now stands.
Action items (`actions`), the post-mortem, stats and the severity table live in
cli_items.py and cli_reports.py.
"""

from __future__ import annotations

import datetime as dt

import typer

from opsbook.console import Table, console, literal, print_json, safe, typed
from opsbook.incidents import cli_items, cli_reports, service
from opsbook.incidents.cli_common import JSON, incident_number, session
from opsbook.incidents.clocks import next_due
from opsbook.incidents.lifecycle import Status, public_status
from opsbook.incidents.queries import IncidentDetail
from opsbook.incidents.views import (
    clock_line,
    describe_event,
    event_text,
    fold_grouped,
    incident_json,
    local,
    relative,
)
from opsbook.oncall import paging
from opsbook.oncall.escalation import Escalation, state_json, state_words
from opsbook.store.audit import default_actor

app = typer.Typer(
    help="Open and drive incidents: severities, SLA clocks, post-mortems.", no_args_is_help=True
)
app.command("severities")(cli_reports.severities)


def _show(incident_id: int, ctx: typer.Context, as_json: bool, everything: bool = False) -> None:
    """After a change, show the incident as it now stands."""
    with session(ctx) as (context, config, db):
        now = context.clock.now()
        found = service.detail(db, incident_id=incident_id, config=config, now=now)
        escalation = paging.state(db, config, incident=found.incident, now=now)
    if as_json:
        data = incident_json(
            found.incident,
            found.clocks,
            postmortem=found.postmortem,
            events=found.events,
            items=found.items,
        )
        print_json(data | {"escalation": state_json(escalation)})
        return
    _print(found, now=now, timezone=config.timezone, everything=everything)
    _print_escalation(escalation, now=now, timezone=config.timezone)


def _print_escalation(escalation: Escalation, *, now: dt.datetime, timezone: str) -> None:
    if escalation.policy is None:
        return
    line = f"\n[bold]escalation[/] {safe(state_words(escalation))}"
    if escalation.next is not None:
        due = escalation.next.due_at
        line += f" at {local(due, timezone)} ({relative(due, now)})"
    console.print(line)


def _print(found: IncidentDetail, *, now: dt.datetime, timezone: str, everything: bool) -> None:
    incident, state = found.incident, found.postmortem
    console.print(f"[bold]#{incident.id} {incident.severity} {safe(incident.title)}[/]")
    console.print(
        f"status {incident.status} (public: {public_status(Status(incident.status))}), "
        f"component {safe(incident.component or '-')}, opened "
        f"{local(incident.opened_at, timezone)} by {safe(incident.opened_by)}"
        + (f", post-mortem {state}" if state != "none" else "")
    )
    if incident.symptoms:
        console.print("symptoms: " + "; ".join(safe(s) for s in incident.symptoms))
    upcoming = next_due(found.clocks)
    if upcoming:
        console.print(
            f"[bold]next:[/] {upcoming.action} "
            f"({'overdue' if upcoming.state == 'overdue' else 'due'} "
            f"{relative(upcoming.due_at, now)})"
        )
    console.print("\n[bold]clocks[/]")
    for clock in found.clocks:
        console.print("  " + clock_line(clock, now, timezone))
    console.print("\n[bold]timeline[/]")
    for event in found.events if everything else fold_grouped(found.events):
        if isinstance(event, int):
            console.print(
                f"  ... {event:,} more grouped alert{'s' if event > 1 else ''} "
                f"(opsbook incident show {incident.id} --all)"
            )
            continue
        public = " [cyan](public)[/]" if event.public else ""
        text = f": {safe(event_text(event))}" if event.text else ""
        console.print(
            f"  {local(event.at, timezone)}  {safe(event.actor)}  {safe(describe_event(event))}"
            f"{public}{text}"
        )
    if found.items:
        console.print("\n[bold]action items[/]")
        for item in found.items:
            mark = "x" if item.done_at else " "
            console.print(
                literal(
                    f"  [{mark}] {item.id}. {item.title}"
                    + (f" (owner {item.owner})" if item.owner else "")
                    + (f" due {item.due.isoformat()}" if item.due else "")
                )
            )


@app.command("open")
def open_(
    ctx: typer.Context,
    sev: str = typer.Option(..., "--sev", help="P0, P1, P2 or P3."),
    title: str = typer.Option(..., "--title", help="What is wrong, in a few words."),
    component: str | None = typer.Option(None, "--component", help="app, auth, database..."),
    symptom: list[str] = typer.Option([], "--symptom", help="What people see (repeatable)."),
    message: str | None = typer.Option(None, "--message", help="First update."),
    public: bool = typer.Option(False, "--public", help="Publish the first update."),
    as_json: bool = JSON,
) -> None:
    """Open an incident; its SLA clocks start now.

    Example: opsbook incident open --sev P0 --title "Site down" --symptom "health 500"
    """
    with session(ctx) as (context, _config, db):
        incident_id = service.open_incident(
            db,
            title=title,
            severity=sev,
            actor=default_actor(),
            clock=context.clock,
            component=component,
            symptoms=symptom,
            message=message,
            public=public,
        ).id
    if not as_json:
        console.print(f"opened #{incident_id}")
    _show(incident_id, ctx, as_json)


@app.command("list")
def list_(
    ctx: typer.Context,
    open_only: bool = typer.Option(False, "--open", help="Only unresolved incidents."),
    sev: str | None = typer.Option(None, "--sev", help="Only this severity."),
    as_json: bool = JSON,
) -> None:
    """List incidents, newest first; overdue clocks in red.

    Example: opsbook incident list --open --sev P1
    """
    with session(ctx) as (context, config, db):
        now = context.clock.now()
        rows = service.summaries(db, config=config, now=now, open_only=open_only, severity=sev)
    if as_json:
        print_json([incident_json(r.incident, r.clocks, postmortem=r.postmortem) for r in rows])
        return
    table = Table(typed("id"), "sev", "status", "title", "component", "opened", "next due")
    for row in rows:
        incident, upcoming = row.incident, next_due(row.clocks)
        due = literal("")
        if upcoming:
            style = "bold red" if upcoming.state == "overdue" else "yellow"
            word = "OVERDUE" if upcoming.state == "overdue" else "due"
            what = upcoming.label.split(" (")[0]
            due = literal(f"{what} {word} {relative(upcoming.due_at, now)}", style)
        table.add_row(
            str(incident.id),
            incident.severity,
            incident.status,
            incident.title,
            incident.component or "",
            relative(incident.opened_at, now),
            due,
        )
    console.print(table if rows else "no incidents")


@app.command("show")
def show(
    ctx: typer.Context,
    incident_id: str = typer.Argument(..., metavar="ID"),
    everything: bool = typer.Option(
        False, "--all", help="Every grouped alert of a storm, not the first few and a count."
    ),
    as_json: bool = JSON,
) -> None:
    """Show an incident: its clocks, the next thing due, its timeline and action items.

    Example: opsbook incident show 12
    """
    _show(incident_number(incident_id), ctx, as_json, everything)


@app.command("ack")
def ack(
    ctx: typer.Context,
    incident_id: str = typer.Argument(..., metavar="ID"),
    message: str | None = typer.Option(None, "--message"),
    as_json: bool = JSON,
) -> None:
    """Acknowledge an incident (the runbook asks for it within 5 minutes).

    Example: opsbook incident ack 12 --message "Site down - investigating"
    """
    number = incident_number(incident_id)
    with session(ctx) as (context, _config, db):
        service.acknowledge(
            db, incident_id=number, actor=default_actor(), clock=context.clock, message=message
        )
    _show(number, ctx, as_json)


@app.command("update")
def update(
    ctx: typer.Context,
    incident_id: str = typer.Argument(..., metavar="ID"),
    status: str | None = typer.Option(
        None, "--status", help="investigating, identified or monitoring."
    ),
    message: str | None = typer.Option(None, "--message", help="What changed, in words."),
    public: bool = typer.Option(False, "--public", help="Also publish it on the status page."),
    as_json: bool = JSON,
) -> None:
    """Post an update, with or without a status change.

    Example: opsbook incident update 12 --status identified --message "Bad deploy" --public
    """
    number = incident_number(incident_id)
    with session(ctx) as (context, _config, db):
        service.update(
            db,
            incident_id=number,
            actor=default_actor(),
            clock=context.clock,
            status=status,
            message=message,
            public=public,
        )
    _show(number, ctx, as_json)


@app.command("note")
def note(
    ctx: typer.Context,
    incident_id: str = typer.Argument(..., metavar="ID"),
    text: str = typer.Argument(..., help="What you did or saw."),
    as_json: bool = JSON,
) -> None:
    """Add a private note to the timeline ("document all actions taken").

    Example: opsbook incident note 12 "Killed 40 idle connections"
    """
    number = incident_number(incident_id)
    with session(ctx) as (context, _config, db):
        service.note(db, incident_id=number, actor=default_actor(), clock=context.clock, text=text)
    _show(number, ctx, as_json)


@app.command("severity")
def severity(
    ctx: typer.Context,
    incident_id: str = typer.Argument(..., metavar="ID"),
    level: str = typer.Argument(..., metavar="SEVERITY", help="P0, P1, P2 or P3."),
    reason: str = typer.Option(..., "--reason", help="Why, for the timeline."),
    as_json: bool = JSON,
) -> None:
    """Raise or lower an incident's severity.

    Example: opsbook incident severity 12 P0 --reason "payments affected too"
    """
    number = incident_number(incident_id)
    with session(ctx) as (context, _config, db):
        service.change_severity(
            db,
            incident_id=number,
            severity=level,
            reason=reason,
            actor=default_actor(),
            clock=context.clock,
        )
    _show(number, ctx, as_json)


@app.command("resolve")
def resolve(
    ctx: typer.Context,
    incident_id: str = typer.Argument(..., metavar="ID"),
    message: str | None = typer.Option(None, "--message"),
    force: bool = typer.Option(
        False, "--force", help="Resolve before 15 minutes of monitoring (noted)."
    ),
    private: bool = typer.Option(False, "--private", help="Do not publish the resolution."),
    as_json: bool = JSON,
) -> None:
    """Resolve after the fix held for 15 minutes in monitoring; the post-mortem is then due.

    Example: opsbook incident resolve 12 --message "All clear"
    """
    number = incident_number(incident_id)
    with session(ctx) as (context, config, db):
        service.resolve(
            db,
            incident_id=number,
            actor=default_actor(),
            clock=context.clock,
            policy=config.incidents,
            message=message,
            public=not private,
            force=force,
        )
    _show(number, ctx, as_json)


# After the lifecycle commands, so that `--help` lists them in the order a responder
# meets them.
app.command("postmortem")(cli_reports.postmortem)
app.add_typer(cli_items.app, name="actions")
app.command("stats")(cli_reports.stats)
