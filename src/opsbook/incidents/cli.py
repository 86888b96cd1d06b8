"""`opsbook incident ...`: drive an incident from the terminal."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from sqlalchemy.orm import Session

from opsbook.config import Config, parse_duration
from opsbook.console import Table, console, fail, literal, print_json, safe, visible
from opsbook.context import AppContext, app_context
from opsbook.incidents import postmortem as postmortem_doc
from opsbook.incidents import service
from opsbook.incidents.clocks import next_due
from opsbook.incidents.lifecycle import Status, public_status
from opsbook.incidents.stats import build_report
from opsbook.incidents.views import (
    clock_line,
    describe_event,
    fold_grouped,
    incident_json,
    item_json,
    local,
    relative,
)
from opsbook.store.audit import default_actor

app = typer.Typer(
    help="Open and drive incidents: severities, SLA clocks, post-mortems.", no_args_is_help=True
)

_JSON = typer.Option(False, "--json", help="Print as JSON.")


@contextmanager
def _session(ctx: typer.Context) -> Iterator[tuple[AppContext, Config, Session]]:
    """A transaction; any IncidentError rolls it back and exits 2 with the reason."""
    context = app_context(ctx)
    config = context.config()
    try:
        with context.store().session() as session:
            yield context, config, session
    except service.IncidentError as exc:
        fail(exc.worded(_cli_word))


def _cli_word(name: str) -> str:
    """A name in a refusal as the command line says it: `root_cause` -> `--root-cause`."""
    return "opsbook incident resolve" if name == "resolve" else "--" + name.replace("_", "-")


def _id(value: str) -> int:
    text = value.strip().lstrip("#")
    if not text.isdigit():
        fail(f"{value!r} is not an incident id (use a number, like 12 or #12)")
    return int(text)


def _show(incident_id: int, ctx: typer.Context, as_json: bool, everything: bool = False) -> None:
    """After a change, show the incident as it now stands."""
    with _session(ctx) as (context, config, session):
        incident = service.get(session, incident_id=incident_id)
        events = service.timeline(session, incident_id=incident_id)
        items = service.list_actions(session, incident_id=incident_id)
        now = context.clock.now()
        clocks = service.clocks_for(incident, events, config=config, now=now)
        state = service.postmortem_state(events)
    if as_json:
        print_json(incident_json(incident, clocks, postmortem=state, events=events, items=items))
        return
    tz = config.timezone
    console.print(f"[bold]#{incident.id} {incident.severity} {safe(incident.title)}[/]")
    console.print(
        f"status {incident.status} (public: {public_status(Status(incident.status))}), "
        f"component {safe(incident.component or '-')}, opened {local(incident.opened_at, tz)} "
        f"by {safe(incident.opened_by)}" + (f", post-mortem {state}" if state != "none" else "")
    )
    if incident.symptoms:
        console.print("symptoms: " + "; ".join(safe(s) for s in incident.symptoms))
    upcoming = next_due(clocks)
    if upcoming:
        console.print(
            f"[bold]next:[/] {upcoming.action} "
            f"({'overdue' if upcoming.state == 'overdue' else 'due'} "
            f"{relative(upcoming.due_at, now)})"
        )
    console.print("\n[bold]clocks[/]")
    for clock in clocks:
        console.print("  " + clock_line(clock, now, tz))
    console.print("\n[bold]timeline[/]")
    for event in events if everything else fold_grouped(events):
        if isinstance(event, int):
            console.print(
                f"  ... {event:,} more grouped alert{'s' if event > 1 else ''} "
                f"(opsbook incident show {incident.id} --all)"
            )
            continue
        public = " [cyan](public)[/]" if event.public else ""
        text = f": {safe(event.text)}" if event.text else ""
        console.print(
            f"  {local(event.at, tz)}  {safe(event.actor)}  {safe(describe_event(event))}"
            f"{public}{text}"
        )
    if items:
        console.print("\n[bold]action items[/]")
        for item in items:
            mark = "x" if item.done_at else " "
            console.print(
                literal(
                    f"  [{mark}] {item.id}. {item.title}"
                    + (f" (owner {item.owner})" if item.owner else "")
                    + (f" due {item.due.isoformat()}" if item.due else "")
                )
            )


@app.command("severities")
def severities(ctx: typer.Context, as_json: bool = _JSON) -> None:
    """Print the severity table (the seed's, unless overridden in the config).

    Example: opsbook incident severities
    """
    config = app_context(ctx).config()
    rows = [
        {
            "severity": name,
            "label": level.label,
            "action": level.action,
            "response_sla": level.response_sla.total_seconds(),
            "examples": level.examples,
        }
        for name, level in sorted(config.severities.items())
    ]
    if as_json:
        print_json(rows)
        return
    actions = {
        "page": "Page immediately",
        "alert": "Alert on-call",
        "ticket": "Create ticket",
        "backlog": "Backlog",
    }
    table = Table("severity", "what it means", "response SLA", "for example")
    for name, level in sorted(config.severities.items()):
        sla = "Immediate" if not level.response_sla else f"< {_sla(level.response_sla)}"
        examples = literal("\n".join(visible(e) for e in level.examples), newlines=True)
        table.add_row(f"{name} {level.label}", actions[level.action], sla, examples)
    console.print(table)


def _sla(delta: dt.timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60} hours" if minutes >= 60 and minutes % 60 == 0 else f"{minutes} minutes"


@app.command("open")
def open_(
    ctx: typer.Context,
    sev: str = typer.Option(..., "--sev", help="P0, P1, P2 or P3."),
    title: str = typer.Option(..., "--title", help="What is wrong, in a few words."),
    component: str | None = typer.Option(None, "--component", help="app, auth, database..."),
    symptom: list[str] = typer.Option([], "--symptom", help="What people see (repeatable)."),
    message: str | None = typer.Option(None, "--message", help="First update."),
    public: bool = typer.Option(False, "--public", help="Publish the first update."),
    as_json: bool = _JSON,
) -> None:
    """Open an incident; its SLA clocks start now.

    Example: opsbook incident open --sev P0 --title "Site down" --symptom "health 500"
    """
    with _session(ctx) as (context, _config, session):
        incident = service.open_incident(
            session,
            title=title,
            severity=sev,
            actor=default_actor(),
            clock=context.clock,
            component=component,
            symptoms=symptom,
            message=message,
            public=public,
        )
        incident_id = incident.id
    if not as_json:
        console.print(f"opened #{incident_id}")
    _show(incident_id, ctx, as_json)


@app.command("list")
def list_(
    ctx: typer.Context,
    open_only: bool = typer.Option(False, "--open", help="Only unresolved incidents."),
    sev: str | None = typer.Option(None, "--sev", help="Only this severity."),
    as_json: bool = _JSON,
) -> None:
    """List incidents, newest first; overdue clocks in red.

    Example: opsbook incident list --open --sev P1
    """
    with _session(ctx) as (context, config, session):
        incidents = service.list_incidents(session, open_only=open_only, severity=sev)
        events = service.timelines(session, incident_ids=[i.id for i in incidents])
        now = context.clock.now()
        rows = [
            (
                incident,
                service.clocks_for(incident, events[incident.id], config=config, now=now),
                service.postmortem_state(events[incident.id]),
            )
            for incident in incidents
        ]
    if as_json:
        print_json([incident_json(i, c, postmortem=p) for i, c, p in rows])
        return
    table = Table("id", "sev", "status", "title", "component", "opened", "next due")
    for incident, clocks, _state in rows:
        upcoming = next_due(clocks)
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
    as_json: bool = _JSON,
) -> None:
    """Show an incident: its clocks, the next thing due, its timeline and action items.

    Example: opsbook incident show 12
    """
    _show(_id(incident_id), ctx, as_json, everything)


@app.command("ack")
def ack(
    ctx: typer.Context,
    incident_id: str = typer.Argument(..., metavar="ID"),
    message: str | None = typer.Option(None, "--message"),
    as_json: bool = _JSON,
) -> None:
    """Acknowledge an incident (the runbook asks for it within 5 minutes).

    Example: opsbook incident ack 12 --message "Site down - investigating"
    """
    number = _id(incident_id)
    with _session(ctx) as (context, _config, session):
        service.acknowledge(
            session, incident_id=number, actor=default_actor(), clock=context.clock, message=message
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
    as_json: bool = _JSON,
) -> None:
    """Post an update, with or without a status change.

    Example: opsbook incident update 12 --status identified --message "Bad deploy" --public
    """
    number = _id(incident_id)
    if status is None and message is None:
        fail("give --status, --message, or both")
    with _session(ctx) as (context, _config, session):
        service.update(
            session,
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
    as_json: bool = _JSON,
) -> None:
    """Add a private note to the timeline ("document all actions taken").

    Example: opsbook incident note 12 "Killed 40 idle connections"
    """
    number = _id(incident_id)
    with _session(ctx) as (context, _config, session):
        service.note(
            session, incident_id=number, actor=default_actor(), clock=context.clock, text=text
        )
    _show(number, ctx, as_json)


@app.command("severity")
def severity(
    ctx: typer.Context,
    incident_id: str = typer.Argument(..., metavar="ID"),
    level: str = typer.Argument(..., metavar="SEVERITY", help="P0, P1, P2 or P3."),
    reason: str = typer.Option(..., "--reason", help="Why, for the timeline."),
    as_json: bool = _JSON,
) -> None:
    """Raise or lower an incident's severity.

    Example: opsbook incident severity 12 P0 --reason "payments affected too"
    """
    number = _id(incident_id)
    with _session(ctx) as (context, _config, session):
        service.change_severity(
            session,
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
    as_json: bool = _JSON,
) -> None:
    """Resolve after the fix held for 15 minutes in monitoring; the post-mortem is then due.

    Example: opsbook incident resolve 12 --message "All clear"
    """
    number = _id(incident_id)
    with _session(ctx) as (context, config, session):
        service.resolve(
            session,
            incident_id=number,
            actor=default_actor(),
            clock=context.clock,
            policy=config.incidents,
            message=message,
            public=not private,
            force=force,
        )
    _show(number, ctx, as_json)


@app.command("postmortem")
def postmortem(
    ctx: typer.Context,
    incident_id: str = typer.Argument(..., metavar="ID"),
    impact: str | None = typer.Option(None, "--impact", help="How many users were affected."),
    root_cause: str | None = typer.Option(None, "--root-cause", help="What caused it."),
    resolution: str | None = typer.Option(None, "--resolution", help="How it was fixed."),
    out: Path | None = typer.Option(None, "--out", help="Write the Markdown here."),
    publish: bool = typer.Option(False, "--publish", help="Mark it published."),
    as_json: bool = _JSON,
) -> None:
    """Write the post-mortem from the timeline (the seed's template); fill its fields.

    Example: opsbook incident postmortem 12 --root-cause "Pool exhausted" --out pm.md
    """
    number = _id(incident_id)
    with _session(ctx) as (context, config, session):
        actor, clock = default_actor(), context.clock
        service.set_postmortem_fields(
            session,
            incident_id=number,
            actor=actor,
            clock=clock,
            impact=impact,
            root_cause=root_cause,
            resolution=resolution,
        )
        incident = service.get(session, incident_id=number)
        if (
            out is not None
            and service.postmortem_state(service.timeline(session, incident_id=number)) != "none"
        ):
            service.mark_postmortem(
                session, incident_id=number, state="drafted", actor=actor, clock=clock
            )
        if publish:
            service.mark_postmortem(
                session, incident_id=number, state="published", actor=actor, clock=clock
            )
        events = service.timeline(session, incident_id=number)
        document = postmortem_doc.render(
            incident,
            events,
            service.list_actions(session, incident_id=number),
            level=config.severity(incident.severity),
            timezone=config.timezone,
            now=clock.now(),
        )
        state = service.postmortem_state(events)
    if out is not None:
        try:
            out.write_text(document)
        except OSError as exc:
            fail(f"cannot write {out}: {exc}")
    if as_json:
        print_json(
            {
                "incident": number,
                "postmortem": state,
                "markdown": document,
                "file": str(out) if out else None,
            }
        )
    elif out is not None:
        console.print(f"wrote {safe(out)} (post-mortem {state})")
    else:
        console.print(literal(document, newlines=True))


@app.command("actions")
def actions(
    ctx: typer.Context,
    words: list[str] = typer.Argument(None, metavar="[ID] [add TITLE | done ITEM | list]"),
    owner: str | None = typer.Option(None, "--owner", help="Who does it (with add)."),
    due: str | None = typer.Option(None, "--due", help="2026-03-09 or 7d from now (with add)."),
    open_only: bool = typer.Option(False, "--open", help="Only items not done."),
    as_json: bool = _JSON,
) -> None:
    """Action items: add, complete and list them, for one incident or across all.

    Example: opsbook incident actions 12 add "Add pool limits" --owner alice --due 7d
    """
    words = list(words or [])
    incident_id = _id(words.pop(0)) if words else None
    verb = words.pop(0) if words else "list"
    with _session(ctx) as (context, _config, session):
        actor, clock = default_actor(), context.clock
        if verb == "add":
            if incident_id is None or len(words) != 1:
                fail('usage: opsbook incident actions ID add "TITLE" [--owner O] [--due D]')
            item = service.add_action(
                session,
                incident_id=incident_id,
                title=words[0],
                owner=owner,
                due=_due(due, clock.now()),
                clock=clock,
                actor=actor,
            )
            listed = [item]
        elif verb == "done":
            if incident_id is None or len(words) != 1 or not words[0].isdigit():
                fail("usage: opsbook incident actions ID done ITEM")
            listed = [
                service.complete_action(
                    session,
                    incident_id=incident_id,
                    item_id=int(words[0]),
                    clock=clock,
                    actor=actor,
                )
            ]
        elif verb == "list" and not words:
            listed = service.list_actions(session, incident_id=incident_id, open_only=open_only)
        else:
            fail(f"unknown action verb {verb!r}: use add, done or list")
        rows = [item_json(i) for i in listed]
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
    except ValueError:
        fail(f"--due {value!r} is neither a date (2026-03-09) nor a duration (7d)")


@app.command("stats")
def stats(
    ctx: typer.Context,
    since: str = typer.Option("30d", "--since", help="How far back: 7d, 30d, 1y."),
    as_json: bool = _JSON,
) -> None:
    """MTTA and MTTR per severity, incident counts, overdue post-mortems.

    Example: opsbook incident stats --since 90d
    """
    try:
        window = parse_duration(since)
    except ValueError as exc:
        fail(f"--since: {exc}")
    with _session(ctx) as (context, config, session):
        now = context.clock.now()
        incidents = service.list_incidents(session, since=now - window)
        events = service.timelines(session, incident_ids=[i.id for i in incidents])
        report = build_report(
            incidents,
            events,
            since=now - window,
            now=now,
            postmortem_within=config.incidents.postmortem_within,
        )
    if as_json:
        print_json(
            {
                "since": report.since,
                "until": report.until,
                "incidents": report.total,
                "overdue_postmortems": report.overdue_postmortems,
                "by_severity": [
                    {
                        "severity": s.severity,
                        "incidents": s.incidents,
                        "open": s.open,
                        "mtta_seconds": s.mtta,
                        "mttr_seconds": s.mttr,
                    }
                    for s in report.by_severity
                ],
            }
        )
        return
    table = Table("severity", "incidents", "open", "MTTA", "MTTR")
    for s in report.by_severity:
        table.add_row(s.severity, str(s.incidents), str(s.open), _minutes(s.mtta), _minutes(s.mttr))
    console.print(f"incidents since {local(report.since, config.timezone)}: {report.total}")
    console.print(table)
    overdue = ", ".join(f"#{i}" for i in report.overdue_postmortems) or "none"
    console.print(f"overdue post-mortems: {overdue}")


def _minutes(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds / 60:.1f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"
