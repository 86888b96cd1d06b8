"""`opsbook check`: run the configured checks once, say what each saw, and store it as
serve stores a scheduled run's results (so `opsbook status` shows it next)."""

from __future__ import annotations

import asyncio
import difflib

import typer

from opsbook.config import Config
from opsbook.config.checks import Check
from opsbook.console import Exit, Table, console, fail, literal, print_json
from opsbook.context import app_context
from opsbook.watch import service
from opsbook.watch.result import CheckResult
from opsbook.watch.runner import run_checks

_STYLE = {"ok": "green", "degraded": "yellow", "down": "bold red", "error": "bold magenta"}


def choose_checks(config: Config, names: list[str] | None) -> list[Check]:
    """The named checks (all that are on when none is named); a typo gets a did-you-mean
    and exit 2, and so does a check that is off until its secret is set."""
    by_name = {c.name: c for c in config.checks}
    chosen = []
    for name in names or [n for n in by_name if config.off_reason("checks", n) is None]:
        if name not in by_name:
            close = difflib.get_close_matches(name, list(by_name), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            fail(f"no check named {name!r}{hint}")
        off = config.off_reason("checks", name)
        if off is not None:
            fail(f"the check {name!r} is off: {off}")
        chosen.append(by_name[name])
    if not chosen:
        fail("the config has no checks" if not by_name else "every check is off (see config check)")
    return chosen


def check(
    ctx: typer.Context,
    names: list[str] = typer.Argument(None, metavar="[NAME]..."),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """Run checks once (all, or the named ones) and store what they saw, as serve does;
    exit 1 if any is not ok.

    Example: opsbook check health webhook-clerk
    """
    context = app_context(ctx)
    config = context.config(required=True)
    chosen = choose_checks(config, names)
    store = context.store()
    results = asyncio.run(run_checks(config, chosen, clock=context.clock, store=store))
    _print(results, as_json=as_json)
    # Printed first: a responder sees what the checks saw even when the store then fails.
    # Stored like serve's results: a failing check's alert moves here as it would there.
    service.process_results(store, config, results, clock=context.clock)
    if any(not r.ok for r in results):
        raise typer.Exit(Exit.FOUND)


def _print(results: list[CheckResult], *, as_json: bool) -> None:
    if as_json:
        print_json([r.as_dict() for r in results])
        return
    table = Table("check", "kind", "state", "what it saw", "ms")
    for r in results:
        table.add_row(
            r.name,
            r.kind,
            literal(r.state, _STYLE[r.state]),
            r.summary,
            f"{r.latency_ms:.0f}" if r.latency_ms is not None else "",
        )
    console.print(table)
