"""`opsbook oncall ...`: who is on call, the shifts ahead, overrides.

Thin doors over oncall/service.py: they read times and names as typed, call one service
function and print its answer. Nobody on call is never quiet: it is shown in red and
the command exits 1, the code for "something needs attention".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from zoneinfo import ZoneInfo

import typer
from rich.text import Text
from sqlalchemy.orm import Session

from opsbook.bounds import parse_id
from opsbook.config.oncall import OncallConfig, Person, Schedule
from opsbook.console import Exit, Table, console, duration_option, fail, literal, print_json
from opsbook.context import AppContext, app_context
from opsbook.oncall import cli_check, cli_escalation, service
from opsbook.oncall.models import Override
from opsbook.oncall.schedules import Shift
from opsbook.oncall.wallclock import parse_moment
from opsbook.store.audit import default_actor

app = typer.Typer(
    help="On-call schedules: who is on call, shifts, overrides.", no_args_is_help=True
)

JSON = typer.Option(False, "--json", help="Print as JSON.")
SCHEDULE = typer.Option(None, "--schedule", "-s", help="One schedule (default: all).")
NOBODY = "NOBODY"


@contextmanager
def _session(
    ctx: typer.Context, *, writes: bool
) -> Iterator[tuple[AppContext, OncallConfig, Session]]:
    """The config's on-call section and a unit of work; a refusal exits 2, unchanged."""
    context = app_context(ctx)
    oncall = context.config().oncall
    store = context.store()
    try:
        with store.session() if writes else store.reading() as session:
            yield context, oncall, session
    except service.OncallError as exc:
        fail(str(exc))


def _local(moment: dt.datetime | None, zone: ZoneInfo) -> str:
    if moment is None:
        return f"(no change within {service.LOOK_AHEAD.days} days)"
    return moment.astimezone(zone).strftime("%a %Y-%m-%d %H:%M %Z")


def _who(person: Person | None) -> Text:
    return literal(person.name) if person else literal(NOBODY, "bold red")


def _reach(person: Person | None) -> str:
    if person is None:
        return "-"
    contacts = person.contacts
    return contacts.phone or contacts.email or contacts.slack_user_id or "-"


def _source(shift: Shift) -> Text:
    if shift.override:
        return literal(f"override #{shift.override_id}", "yellow")
    return literal(shift.layer or "-")


def _person_json(person: Person | None) -> dict[str, Any] | None:
    return None if person is None else person.model_dump(mode="json")


def _shift_json(shift: Shift, zone: ZoneInfo) -> dict[str, Any]:
    return {
        "person": _person_json(shift.person),
        "start": shift.start.astimezone(zone).isoformat(),
        "end": shift.end.astimezone(zone).isoformat(),
        "layer": shift.layer,
        "override": shift.override,
        "override_id": shift.override_id,
    }


@app.command("now")
def now(ctx: typer.Context, schedule: str | None = SCHEDULE, as_json: bool = JSON) -> None:
    """Who is on call now on each schedule, until when, and who is next. Exit 1 when a
    schedule has nobody.

    Example: opsbook oncall now --schedule primary
    """
    with _session(ctx, writes=False) as (context, oncall, session):
        at = context.clock.now()
        found = service.on_call_now(session=session, oncall=oncall, at=at, schedule=schedule)
    if as_json:
        print_json([_now_json(item) for item in found])
    else:
        table = Table("schedule", "on call", "reach", "via", "until", "next")
        for item in found:
            zone, current = item.schedule.zone, item.current
            table.add_row(
                item.schedule.name,
                _who(current.person),
                _reach(current.person),
                _source(current),
                _local(item.until, zone),
                _who(item.next.person) if item.next else "-",
            )
        console.print(table)
    if any(item.current.person is None for item in found):
        raise typer.Exit(Exit.FOUND)


def _now_json(item: service.OnCallNow) -> dict[str, Any]:
    zone = item.schedule.zone
    return {
        "schedule": item.schedule.name,
        "timezone": item.schedule.timezone,
        "on_call": _person_json(item.current.person),
        "nobody": item.current.person is None,
        "shift": _shift_json(item.current, zone),
        "until": item.until.astimezone(zone).isoformat() if item.until else None,
        "next": _shift_json(item.next, zone) if item.next else None,
    }


@app.command("schedule")
def schedule_(
    ctx: typer.Context,
    schedule: str | None = SCHEDULE,
    weeks: int = typer.Option(4, "--weeks", min=1, max=104, help="How far ahead, in weeks."),
    as_json: bool = JSON,
) -> None:
    """The shifts from now on, overrides marked; gaps show as NOBODY (exit 1).

    Example: opsbook oncall schedule --schedule primary --weeks 4
    """
    with _session(ctx, writes=False) as (context, oncall, session):
        start = context.clock.now()
        names = [schedule] if schedule is not None else [s.name for s in oncall.schedules]
        if not names:
            fail(service.NO_SCHEDULES)
        found = {
            name: service.shifts(
                session=session,
                oncall=oncall,
                schedule=name,
                start=start,
                end=start + dt.timedelta(weeks=weeks),
            )
            for name in names
        }
        zones = {name: service.find_schedule(oncall, name).zone for name in names}
    if as_json:
        rows = [
            {"schedule": name, **_shift_json(shift, zones[name])}
            for name, shifts in found.items()
            for shift in shifts
        ]
        print_json(rows)
    else:
        _print_schedule(found, zones)
    if any(shift.person is None for shifts in found.values() for shift in shifts):
        raise typer.Exit(Exit.FOUND)


