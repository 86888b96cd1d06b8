"""What the `opsbook runbook ...` commands share: finding and loading a runbook (a bad one
stops the command with its located problems), incident numbers, the masker."""

from __future__ import annotations

import typer

from opsbook.bounds import parse_id
from opsbook.config.secrets import Masker, secrets_of
from opsbook.console import err, fail, literal
from opsbook.context import AppContext
from opsbook.runbooks import loader
from opsbook.runbooks.actions import Registry
from opsbook.runbooks.model import Runbook

JSON = typer.Option(False, "--json", help="Print as JSON.")


def load(context: AppContext, name: str, registry: Registry) -> tuple[Runbook, str]:
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


def config_masker(context: AppContext) -> Masker:
    return Masker(secrets_of(context.config()))


def incident_arg(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return parse_id(value, "an incident id")
    except ValueError as exc:
        fail(f"--incident {exc}")
