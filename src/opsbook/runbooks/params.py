"""Typed runbook parameters from `--param key=value` text."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opsbook.config.durations import DurationOutOfRange, parse_duration
from opsbook.config.secrets import MASK
from opsbook.runbooks.model import Parameter, Runbook
from opsbook.runbooks.processes import RunError


class ParamError(ValueError):
    pass


def convert(name: str, spec: Parameter, raw: Any) -> Any:
    if raw is None:
        return None
    text = str(raw).strip()
    try:
        if spec.type == "int":
            return _bounded_int(text)
        if spec.type == "float":
            return float(text)
        if spec.type == "bool":
            lowered = text.lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if spec.type == "duration":
            # Exposed to SQL and conditions as seconds.
            return parse_duration(text).total_seconds()
    except DurationOutOfRange as exc:
        raise ParamError(f"--param {name}: {exc}") from None
    except ValueError:
        raise ParamError(f"--param {name}: {raw!r} is not a {spec.type}") from None
    return text


def _bounded_int(text: str) -> int:
    """A 64-bit int, the most a SQL parameter holds; a larger one would fail mid-run."""
    if len(text.lstrip("+-")) > 19:  # and never hand int() thousands of digits
        raise ValueError(text)
    value = int(text)
    if not -(2**63) <= value < 2**63:
        raise ValueError(text)
    return value


def parse_assignments(pairs: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ParamError(f"--param {pair!r}: write it as name=value")
        found[key.strip()] = value
    return found


def resolve(runbook: Runbook, given: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults, then what was given; unknown and missing parameters are errors."""
    unknown = sorted(set(given) - set(runbook.parameters))
    if unknown:
        known = ", ".join(runbook.parameters) or "none"
        raise ParamError(
            f"{runbook.name} has no parameter {unknown[0]!r} (its parameters: {known})"
        )
    values: dict[str, Any] = {}
    for name, spec in runbook.parameters.items():
        raw = given.get(name, spec.default)
        if raw is None and spec.required:
            raise ParamError(f"{runbook.name} needs --param {name}=... ({spec.description})")
        values[name] = convert(name, spec, raw)
    return values


def secret_values(runbook: Runbook, params: Mapping[str, Any]) -> list[str]:
    """The values of the runbook's `type: secret` parameters: masked wherever they go."""
    return [
        str(params[name])
        for name, spec in runbook.parameters.items()
        if spec.type == "secret" and params.get(name) not in (None, "", MASK)
    ]


def resumed(
    run_id: int, runbook: Runbook, stored: dict[str, Any], given: Mapping[str, str]
) -> dict[str, Any]:
    unknown = sorted(set(given) - set(runbook.parameters))
    if unknown:
        raise RunError(f"run {run_id}'s runbook has no parameter {unknown[0]!r}")
    for name, raw in given.items():
        try:
            stored[name] = convert(name, runbook.parameters[name], raw)
        except ParamError as exc:
            raise RunError(str(exc)) from None
    missing = [name for name, value in stored.items() if value == MASK]
    if missing:
        raise RunError(
            f"run {run_id}'s parameter {missing[0]!r} is secret and was never stored: "
            f"give it again with --param {missing[0]}=..."
        )
    return stored


def without_secret_defaults(definition: dict[str, Any]) -> dict[str, Any]:
    """A dumped runbook with the defaults of its secret parameters masked, for storing
    and showing: a default is a value like any other."""
    for spec in definition.get("parameters", {}).values():
        if spec.get("type") == "secret" and spec.get("default") not in (None, ""):
            spec["default"] = MASK
    return definition