def _print_schedule(found: dict[str, list[Shift]], zones: dict[str, ZoneInfo]) -> None:
    table = Table("schedule", "from", "until", "on call", "layer", "hours")
    gaps = 0
    for name, shifts in found.items():
        for shift in shifts:
            gaps += shift.person is None
            hours = (shift.end - shift.start) / dt.timedelta(hours=1)
            table.add_row(
                name,
                _local(shift.start, zones[name]),
                _local(shift.end, zones[name]),
                _who(shift.person),
                _source(shift),
                f"{hours:.1f}",
            )
    console.print(table)
    if gaps:
        console.print(literal(f"{gaps} gap(s) where NOBODY is on call", "bold red"))


@app.command("override")
def override(
    ctx: typer.Context,
    schedule: str | None = typer.Option(
        None, "--schedule", "-s", help="The schedule (needed when there are several)."
    ),
    who: str | None = typer.Option(None, "--who", help="The person who covers."),
    start: str = typer.Option("now", "--from", help="2026-03-08 09:00 (schedule's zone), now."),
    end: str | None = typer.Option(None, "--to", help="2026-03-09 09:00, +8h (after --from)."),
    remove: str | None = typer.Option(None, "--remove", help="Take override ID out of force."),
    as_json: bool = JSON,
) -> None:
    """Have someone cover a schedule for a while (the newest override wins), or remove one.

    Example: opsbook oncall override --schedule primary --who "Bob" --from now --to +8h
    """
    if remove is not None:
        _remove(ctx, remove, as_json)
        return
    if who is None or end is None:
        fail("--who and --to are needed (or --remove ID)")
    with _session(ctx, writes=True) as (context, oncall, session):
        found = _one_schedule(oncall, schedule)
        now = context.clock.now()
        begins = _moment("--from", start, found.zone, now)
        if end.startswith("+"):
            ends = begins + duration_option("--to", end[1:])
        else:
            ends = _moment("--to", end, found.zone, now)
        added = service.add_override(
            session=session,
            oncall=oncall,
            schedule=found.name,
            person=who,
            start=begins,
            end=ends,
            actor=default_actor(),
            clock=context.clock,
        )
    _print_override(added.override, found.zone, as_json, "added")
    if added.overlaps and not as_json:
        ids = ", ".join(f"#{i}" for i in added.overlaps)
        console.print(literal(f"it overlaps override {ids}; where they meet, this one wins"))


def _one_schedule(oncall: OncallConfig, name: str | None) -> Schedule:
    """The schedule named, or the only one there is."""
    if name is not None or len(oncall.schedules) != 1:
        if name is None and oncall.schedules:
            names = ", ".join(repr(s.name) for s in oncall.schedules)
            fail(f"which schedule? give --schedule, one of {names}")
        return service.find_schedule(oncall, name or "")
    return oncall.schedules[0]


def _moment(option: str, text: str, zone: ZoneInfo, now: dt.datetime) -> dt.datetime:
    try:
        return parse_moment(text, zone=zone, now=now)
    except ValueError as exc:
        fail(f"{option}: {exc}")


def _remove(ctx: typer.Context, text: str, as_json: bool) -> None:
    try:
        override_id = parse_id(text, "an override id")
    except ValueError as exc:
        fail(f"--remove: {exc}")
    with _session(ctx, writes=True) as (context, oncall, session):
        row = service.remove_override(
            session=session, override_id=override_id, actor=default_actor(), clock=context.clock
        )
        found = oncall.schedule(row.schedule)
    _print_override(row, found.zone if found else ZoneInfo("UTC"), as_json, "removed")


def _override_json(row: Override, zone: ZoneInfo) -> dict[str, Any]:
    return {
        "id": row.id,
        "schedule": row.schedule,
        "person": row.person,
        "from": row.starts_at.astimezone(zone).isoformat(),
        "to": row.ends_at.astimezone(zone).isoformat(),
        "created_at": row.created_at.isoformat(),
        "created_by": row.created_by,
        "removed_at": row.removed_at.isoformat() if row.removed_at else None,
        "removed_by": row.removed_by,
    }


def _print_override(row: Override, zone: ZoneInfo, as_json: bool, what: str) -> None:
    if as_json:
        print_json(_override_json(row, zone))
        return
    console.print(
        literal(
            f"override #{row.id} {what}: {row.person} covers {row.schedule} from"
            f" {_local(row.starts_at, zone)} to {_local(row.ends_at, zone)}"
        )
    )


@app.command("overrides")
def overrides(
    ctx: typer.Context,
    schedule: str | None = SCHEDULE,
    past: bool = typer.Option(False, "--past", help="Include overrides that have ended."),
    as_json: bool = JSON,
) -> None:
    """Overrides in force now or later, soonest first (removed ones are in `opsbook audit`).

    Example: opsbook oncall overrides --json
    """
    with _session(ctx, writes=False) as (context, oncall, session):
        if schedule is not None:
            service.find_schedule(oncall, schedule)
        rows = service.overrides(
            session=session, now=context.clock.now(), schedule=schedule, past=past
        )
    zones = {s.name: s.zone for s in oncall.schedules}
    utc = ZoneInfo("UTC")
    if as_json:
        print_json([_override_json(row, zones.get(row.schedule, utc)) for row in rows])
        return
    if not rows:
        console.print("no overrides")
        return
    table = Table("id", "schedule", "who", "from", "until", "by")
    for row in rows:
        zone = zones.get(row.schedule, utc)
        table.add_row(
            f"#{row.id}",
            row.schedule,
            row.person,
            _local(row.starts_at, zone),
            _local(row.ends_at, zone),
            row.created_by,
        )
    console.print(table)


app.command("escalation")(cli_escalation.escalation)
app.command("check")(cli_check.check_)
app.command("confirm")(cli_check.confirm)
app.command("checks")(cli_check.checks)
