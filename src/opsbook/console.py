"""How every command speaks: Rich for people, `--json` for machines, one meaning per exit code."""

from __future__ import annotations

import datetime as dt
import json
from enum import IntEnum
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

console = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class Exit(IntEnum):
    OK = 0
    FOUND = 1  # a check failed or something needs attention
    BAD_INPUT = 2


def fail(message: str, code: Exit = Exit.BAD_INPUT) -> NoReturn:
    """Say what is wrong on stderr and stop with the matching exit code. The message is
    not markup: it may quote what a user or a server wrote, such as '[/]'."""
    err.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(int(code))


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return str(value)


def print_json(data: Any) -> None:
    """Machine output goes to stdout unstyled, one document per command."""
    console.file.write(json.dumps(data, indent=2, default=_default, sort_keys=False) + "\n")
    console.file.flush()
