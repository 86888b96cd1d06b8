"""`opsbook runbook ...`: list, show, run, dry-run, resume and suggest runbooks."""

from __future__ import annotations

import sys
from typing import Any

import typer
from sqlalchemy import select

from opsbook.bounds import MAX_ID, parse_id
from opsbook.config.secrets import Masker, secrets_of
from opsbook.console import Exit, Table, console, err, fail, literal, print_json, safe, visible
from opsbook.context import AppContext, app_context
from opsbook.incidents import service as incidents
from opsbook.registry import default_registry
from opsbook.runbooks import loader
from opsbook.runbooks import params as run_params
from opsbook.runbooks.actions import Registry
from opsbook.runbooks.engine import Engine, Interaction
from opsbook.runbooks.model import Runbook, Step
from opsbook.runbooks.params import secret_values
from opsbook.runbooks.plan import plan
from opsbook.runbooks.processes import Interrupted, RunError, shown_status, stop_on_sigterm
from opsbook.runbooks.records import RunRecord, StepRecord
from opsbook.runbooks.scope import app_variables
from opsbook.runbooks.suggest import suggest_for
from opsbook.store.audit import default_actor

app = typer.Typer(
    help="Executable runbooks: dry-run, run, resume; every step recorded.", no_args_is_help=True
)
_JSON = typer.Option(False, "--json", help="Print as JSON.")
_MARK = {
    "succeeded": "[green]ok[/]",
    "failed": "[bold red]FAILED[/]",
    "skipped": "[dim]skipped[/]",
    "waiting": "[yellow]waiting for a person[/]",
    "refused": "[bold yellow]not confirmed[/]",
}


def _load(context: AppContext, name: str, registry: Registry) -> tuple[Runbook, str]:
    try:
        source = loader.find(context.config(), name)
    except KeyError as exc:
        fail(str(exc.args[0]))
    try:
        return loader.load_runbook(source.path, registry=registry), str(source.path)
    except loader.RunbookError as exc:
        for issue in exc.issues:
            err.print(literal(issue))
        fail(f"runbook {name} does not validate; nothing was run")


class ConsoleReporter:
    """Step progress; on stderr when stdout carries --json, so the JSON stays clean."""

    def __init__(self, total: int, *, quiet_stdout: bool = False) -> None:
        self.total = total
        self.out = err if quiet_stdout else console

    def step_started(self, position: int, step: Step, attempt: int, in_flight: bool) -> None:
        if in_flight:
            self.out.print(
                f"[yellow]step {step.id} was in flight when the run stopped "
                f"(attempt {attempt - 1}); retrying[/]"
            )
        self.out.print(f"[{position + 1}/{self.total}] {safe(step.title)} ...")

    def step_finished(self, position: int, step: Step, record: StepRecord) -> None:
        took = record.output.get("duration_ms")
        details = []
        if isinstance(record.output.get("rowcount"), int) and record.output["rowcount"] >= 0:
            details.append(f"{record.output['rowcount']} rows")
        elif isinstance(record.output.get("count"), int):
            details.append(f"count {record.output['count']}")
        if isinstance(took, int | float):
            details.append(f"{took:.0f} ms")
        mark = _MARK.get(record.status, safe(record.status))
        suffix = f" ({', '.join(details)})" if details else ""
        self.out.print(f"[{position + 1}/{self.total}] {safe(step.title)}: {mark}{suffix}")
        if record.status == "waiting":
            instruction = record.inputs.get("instruction", "")
            self.out.print(literal(f"    to do: {instruction}", newlines=True))
        elif record.error and record.status != "skipped":
            self.out.print(literal(f"    {record.error}", newlines=True))


def _engine(ctx: typer.Context, registry: Registry, total: int, as_json: bool) -> Engine:
    context = app_context(ctx)
    return Engine(
        store=context.store(),
        config=context.config(),
        registry=registry,
        clock=context.clock,
        actor=default_actor(),
        reporter=ConsoleReporter(total, quiet_stdout=as_json),
    )


def _interaction(yes: bool, done: list[str]) -> Interaction:
    interactive = sys.stdin.isatty()
    return Interaction(
        yes=yes,
        interactive=interactive,
        ask=lambda q: typer.confirm(visible(q, newlines=True), default=False),
        done=set(done),
    )


@app.command("list")
def list_(ctx: typer.Context, as_json: bool = _JSON) -> None:
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
    table = Table("runbook", "title", "severity", "steps", "from")
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


