"""What every `opsbook incident ...` command shares: a transaction that turns a refusal
into exit 2, incident numbers as typed, and the command line's words for the domain's."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from sqlalchemy.orm import Session

from opsbook.bounds import parse_id
from opsbook.config import Config
from opsbook.console import fail
from opsbook.context import AppContext, app_context
from opsbook.incidents import service
from opsbook.incidents.errors import NoIncident

JSON = typer.Option(False, "--json", help="Print as JSON.")

# Operations a refusal may point to, as a person types them here.
_COMMANDS = {"resolve": "opsbook incident resolve"}


def cli_word(name: str) -> str:
    """A name in a refusal as the command line says it: `root_cause` -> `--root-cause`."""
    return _COMMANDS.get(name) or "--" + name.replace("_", "-")


@contextmanager
def session(ctx: typer.Context) -> Iterator[tuple[AppContext, Config, Session]]:
    """A transaction; any IncidentError rolls it back and exits 2 with the reason."""
    context = app_context(ctx)
    config = context.config()
    try:
        with context.store().session() as opened:
            yield context, config, opened
    except NoIncident as exc:
        fail(f"{exc}: opsbook incident list")
    except service.IncidentError as exc:
        fail(exc.worded(cli_word))


def incident_number(value: str, what: str = "an incident id") -> int:
    """`12` or `#12`, as people write incident numbers, within what the store can hold."""
    try:
        return parse_id(value, what)
    except ValueError as exc:
        fail(str(exc))
