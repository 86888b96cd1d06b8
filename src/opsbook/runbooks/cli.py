"""`opsbook runbook ...`: list, show, run, dry-run, resume and suggest runbooks."""

from __future__ import annotations

import sys
from typing import Any

import typer
from sqlalchemy import select

from opsbook.bounds import MAX_ID
from opsbook.console import Exit, console, fail, literal, print_json, safe, visible
from opsbook.context import AppContext, app_context
from opsbook.incidents import service as incidents
from opsbook.registry import default_registry
from opsbook.runbooks import cli_browse
from opsbook.runbooks import params as run_params
from opsbook.runbooks.actions import Registry
from opsbook.runbooks.cli_common import JSON, config_masker, incident_arg, load
from opsbook.runbooks.engine import Engine, Interaction
from opsbook.runbooks.model import Runbook
from opsbook.runbooks.params import secret_values
from opsbook.runbooks.plan import plan, refusals
from opsbook.runbooks.processes import Interrupted, RunError, stop_on_sigterm
from opsbook.runbooks.records import RunRecord, StepRecord
from opsbook.runbooks.reporter import ConsoleReporter
from opsbook.runbooks.scope import app_variables
from opsbook.store.audit import default_actor

app = typer.Typer(
    help="Executable runbooks: dry-run, run, resume; every step recorded.", no_args_is_help=True
)
app.command("list")(cli_browse.list_)
app.command("show")(cli_browse.show)


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
        choose=_choose,
    )


# Whole words only: "stop" or "sure" must not pass for "s" (skipped) or "y" (done).
ANSWERS = {
    "y": "y",
    "yes": "y",
    "done": "y",
    "n": "n",
    "no": "n",
    "": "n",
    "s": "s",
    "skip": "s",
    "not applicable": "s",
    "n/a": "s",
}


def choice(said: str) -> str | None:
    """y, n or s for what a person typed; None for anything else (asked again)."""
    return ANSWERS.get(" ".join(said.lower().split()))


def _choose(question: str) -> str:
    """A manual step's answer at a terminal: y, n or s (not applicable); asks again on
    anything else, since a slip must not count as done."""
    while True:
        said = str(typer.prompt(visible(question, newlines=True), default="n", show_default=False))
        answer = choice(said)
        if answer is not None:
            return answer


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
    as_json: bool = JSON,
) -> None:
    """Run a runbook (or dry-run it). Killed or stopped, it can be resumed.

    Example: opsbook runbook run p1-db-connections --incident 12 --param idle_minutes=15
    """
    context = app_context(ctx)
    registry = default_registry()
    runbook, path = load(context, name, registry)
    try:
        values = run_params.resolve(runbook, run_params.parse_assignments(param))
    except run_params.ParamError as exc:
        fail(str(exc))
    incident_id = incident_arg(incident)
    refused = refusals(runbook, values, registry, config=context.config())
    if refused:
        fail("; ".join(refused) + ("" if dry_run else "; nothing was run"))
    if dry_run:
        masker = config_masker(context).extend(secret_values(runbook, values))
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
                + (
                    "  [yellow](the run pauses here until a person confirms it)[/]"
                    if step.pauses
                    else ""
                )
            )
            if step.when:
                console.print(literal(f"   only when: {step.when}"))
            for index, line in enumerate(cli_browse.lines(step.does)):
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
    _report(ctx, run_id, runbook, outcome, as_json)


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
    as_json: bool = JSON,
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
    not_manual = [s.id for s in runbook.steps if s.id in done and s.manual is None]
    if not_manual:
        # --done says a person did a manual step; an automated one runs, it is not declared.
        fail(f"{not_manual[0]!r} is not a manual step: --done names steps a person does")
    engine = _engine(ctx, registry, len(runbook.steps), as_json)
    if not as_json:
        console.print(f"resuming run {run_id}: {runbook.name}")
    outcome = _execute(engine, run_id, runbook, _interaction(yes, done), values)
    _report(ctx, run_id, runbook, outcome, as_json)


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


def _report(ctx: typer.Context, run_id: int, runbook: Runbook, outcome: str, as_json: bool) -> None:
    with app_context(ctx).store().session() as session:
        run = session.get(RunRecord, run_id)
        assert run is not None
        steps = list(
            session.scalars(
                select(StepRecord).where(StepRecord.run_id == run_id).order_by(StepRecord.position)
            )
        )
        data = _run_json(run, steps)
    paused = paused_at(runbook, data["steps"])
    if paused:
        data["paused_at"] = paused[0]
        data["to_continue"] = continue_command(app_context(ctx), run_id, paused)
    if as_json:
        print_json(data)
    else:
        waiting = [s for s in data["steps"] if s["status"] == "waiting"]
        console.print(f"\nrun {run_id} {outcome}")
        if waiting:
            console.print("[yellow]still to do by hand[/]:")
            for step in waiting:
                instruction = step["inputs"].get("instruction", "")
                console.print(literal(f"  - {step['id']}: {instruction}", newlines=True))
        if paused:
            console.print(
                literal(
                    f"paused at {paused[0]}: the steps after it wait for a person to do it."
                    f"\nWhen it is done, continue with: {data['to_continue']}",
                    newlines=True,
                )
            )
        elif waiting:
            hint = app_context(ctx).hint(f"runbook resume {run_id} --done STEP")
            console.print(literal(f"when done: {hint}"))
        if outcome == "refused":
            hint = app_context(ctx).hint(f"runbook resume {run_id} --yes")
            console.print(literal(f"re-run the approval with: {hint}"))
    if outcome in ("failed", "refused"):
        raise typer.Exit(Exit.FOUND)


def paused_at(runbook: Runbook, steps: list[dict[str, Any]]) -> list[str]:
    """The gating step a run stopped at, then the manual steps straight after it (a person
    who has done them all says so in one resume); empty when the run is not paused."""
    status = {s["id"]: s["status"] for s in steps}
    for index, step in enumerate(runbook.steps):
        if step.pauses and status.get(step.id) == "waiting":
            after = []
            for later in runbook.steps[index + 1 :]:
                # A step with a condition may not come at all: not offered as done.
                if later.manual is None or later.when or status.get(later.id) != "pending":
                    break
                after.append(later.id)
            return [step.id, *after]
    return []


def continue_command(context: AppContext, run_id: int, step_ids: list[str]) -> str:
    done = " ".join(f"--done {s}" for s in step_ids)
    return context.hint(f"runbook resume {run_id} {done}")


app.command("runs")(cli_browse.runs)
app.command("suggest")(cli_browse.suggest)
