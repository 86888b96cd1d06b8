"""Dry-run: what each step would do, rendered as far as it can be without acting."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opsbook import expressions
from opsbook.config import Config
from opsbook.config.secrets import Masker
from opsbook.runbooks.actions import Registry
from opsbook.runbooks.inputs import prepare
from opsbook.runbooks.model import Runbook, Step
from opsbook.runbooks.scope import app_variables, incident_variables

# Who does a step, as `runbook show` marks it: the seed's checklist with opsbook's part shown.
MARKS = {
    "auto": "opsbook does it",
    "asks": "opsbook does it once you approve (--yes)",
    "you": "yours to do; the run goes on",
    "pauses": "yours to do; the run waits until you confirm it (resume --done)",
}


@dataclass(frozen=True)
class PlannedStep:
    position: int
    id: str
    title: str
    kind: str
    does: str
    when: str | None
    expect: list[str]
    confirm: bool
    # A manual step that gates what follows: the run pauses here until a person confirms.
    pauses: bool
    on_fail: str
    note: str | None
    # A key of MARKS, and what an automated step runs: an action's name (db.status), sql,
    # http, command or notify; empty for a person's step.
    mark: str
    runs: str


def plan(
    runbook: Runbook,
    params: dict[str, Any],
    registry: Registry,
    *,
    app: dict[str, Any],
    masker: Masker,
) -> list[PlannedStep]:
    """What each step would do, with every secret (config values, secret parameters) masked."""
    context = {
        "params": params,
        "steps": {},
        "incident": incident_variables(None, None),
        "app": app,
    }
    return [_planned(i, step, context, registry, masker) for i, step in enumerate(runbook.steps)]


def _planned(
    position: int, step: Step, context: dict[str, Any], registry: Registry, masker: Masker
) -> PlannedStep:
    confirm = step.confirm or _asks(step, context, registry)
    return PlannedStep(
        position=position,
        id=step.id,
        title=step.title,
        kind=step.kind,
        does=masker.text(_describe(step, context, registry)),
        when=step.when,
        expect=step.expectations,
        confirm=confirm,
        pauses=step.pauses,
        on_fail=step.on_fail,
        note=step.note,
        mark=_mark(step, confirm),
        runs=_runs(step),
    )


def _mark(step: Step, confirm: bool) -> str:
    if step.manual is not None:
        return "pauses" if step.pauses else "you"
    return "asks" if confirm else "auto"


def _runs(step: Step) -> str:
    if step.uses is not None:
        return step.uses
    return {"manual": "", "run": "command"}.get(step.kind, step.kind)


def _asks(step: Step, context: dict[str, Any], registry: Registry) -> bool:
    """Whether the step will ask a person first: a destructive action, or one whose inputs
    move an incident or speak publicly (an `incident.update` with a status)."""
    if step.uses is None or step.uses not in registry:
        return False
    action = registry.get(step.uses)
    try:
        _, inputs = prepare(step, context, registry)
    except (expressions.ExpressionError, ValueError):
        # Its inputs wait on an earlier step's output: an action that may ask (one whose
        # question depends on its inputs) is shown as asking, never as running unasked.
        return action.may_ask
    return action.destructive or action.asks(inputs)


def _render(value: Any, context: dict[str, Any]) -> Any:
    try:
        return expressions.render(value, context)
    except expressions.ExpressionError:
        return value  # depends on an earlier step's output: shown as written


def _describe(step: Step, context: dict[str, Any], registry: Registry) -> str:
    if step.manual is not None:
        return f"ask a person: {_render(step.manual, context)}"
    if step.sql is not None:
        mode = "WRITES" if step.writes else "read-only"
        params = _render(step.sql_params, context)
        suffix = f"\nwith {params}" if params else ""
        return f"SQL ({mode}):\n{step.sql.strip()}{suffix}"
    if step.http is not None:
        request = _render(step.http.model_dump(by_alias=True, exclude_none=True), context)
        body = f" with JSON {request['json']}" if request.get("json") is not None else ""
        return f"{request.get('method', 'GET')} {request['url']}{body}"
    if step.notify is not None:
        rendered = _render(step.notify.model_dump(), context)
        return f"notify {rendered['channel']}: {rendered['message']}"
    # Shell commands and actions are described from the very inputs a run would use.
    try:
        action, inputs = prepare(step, context, registry)
        return action.describe(inputs)
    except (expressions.ExpressionError, ValueError):
        return f"$ {step.run}" if step.run is not None else f"{step.uses} with {step.with_}"


def refusals(
    runbook: Runbook, params: dict[str, Any], registry: Registry, *, config: Config
) -> list[str]:
    """Steps the config cannot serve (a notice to a channel that does not exist), each as
    `step ID: why`, found before any step acts. A step whose inputs depend on an earlier
    step's output is checked when it runs."""
    context = {
        "params": params,
        "steps": {},
        "incident": incident_variables(None, None),
        "app": app_variables(config),
    }
    found = []
    for step in runbook.steps:
        if step.manual is not None:
            continue
        try:
            action, inputs = prepare(step, context, registry)
        except (expressions.ExpressionError, ValueError):
            continue
        if action.check is None:
            continue
        try:
            action.check(config, inputs)
        except ValueError as exc:
            found.append(f"step {step.id}: {exc}")
    return found
