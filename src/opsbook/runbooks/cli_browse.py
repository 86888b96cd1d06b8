"""`opsbook runbook list|show|runs|suggest`: reading runbooks and past runs."""

from __future__ import annotations

from typing import Any

import typer
from rich.text import Text
from sqlalchemy import select

from opsbook.bounds import MAX_ID
from opsbook.console import Table, console, fail, literal, print_json, safe, typed
from opsbook.context import app_context
from opsbook.incidents import service as incidents
from opsbook.registry import default_registry
from opsbook.runbooks import loader
from opsbook.runbooks import params as run_params
from opsbook.runbooks.cli_common import JSON, config_masker, incident_arg, load
from opsbook.runbooks.model import Runbook
from opsbook.runbooks.params import secret_values, without_secret_defaults
from opsbook.runbooks.plan import MARKS, PlannedStep, plan
from opsbook.runbooks.processes import shown_status
from opsbook.runbooks.records import RunRecord
from opsbook.runbooks.scope import app_variables
from opsbook.runbooks.suggest import suggest_for


def list_(ctx: typer.Context, as_json: bool = JSON) -> None:
    """List the runbooks opsbook knows: built-in and the config's folders.

    Example: opsbook runbook list
    """
    context = app_context(ctx)
    registry = default_registry()
    rows: list[dict[str, Any]] = []
    for source in loader.discover(context.config()).values():
        try:
            book = loader.load_runbook(source.path, registry=registry)
            rows.append(
                {
                    "name": book.name,
                    "title": book.title,
                    "severity": book.severity,
                    "steps": len(book.steps),
                    "builtin": source.builtin,
                    "path": str(source.path),
                    "valid": True,
                }
            )
        except loader.RunbookError as exc:
            rows.append(
                {
                    "name": source.name,
                    "title": str(exc.issues[0]),
                    "severity": [],
                    "steps": 0,
                    "builtin": source.builtin,
                    "path": str(source.path),
                    "valid": False,
                }
            )
    if as_json:
        print_json(rows)
        return
    table = Table(typed("runbook"), "title", "severity", "steps", "from")
    for row in rows:
        title = row["title"] if row["valid"] else literal(f"invalid: {row['title']}", "red")
        table.add_row(
            row["name"],
            title,
            ",".join(row["severity"]),
            str(row["steps"]),
            "built-in" if row["builtin"] else row["path"],
        )
    console.print(table)


def show(
    ctx: typer.Context, name: str = typer.Argument(..., metavar="NAME"), as_json: bool = JSON
) -> None:
    """Show a runbook as a checklist: symptoms, parameters and what each step does.

    Example: opsbook runbook show p1-db-connections
    """
    registry = default_registry()
    context = app_context(ctx)
    runbook, path = load(context, name, registry)
    defaults = {k: p.default for k, p in runbook.parameters.items()}
    values = run_params.resolve(runbook, {}) if not _required(runbook) else defaults
    steps = plan(
        runbook,
        values,
        registry,
        app=app_variables(context.config()),
        masker=config_masker(context).extend(secret_values(runbook, defaults)),
    )
    if as_json:
        print_json(
            {
                "runbook": without_secret_defaults(runbook.model_dump(mode="json", by_alias=True)),
                "path": path,
                "steps": [s.__dict__ for s in steps],
            }
        )
        return
    console.print(
        f"[bold]{safe(runbook.title)}[/]  ({runbook.name}; "
        f"{', '.join(runbook.severity) or 'any severity'})"
    )
    if runbook.description:
        console.print(literal(runbook.description.strip(), newlines=True))
    if runbook.symptoms:
        console.print("\n[bold]Symptoms[/]:")
        for symptom in runbook.symptoms:
            console.print(literal(f"- {symptom}"))
    if runbook.parameters:
        console.print("\n[bold]Parameters[/]:")
        for key, spec in runbook.parameters.items():
            default = (
                "required"
                if spec.required
                else "optional"
                if spec.default is None
                else "default ***"
                if spec.type == "secret"
                else f"default {spec.default}"
            )
            console.print(literal(f"- {key} ({spec.type}, {default}): {spec.description}"))
    console.print("\n[bold]Steps[/]:")
    for mark, meaning in MARKS.items():
        console.print(Text.assemble("  ", (f"{mark:<7}", MARK_STYLES[mark]), meaning))
    for step in steps:
        _show_step(step)


