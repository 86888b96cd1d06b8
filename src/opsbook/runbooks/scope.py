"""What a step sees and how its outcome is judged: the `app` variables templates read,
and the first `expect:` that does not hold, said with the values it saw."""

from __future__ import annotations

import re
from typing import Any

from opsbook import expressions
from opsbook.config import Config
from opsbook.incidents import service as incidents
from opsbook.runbooks.model import Step
from opsbook.store import Store

_PATHS = re.compile(r"\b(?:output|steps|params)(?:\.[A-Za-z_]\w*|\[\d+\]|\['[^']*'\])+")


def app_variables(config: Config) -> dict[str, Any]:
    """What runbooks may read of the config: the watched app, never a secret."""
    app = config.app
    return {
        "name": app.name,
        "url": app.url.rstrip("/"),
        "health_path": app.health_path,
        "version_path": app.version_path,
        "expected_commit": app.expected_commit or "",
        "smoke_paths": [smoke.path for smoke in app.smoke_paths],
    }


def incident_variables(store: Store | None, incident_id: int | None) -> dict[str, Any]:
    """What runbooks may read of the run's incident: what people reported ("symptoms"),
    so a step can come when the symptoms point at it. Empty values without an incident."""
    if store is None or incident_id is None:
        return {"id": incident_id, "title": "", "symptoms": [], "component": ""}
    with store.reading() as session:
        incident = incidents.get(session, incident_id=incident_id)
        return {
            "id": incident.id,
            "title": incident.title,
            "symptoms": list(incident.symptoms or []),
            "component": incident.component or "",
        }


def unmet_expectation(step: Step, context: dict[str, Any], output: dict[str, Any]) -> str | None:
    """Why the step failed its expectations (a shell step expects exit 0, an HTTP step a
    status under 400, unless it says otherwise), or None when they all hold."""
    checks = step.expectations
    if not checks and step.run is not None:
        checks = ["output.exit_code == 0"]
    if not checks and step.http is not None:
        checks = ["output.status < 400"]
    scope = {**context, "output": output}
    for check in checks:
        try:
            if expressions.evaluate(check, scope):
                continue
            values = _values(check, scope)
        except expressions.ExpressionError as exc:
            return f"expect {check}: could not be evaluated ({exc})"
        failure = f"expected {check}" + (f", but {values}" if values else "")
        return _in_words(step, scope, failure)
    return None


def _in_words(step: Step, scope: dict[str, Any], failure: str) -> str:
    """The step's own words for the failure (`unmet`), then the expression as evidence."""
    if step.unmet is None:
        return failure
    try:
        said = str(expressions.render(step.unmet, scope))
    except expressions.ExpressionError:
        said = step.unmet
    return f"{said} ({failure})"


def _values(check: str, scope: dict[str, Any]) -> str:
    shown = []
    for path in dict.fromkeys(_PATHS.findall(check)):
        try:
            shown.append(f"{path} = {expressions.evaluate(path, scope)!r}")
        except expressions.ExpressionError:
            shown.append(f"{path} is undefined")
    return "; ".join(shown)
