"""How a step becomes an action's typed inputs: each field rendered by what it is.

An action's input field says how templates may enter it (`json_schema_extra`):
- `text` (the default): `{{ }}` rendered, a lone `{{ x }}` keeps x's type;
- `literal`: never rendered, and the loader refuses `{{ }}` in it: SQL text, where a
  value spliced in could become SQL (values are bound through `params` instead);
- `shell`: rendered by `expressions.render_shell`, so values reach the command through
  its environment (the action's `env` input) and never become shell text.
"""

from __future__ import annotations

from typing import Any

from opsbook import expressions
from opsbook.runbooks.actions import Action, Registry, template_kind
from opsbook.runbooks.model import Step


def action_and_raw(step: Step) -> tuple[str, dict[str, Any]]:
    """The action a step runs and its unrendered inputs, whatever the step's kind."""
    if step.sql is not None:
        return "sql.query", {"sql": step.sql, "writes": step.writes, "params": step.sql_params}
    if step.http is not None:
        return "http.request", step.http.model_dump(by_alias=True, exclude_none=True)
    if step.run is not None:
        return "shell.run", {"command": step.run}
    if step.notify is not None:
        return "notify.send", step.notify.model_dump()
    assert step.uses is not None, "manual steps have no action"
    return step.uses, dict(step.with_)


def render_inputs(action: Action, raw: dict[str, Any], context: dict[str, Any]) -> Any:
    """Render each field as its kind says and validate the result; ExpressionError or
    ValueError when a template fails or the inputs do not fit the action."""
    rendered: dict[str, Any] = {}
    env: dict[str, str] = {}
    for key, value in raw.items():
        kind = template_kind(action.inputs, key)
        if kind == "literal":
            rendered[key] = value
        elif kind == "shell" and isinstance(value, str):
            command = expressions.render_shell(value, context)
            rendered[key] = command.text
            env.update(command.env)
        else:
            rendered[key] = expressions.render(value, context)
    if env:
        given = rendered.get("env")
        rendered["env"] = {**(given if isinstance(given, dict) else {}), **env}
    return action.inputs.model_validate(rendered)


def prepare(step: Step, context: dict[str, Any], registry: Registry) -> tuple[Action, Any]:
    name, raw = action_and_raw(step)
    action = registry.get(name)
    return action, render_inputs(action, raw, context)


def literal_templates(step: Step, registry: Registry) -> list[tuple[tuple[str, ...], str]]:
    """Fields of a step that must not hold templates but do: (path, field name)."""
    if step.sql is not None:
        return [(("sql",), "sql")] if expressions.is_template(step.sql) else []
    if step.uses is None or step.uses not in registry:
        return []
    inputs = registry.get(step.uses).inputs
    return [
        (("with", key), key)
        for key, value in step.with_.items()
        if template_kind(inputs, key) == "literal" and expressions.is_template(value)
    ]