@app.command("show")
def show(
    ctx: typer.Context, name: str = typer.Argument(..., metavar="NAME"), as_json: bool = _JSON
) -> None:
    """Show a runbook as a checklist: symptoms, parameters and what each step does.

    Example: opsbook runbook show p1-db-connections
    """
    registry = default_registry()
    context = app_context(ctx)
    runbook, path = _load(context, name, registry)
    defaults = {k: p.default for k, p in runbook.parameters.items()}
    values = run_params.resolve(runbook, {}) if not _required(runbook) else defaults
    steps = plan(
        runbook, values, registry, app=app_variables(context.config()), masker=_masker(context)
    )
    if as_json:
        print_json(
            {
                "runbook": runbook.model_dump(mode="json", by_alias=True),
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
                else f"default {spec.default}"
            )
            console.print(literal(f"- {key} ({spec.type}, {default}): {spec.description}"))
    console.print("\n[bold]Steps[/]:")
    for step in steps:
        flags = [
            f
            for f, on in (
                ("needs confirmation", step.confirm),
                ("continues on failure", step.on_fail == "continue"),
            )
            if on
        ]
        console.print(
            f"\n{step.position + 1}. [bold]{safe(step.title)}[/]"
            + (f"  [yellow]({', '.join(flags)})[/]" if flags else "")
        )
        if step.when:
            console.print(literal(f"   only when: {step.when}"))
        for line in _lines(step.does):
            console.print(literal(f"   {line}"))
        for check in step.expect:
            console.print(literal(f"   expect: {check}"))
        if step.note:
            console.print(literal(f"   note: {step.note.strip()}", newlines=True))


def _lines(text: str) -> list[str]:
    """Split on line breaks only (not str.splitlines' CR, form feed or U+2028): a control
    character inside a value stays one visible escape instead of starting a line."""
    return text.split("\n") if text else []


def _required(runbook: Runbook) -> bool:
    return any(p.required and p.default is None for p in runbook.parameters.values())


@app.command("run")
def run(
    ctx: typer.Context,
    name: str = typer.Argument(..., metavar="NAME"),
    incident: str | None = typer.Option(
        None, "--incident", help="Write each step to its timeline."
    ),
    param: list[str] = typer.Option([], "--param", help="name=value (repeatable)."),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Show what would happen; change nothing."
    ),
    yes: bool = typer.Option(False, "--yes", help="Approve the steps that need confirmation."),
    as_json: bool = _JSON,
) -> None:
    """Run a runbook (or dry-run it). Killed or stopped, it can be resumed.

    Example: opsbook runbook run p1-db-connections --incident 12 --param idle_minutes=15
    """
    context = app_context(ctx)
    registry = default_registry()
    runbook, path = _load(context, name, registry)
    try:
        values = run_params.resolve(runbook, run_params.parse_assignments(param))
    except run_params.ParamError as exc:
        fail(str(exc))
    incident_id = _incident_id(incident)
    if dry_run:
        masker = _masker(context).extend(secret_values(runbook, values))
        steps = plan(runbook, values, registry, app=app_variables(context.config()), masker=masker)
        if as_json:
            print_json(
                {
                    "runbook": runbook.name,
                    "dry_run": True,
                    "params": masker.value(values),
                    "steps": [s.__dict__ for s in steps],
                }
            )
            return
        console.print(f"[bold]dry run[/] of {runbook.name}: nothing will be changed")
        for step in steps:
            console.print(
                f"\n{step.position + 1}. {safe(step.title)}"
                + ("  [yellow](needs confirmation)[/]" if step.confirm else "")
            )
            if step.when:
                console.print(literal(f"   only when: {step.when}"))
            for index, line in enumerate(_lines(step.does)):
                console.print(literal(f"   would: {line}" if index == 0 else f"          {line}"))
        return
    engine = _engine(ctx, registry, len(runbook.steps), as_json)
    try:
        run_id = engine.start(runbook, source=path, params=values, incident_id=incident_id)
    except incidents.IncidentError as exc:
        fail(str(exc))
    if not as_json:
        console.print(
            f"run {run_id}: {runbook.name}"
            + (f" for incident #{incident_id}" if incident_id else "")
        )
    outcome = _execute(engine, run_id, runbook, _interaction(yes, []), values)
    _report(ctx, run_id, outcome, as_json)


def _masker(context: AppContext) -> Masker:
    return Masker(secrets_of(context.config()))


