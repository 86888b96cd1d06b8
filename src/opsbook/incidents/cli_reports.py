"""`opsbook incident severities|postmortem|stats`: what incidents add up to on paper.

Registered on the incident app by cli.py.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer

from opsbook.console import (
    Table,
    console,
    duration_option,
    fail,
    literal,
    print_json,
    safe,
    visible,
)
from opsbook.context import app_context
from opsbook.incidents import service
from opsbook.incidents.cli_common import JSON, incident_number, session
from opsbook.incidents.views import local
from opsbook.store.audit import default_actor

_ACTIONS = {
    "page": "Page immediately",
    "alert": "Alert on-call",
    "ticket": "Create ticket",
    "backlog": "Backlog",
}


def severities(ctx: typer.Context, as_json: bool = JSON) -> None:
    """Print the severity table (the seed's, unless overridden in the config).

    Example: opsbook incident severities
    """
    config = app_context(ctx).config()
    levels = sorted(config.severities.items())
    if as_json:
        print_json(
            [
                {
                    "severity": name,
                    "label": level.label,
                    "action": level.action,
                    "response_sla": level.response_sla.total_seconds(),
                    "examples": level.examples,
                }
                for name, level in levels
            ]
        )
        return
    table = Table("severity", "what it means", "response SLA", "for example")
    for name, level in levels:
        sla = "Immediate" if not level.response_sla else f"< {_sla(level.response_sla)}"
        examples = literal("\n".join(visible(e) for e in level.examples), newlines=True)
        table.add_row(f"{name} {level.label}", _ACTIONS[level.action], sla, examples)
    console.print(table)


def _sla(delta: dt.timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60} hours" if minutes >= 60 and minutes % 60 == 0 else f"{minutes} minutes"


def postmortem(
    ctx: typer.Context,
    incident_id: str = typer.Argument(..., metavar="ID"),
    impact: str | None = typer.Option(None, "--impact", help="How many users were affected."),
    root_cause: str | None = typer.Option(None, "--root-cause", help="What caused it."),
    resolution: str | None = typer.Option(None, "--resolution", help="How it was fixed."),
    out: Path | None = typer.Option(None, "--out", help="Write the Markdown here."),
    publish: bool = typer.Option(False, "--publish", help="Mark it published."),
    as_json: bool = JSON,
) -> None:
    """Write the post-mortem from the timeline (the seed's template); fill its fields.

    Example: opsbook incident postmortem 12 --root-cause "Pool exhausted" --out pm.md
    """
    number = incident_number(incident_id)
    with session(ctx) as (context, config, db):
        document = service.write_postmortem(
            db,
            incident_id=number,
            actor=default_actor(),
            clock=context.clock,
            config=config,
            impact=impact,
            root_cause=root_cause,
            resolution=resolution,
            draft=out is not None,
            publish=publish,
        )
        if out is not None:
            # Inside the transaction: a file that cannot be written leaves nothing recorded,
            # neither the fields nor "drafted".
            try:
                out.write_text(document.markdown)
            except OSError as exc:
                fail(f"cannot write {out}: {exc}")
    if as_json:
        print_json(
            {
                "incident": number,
                "postmortem": document.state,
                "markdown": document.markdown,
                "file": str(out) if out else None,
            }
        )
    elif out is not None:
        console.print(f"wrote {safe(out)} (post-mortem {document.state})")
    else:
        console.print(literal(document.markdown, newlines=True))


def stats(
    ctx: typer.Context,
    since: str = typer.Option("30d", "--since", help="How far back: 7d, 30d, 1y."),
    as_json: bool = JSON,
) -> None:
    """MTTA and MTTR per severity, incident counts, overdue post-mortems.

    Example: opsbook incident stats --since 90d
    """
    window = duration_option("--since", since, minimum=dt.timedelta(seconds=1))
    with session(ctx) as (context, config, db):
        now = context.clock.now()
        report = service.report(db, config=config, since=now - window, now=now)
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
