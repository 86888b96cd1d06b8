"""What every `opsbook db` command shares: its target database (and the one line saying
what its role cannot see), how a refusal from the service ends it, durations typed as
timedelta, and the options that mean one thing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.text import Text

from opsbook.bounds import MAX_ID
from opsbook.config.durations import ZERO
from opsbook.console import Exit, duration_option, err, fail, literal
from opsbook.context import app_context
from opsbook.postgres import service
from opsbook.postgres.diagnostics import human_seconds
from opsbook.postgres.errors import PostgresError, Stopped, Unreachable

JSON = typer.Option(False, "--json", help="Print as JSON.")
YES = typer.Option(False, "--yes", help="Act without asking.")
FORCE = typer.Option(False, "--force", help="Include superuser-owned sessions.")
INCIDENT = typer.Option(None, "--incident", min=1, max=MAX_ID, help="Note it on this incident.")
DIR = typer.Option(Path("supabase/migrations"), "--dir", help="Folder of <version>_<name>.sql.")
# How this door names the operations' inputs in their messages: as the flags typed here.
FLAGS = {
    "table": "--table",
    "to": "--to",
    "batch": "--batch",
    "function": "--function",
    "force": "pass --force to include it",
    "with_referencing": "Pass --with-referencing to archive the referencing rows with them",
    "without_backup": "pass --no-backup",
}


@contextmanager
def target(ctx: typer.Context, *, writes: bool = False) -> Iterator[service.Connection]:
    """The target database for one command. A role that cannot read other roles' sessions
    is told so in one line on stderr (stdout stays the command's own, `--json` valid). A
    refusal from the service ends the command with exit 2; an unreachable database or an
    operation stopped part-way, with exit 1."""
    try:
        with service.connect(app_context(ctx).target_url()) as conn:
            notice = service.visibility(conn=conn).notice
            if notice:
                err.print(Text.assemble(("note:", "yellow"), " ", literal(notice)))
            yield conn
    except (Unreachable, Stopped) as exc:
        fail(exc.text(FLAGS), Exit.FOUND)
    except PostgresError as exc:
        fail(exc.text(FLAGS) + ("; nothing was changed" if writes else ""))


def duration(option: str, value: str, *, minimum: dt.timedelta = ZERO) -> dt.timedelta:
    """`--older-than 10m` as a timedelta, bounded like every duration; a bad one stops the
    command (exit 2)."""
    return duration_option(option, value, minimum=minimum)


def seconds(value: float | None) -> str:
    """A number of seconds as a responder reads it; blank when unknown."""
    return "" if value is None else human_seconds(value)
