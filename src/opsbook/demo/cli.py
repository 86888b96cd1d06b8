"""`opsbook demo`: the command; what it runs is in run.py and the scenarios."""

from __future__ import annotations

import typer

from opsbook.bounds import MAX_ATTEMPTS, MAX_PORT


def demo(
    database_url: str | None = typer.Option(
        None, "--database-url", help="Use this PostgreSQL instead of a throwaway one."
    ),
    port: int | None = typer.Option(
        None, "--port", min=1, max=MAX_PORT, help="Sandbox port (default 8300 if free)."
    ),
    attempts: int = typer.Option(
        50_000, "--attempts", min=0, max=MAX_ATTEMPTS, help="Attempts to seed."
    ),
    once: bool = typer.Option(False, "--once", help="Set up, run, and stop at once."),
    scenario: str | None = typer.Option(
        None,
        "--scenario",
        help="tour (the default: two scripted incidents, then watching), outage (break"
        " the sandbox's health, see the P0 open, the page sent, the status page red) or"
        " bad-deploy (a bad deploy caught at health and rolled back).",
    ),
) -> None:
    """Run opsbook against a seeded sandbox on this machine, watching it until Ctrl-C.

    Example: opsbook demo --attempts 200000
    """
    from opsbook.demo.run import run_demo
    from opsbook.demo.scenarios import SCENARIOS

    if scenario is not None and scenario not in SCENARIOS:
        from opsbook.console import fail

        fail(f"no scenario {scenario!r}; there is: {', '.join(SCENARIOS)}")
    run_demo(database_url=database_url, port=port, attempts=attempts, once=once, scenario=scenario)