def _execute(
    engine: Engine,
    run_id: int,
    runbook: Runbook,
    interaction: Interaction,
    values: dict[str, Any],
) -> str:
    """Run the steps; on SIGTERM the step in flight ends and the run says how to resume."""
    try:
        with stop_on_sigterm():
            return engine.execute(run_id, runbook, interaction, values)
    except Interrupted:
        fail(
            f"run {run_id} interrupted (SIGTERM); the step in flight was ended. "
            f"Resume with: opsbook runbook resume {run_id}",
            Exit.FOUND,
        )


@app.command("resume")
def resume(
    ctx: typer.Context,
    run_id: int = typer.Argument(..., metavar="RUN_ID", min=1, max=MAX_ID),
    yes: bool = typer.Option(False, "--yes", help="Approve the steps that need confirmation."),
    done: list[str] = typer.Option([], "--done", help="Mark a manual step done (repeatable)."),
    param: list[str] = typer.Option(
        [], "--param", help="name=value for a secret parameter (never stored; repeatable)."
    ),
    as_json: bool = _JSON,
) -> None:
    """Resume a stopped, failed or waiting run; finished steps are not repeated.

    Example: opsbook runbook resume 7 --done check_vercel_status
    """
    registry = default_registry()
    context = app_context(ctx)
    probe = Engine(
        store=context.store(),
        config=context.config(),
        registry=registry,
        clock=context.clock,
        actor=default_actor(),
    )
    try:
        _run, runbook, values = probe.claim(run_id, secrets=run_params.parse_assignments(param))
    except (RunError, run_params.ParamError) as exc:
        fail(str(exc))
    unknown = sorted(set(done) - {s.id for s in runbook.steps})
    if unknown:
        fail(f"run {run_id} has no step {unknown[0]!r}")
    engine = _engine(ctx, registry, len(runbook.steps), as_json)
    if not as_json:
        console.print(f"resuming run {run_id}: {runbook.name}")
    outcome = _execute(engine, run_id, runbook, _interaction(yes, done), values)
    _report(ctx, run_id, outcome, as_json)


def _incident_id(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return parse_id(value, "an incident id")
    except ValueError as exc:
        fail(f"--incident {exc}")


def _run_json(run: RunRecord, steps: list[StepRecord]) -> dict[str, Any]:
    return {
        "id": run.id,
        "runbook": run.runbook,
        "status": run.status,
        "params": run.params,
        "incident_id": run.incident_id,
        "actor": run.actor,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "steps": [
            {
                "position": s.position,
                "id": s.step_id,
                "status": s.status,
                "attempts": s.attempts,
                "inputs": s.inputs,
                "output": s.output,
                "error": s.error,
                "started_at": s.started_at,
                "finished_at": s.finished_at,
            }
            for s in steps
        ],
    }


def _report(ctx: typer.Context, run_id: int, outcome: str, as_json: bool) -> None:
    with app_context(ctx).store().session() as session:
        run = session.get(RunRecord, run_id)
        assert run is not None
        steps = list(
            session.scalars(
                select(StepRecord).where(StepRecord.run_id == run_id).order_by(StepRecord.position)
            )
        )
        data = _run_json(run, steps)
    if as_json:
        print_json(data)
    else:
        waiting = [s for s in data["steps"] if s["status"] == "waiting"]
        console.print(f"\nrun {run_id} {outcome}")
        if waiting:
            console.print(
                "[yellow]still to do by hand[/] (then: opsbook runbook resume "
                f"{run_id} --done STEP):"
            )
            for step in waiting:
                instruction = step["inputs"].get("instruction", "")
                console.print(literal(f"  - {step['id']}: {instruction}", newlines=True))
        if outcome == "refused":
            console.print(f"re-run the approval with: opsbook runbook resume {run_id} --yes")
    if outcome in ("failed", "refused"):
        raise typer.Exit(Exit.FOUND)


@app.command("runs")
def runs(
    ctx: typer.Context,
    limit: int = typer.Option(20, "--limit", min=1, max=MAX_ID),
    as_json: bool = _JSON,
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
    table = Table("run", "runbook", "status", "incident", "by", "started (UTC)")
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


@app.command("suggest")
def suggest(
    ctx: typer.Context,
    incident: str = typer.Option(..., "--incident", help="The incident to match."),
    as_json: bool = _JSON,
) -> None:
    """Rank runbooks by an incident's symptoms, component and severity.

    Example: opsbook runbook suggest --incident 12
    """
    incident_id = _incident_id(incident)
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
    table = Table("runbook", "title", "score", "why")
    for s in ranked[:5]:
        table.add_row(s.runbook, s.title, f"{s.score:g}", "; ".join(s.reasons))
    console.print(table)
