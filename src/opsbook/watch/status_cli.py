"""`opsbook status`: what is firing, what is open, and what each check last saw.

(`opsbook serve` lives with the app it serves, in `opsbook.web.serve`.)
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import typer
from rich.text import Text

from opsbook.console import console, literal, print_json, safe
from opsbook.context import app_context
from opsbook.incidents import service as incidents
from opsbook.incidents.views import relative
from opsbook.routines.views import Checklist, open_checklists
from opsbook.status import maintenance
from opsbook.watch import history, service
from opsbook.watch.history_cli import percent
from opsbook.watch.models import Alert, CheckState

DAY = dt.timedelta(days=1)


OK_SHOWN = 20  # open alerts listed: the rest are counted
NAMES_SHOWN = 12  # healthy checks of one kind named on its line: the rest are counted


def _stale(check: CheckState, intervals: dict[str, dt.timedelta], now: dt.datetime) -> bool:
    """No fresh result although one was due: the watcher stopped, or cannot store results.
    (An unchanged state is rewritten only every REFRESH, hence the allowance.)"""
    interval = intervals.get(check.name)
    return interval is not None and now - check.at > 2 * interval + service.REFRESH


def _urgency(check: CheckState, stale: bool) -> tuple[int, str]:
    if check.failing or check.state == "error":
        return (0, check.name)
    if check.state != "ok":
        return (1, check.name)
    return (2 if stale else 3, check.name)


def _alert_urgency(alert: Alert) -> tuple[bool, bool, dt.datetime, int]:
    """Firing before pending, critical before warning, then the oldest first (a group's
    alerts share a start: then the first stored)."""
    return (alert.state != "firing", alert.level != "crit", alert.started_at, alert.id)


def _print_alerts(firing: list[Alert], now: dt.datetime, everything: bool, app_url: str) -> None:
    """The open alerts, the most urgent first; past OK_SHOWN (an Alertmanager storm sends
    thousands) a count, as for healthy checks."""
    console.print(f"[bold]alerts[/]: {len(firing)} open")
    shown = sorted(firing, key=_alert_urgency)
    for a in shown if everything else shown[:OK_SHOWN]:
        link = f" -> incident #{a.incident_id}" if a.incident_id else ""
        console.print(
            f"  [{'bold red' if a.state == 'firing' else 'yellow'}]{a.state}[/] "
            f"{safe(a.rule)} ({a.level}) since {relative(a.started_at, now)}: "
            f"{safe(_shown_summary(a.summary, app_url))}{link}"
        )
    if len(firing) > OK_SHOWN and not everything:
        console.print(f"... and {len(firing) - OK_SHOWN:,} more alerts open (opsbook status --all)")


def status(
    ctx: typer.Context,
    everything: bool = typer.Option(
        False,
        "--all",
        help=f"List every open alert and every check's last result (else the first {OK_SHOWN}"
        " alerts, and healthy checks one line per kind).",
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """What is firing, what is open, and what each check last saw (the worst first).

    Example: opsbook status (and `opsbook status export DIR`: the public page as files)
    """
    if ctx.invoked_subcommand is not None:
        return  # `opsbook status export`: the subcommand does the work
    context = app_context(ctx)
    store = context.store()
    now = context.clock.now()
    firing = service.open_alerts(store)
    intervals = {c.name: c.interval for c in context.config().checks}
    states = service.check_states(store)
    stale = {c.name for c in states if _stale(c, intervals, now)}
    app_url = context.config().app.url
    checks = sorted(states, key=lambda c: _urgency(c, c.name in stale))
    with store.reading() as session:
        day = history.uptime(session, context.config().watch.downsample, since=now - DAY, now=now)
        open_incidents = incidents.list_incidents(session, open_only=True)
        under = maintenance.in_progress(session, now=now)
        checklists = open_checklists(session)
        quiet = [
            {"id": m.id, "title": m.title, "components": list(m.components), "until": m.ends_at}
            for m in under
        ]
        said = [
            f"[bold]in maintenance[/] #{m.id} until {m.ends_at:%Y-%m-%d %H:%M %Z}:"
            f" {safe(', '.join(m.components))} ({safe(m.title)}; their checks open no incidents)"
            for m in under
        ]
        rows = [
            {
                "id": i.id,
                "severity": i.severity,
                "status": i.status,
                "title": i.title,
                "opened_at": i.opened_at,
            }
            for i in open_incidents
        ]
    if as_json:
        print_json(
            {
                "alerts": [
                    {
                        "rule": a.rule,
                        "state": a.state,
                        "level": a.level,
                        "summary": a.summary,
                        "since": a.started_at,
                        "incident_id": a.incident_id,
                    }
                    for a in firing
                ],
                "incidents": rows,
                "maintenance": quiet,
                "maintenance_due": [
                    {"routine": c.routine, "run_id": c.run_id, "steps": len(c.steps)}
                    for c in checklists
                ],
                "checks": [
                    {
                        "name": c.name,
                        "state": c.state,
                        "failing": c.failing,
                        "summary": c.summary,
                        "at": c.at,
                        "uptime_24h": day[c.name].uptime if c.name in day else None,
                        "stale": c.name in stale,
                        "evaluated": c.state != "error",
                    }
                    for c in checks
                ],
            }
        )
        return
    _print_alerts(firing, now, everything, app_url)
    console.print(f"[bold]incidents[/]: {len(rows)} open")
    for row in rows:
        title = _shown_summary(str(row["title"]), app_url)
        console.print(f"  #{row['id']} {row['severity']} {row['status']}: {safe(title)}")
    for line in said:
        console.print(line)
    _say_due(checklists)
    if not checks:
        console.print("no check has run yet (start: opsbook serve)")
        return
    if stale:
        newest = max(c.at for c in checks)
        console.print(
            f"[bold red]{len(stale)} of {len(checks)} checks have no fresh result (newest "
            f"{relative(newest, now)}): is opsbook serve running?[/]"
        )
    _say_unevaluated([c.name for c in checks if c.state == "error"])
    calm = [c for c in checks if not c.failing and c.state == "ok" and c.name not in stale]
    listed = checks if everything else [c for c in checks if c not in calm]
    for c in listed:
        _say_check(c, stale=c.name in stale, uptime=day.get(c.name), now=now, app_url=app_url)
    if calm and not everything:
        _say_calm(calm)


def _say_check(
    check: CheckState, *, stale: bool, uptime: Any, now: dt.datetime, app_url: str
) -> None:
    """A check in two lines, not a table row: its name whole on the first (60 characters
    leave a table's other columns no room at 80), what it saw wrapped under it."""
    console.print(Text.assemble(literal(check.name, "bold"), "  ", _state_cell(check)))
    seen = [relative(check.at, now)]
    if uptime is not None:
        seen.append(f"uptime 24h {percent(uptime.uptime)}")
    console.print(
        Text.assemble(
            "    ",
            ", ".join(seen),
            (" (stale)", "bold red") if stale else "",
            ": ",
            literal(_shown_summary(check.summary, app_url)),
        )
    )


def _say_calm(calm: list[CheckState]) -> None:
    """Healthy checks, one line per kind: a healthy system fits one screen (the table,
    with --all, shows each one's last result)."""
    kinds: dict[str, list[str]] = {}
    for c in calm:
        kinds.setdefault(c.kind, []).append(c.name)
    for kind, names in sorted(kinds.items()):
        more = f", ... {len(names) - NAMES_SHOWN:,} more" if len(names) > NAMES_SHOWN else ""
        console.print(
            Text.assemble(
                ("ok", "green"),
                f" {kind} ({len(names):,}): ",
                literal(", ".join(names[:NAMES_SHOWN])),
                more,
            )
        )
    console.print("(opsbook status --all: every check's last result)", style="dim")


def _shown_summary(summary: str, app_url: str | None) -> str:
    """The app's own URLs as their paths (`/api/health`): the host is the configured
    app's, and a whole URL would take the width the words need."""
    if not app_url:
        return summary
    return summary.replace(app_url.rstrip("/") + "/", "/")


def _say_due(checklists: list[Checklist]) -> None:
    """Routine maintenance waiting for a person: one line until it is done."""
    if not checklists:
        return
    each = ", ".join(
        f"{c.routine} ({len(c.steps)} step{'s' if len(c.steps) != 1 else ''})" for c in checklists
    )
    count = len(checklists)
    console.print(
        f"[bold yellow]{count} maintenance check{'s' if count != 1 else ''} due[/]: {safe(each)},"
        " see opsbook maintenance due"
    )


def _state_cell(check: CheckState) -> Text | str:
    if check.state == "error":
        return literal("error (not evaluated)", "bold magenta")
    return literal(f"{check.state} (failing)", "bold red") if check.failing else check.state


def _say_unevaluated(names: list[str]) -> None:
    """Checks opsbook could not evaluate open no incident (a wrong URL or query is not an
    outage), so this line is where they are seen: above the table, not inside it."""
    if not names:
        return
    console.print(
        f"[bold magenta]{len(names)} {'check' if len(names) == 1 else 'checks'} could not be"
        f" evaluated (fix the check; no incident is opened): {safe(', '.join(names))}[/]"
    )
