"""One guard for every command that changes or destroys: plan, show, ask, act.

The plan is worked out first and reads only; a person sees it; the act runs only with
`--yes` or a yes typed at a terminal; the act itself writes the audit log (the domain's
service function does, the same whichever door called it). Without a terminal and without
`--yes` a command is a dry run and says how to go ahead; a "no" typed at the terminal
stops with exit 1 and nothing changed. Any domain's CLI uses it: `db idle --terminate`,
`db kill`, `db archive`, `db views refresh`, `db migrations apply`, and next restore and
rollback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

import typer

from opsbook.console import Exit, err, fail, literal, visible

Plan = TypeVar("Plan")
Result = TypeVar("Result")


@dataclass(frozen=True)
class Outcome(Generic[Result]):
    """What the guard let happen: the act's result, or None and why not."""

    result: Result | None
    acted: bool = False
    # Only shown: a dry run was asked for, or the act was not approved.
    dry_run: bool = False


def approved(*, yes: bool, to: str) -> bool:
    """True to act: `--yes`, or a yes at a terminal. Without a terminal it says how to go
    ahead and returns False; a "no" at the terminal stops the command (exit 1)."""
    if yes:
        return True
    if not sys.stdin.isatty():
        err.print(literal(f"dry run: pass --yes to {to}"))
        return False
    if typer.confirm(visible(f"{to[:1].upper()}{to[1:]}?"), default=False):
        return True
    fail("nothing was changed", Exit.FOUND)


def guarded(
    plan: Plan,
    *,
    act: Callable[[Plan], Result],
    to: str,
    yes: bool = False,
    show: Callable[[Plan], None] | None = None,
    needed: bool = True,
    dry_run: bool = False,
    ask: bool = True,
) -> Outcome[Result]:
    """Show `plan`, then act on it when no dry run was asked for, there is something to do
    (`needed`) and the act is approved (`ask` False: it needs no approval). `to` says what
    the act does, for the question and the dry run's hint: "move the rows"."""
    if show is not None:
        show(plan)
    if dry_run:
        return Outcome(None, dry_run=True)
    if not needed:
        return Outcome(None)
    if ask and not approved(yes=yes, to=to):
        return Outcome(None, dry_run=True)
    return Outcome(act(plan), acted=True)