# Where a step's lines start: after "16. " and the mark column ("pauses ").
INDENT = " " * 12
MARK_STYLES = {"auto": "green", "asks": "yellow", "you": "cyan", "pauses": "bold magenta"}


def _show_step(step: PlannedStep) -> None:
    """One step as a line of the seed's checklist, marked with who does it, then what it
    does (an automated step's action by name), its condition, expectations and note."""
    console.print()
    _hanging(
        Text.assemble(f"{step.position + 1:>2}. ", (f"{step.mark:<7} ", MARK_STYLES[step.mark])),
        Text.assemble(
            literal(step.title, "bold"),
            ("  (continues on failure)" if step.on_fail == "continue" else "", "yellow"),
        ),
    )
    does = lines(step.does)
    if does and step.kind == "manual":
        does[0] = does[0].removeprefix("ask a person: ")
    elif does and step.kind == "uses" and not does[0].startswith(step.runs):
        does[0] = f"{step.runs}: {does[0]}"
    for line in does:
        _indented(line)
    if step.when:
        _indented(f"only when: {step.when}")
    for check in step.expect:
        _indented(f"expect: {check}")
    if step.note:
        for line in lines(step.note.strip()):
            _indented(f"note: {line}")


def _indented(line: str) -> None:
    _hanging(Text(INDENT), literal(line))


def _hanging(head: Text, body: Text) -> None:
    """`head` then `body`; wrapped at a terminal, the body's next lines start under its
    first (a checklist's column), while into a pipe each line stays whole, for grep."""
    wrapping = console.is_terminal if console.wrap is None else console.wrap
    if not wrapping:
        console.print(Text.assemble(head, body))
        return
    grid = Table.grid()
    grid.add_column(width=len(INDENT), no_wrap=True)
    grid.add_column()
    grid.add_row(head, body)
    console.print(grid)


def lines(text: str) -> list[str]:
    """Split on line breaks only (not str.splitlines' CR, form feed or U+2028): a control
    character inside a value stays one visible escape instead of starting a line."""
    return text.split("\n") if text else []


def _required(runbook: Runbook) -> bool:
    return any(p.required and p.default is None for p in runbook.parameters.values())


def runs(
    ctx: typer.Context,
    limit: int = typer.Option(20, "--limit", min=1, max=MAX_ID),
    as_json: bool = JSON,
) -> None:
    """List recent runs, newest first.

    Example: opsbook runbook runs --limit 5
    """
    with app_context(ctx).store().session() as session:
        found = list(session.scalars(select(RunRecord).order_by(RunRecord.id.desc()).limit(limit)))
    if as_json:
        print_json(
            [
                {
                    "id": r.id,
                    "runbook": r.runbook,
                    "status": shown_status(r),
                    "incident_id": r.incident_id,
                    "actor": r.actor,
                    "started_at": r.started_at,
                    "finished_at": r.finished_at,
                }
                for r in found
            ]
        )
        return
    table = Table(typed("run"), typed("runbook"), "status", "incident", "by", "started (UTC)")
    for r in found:
        table.add_row(
            str(r.id),
            r.runbook,
            shown_status(r),
            f"#{r.incident_id}" if r.incident_id else "",
            r.actor,
            r.started_at.strftime("%Y-%m-%d %H:%M:%S"),
        )
    console.print(table if found else "no runs yet")


def suggest(
    ctx: typer.Context,
    incident: str = typer.Option(..., "--incident", help="The incident to match."),
    as_json: bool = JSON,
) -> None:
    """Rank runbooks by an incident's symptoms, component and severity.

    Example: opsbook runbook suggest --incident 12
    """
    incident_id = incident_arg(incident)
    assert incident_id is not None
    context = app_context(ctx)
    try:
        with context.store().session() as session:
            found = incidents.get(session, incident_id=incident_id)
            title, symptoms = found.title, list(found.symptoms)
            component, severity = found.component, found.severity
    except incidents.IncidentError as exc:
        fail(str(exc))
    ranked = suggest_for(
        context.config(), title=title, symptoms=symptoms, component=component, severity=severity
    )
    if as_json:
        print_json([s.__dict__ for s in ranked])
        return
    if not ranked:
        console.print(f"no runbook matches incident #{incident_id}")
        return
    table = Table(typed("runbook"), "title", "score", "why")
    for s in ranked[:5]:
        table.add_row(s.runbook, s.title, f"{s.score:g}", "; ".join(s.reasons))
    console.print(table)
