"""`opsbook deploy check`: a thin door over deploy/checklist.py. What it adds is the
terminal: it asks the person about the feature flags (or takes `--yes-flags`) and
prints one line per item."""

from __future__ import annotations

import asyncio

import typer
from rich.text import Text

from opsbook.console import Exit, console, fail, literal, print_json, visible
from opsbook.context import app_context
from opsbook.deploy import checklist, service
from opsbook.store.audit import default_actor

_MARK = {
    "passed": ("passed", "green"),
    "failed": ("FAILED", "bold red"),
    "confirmed": ("confirmed", "cyan"),
    "skipped": ("skipped", "dim"),
}


def check(
    ctx: typer.Context,
    commit: str = typer.Option(..., "--commit", help="The commit about to be deployed."),
    env: str = typer.Option("production", "--env", help="production or staging."),
    yes_flags: bool = typer.Option(
        False, "--yes-flags", help="Confirm the feature flags are configured (for scripts)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """The seed's pre-deployment checklist: tests on main, staging verified, migrations
    applied, feature flags (your word), then "Deploying ..." to #deploys; exit 1 if an
    item fails.

    Example: opsbook deploy check --commit 4f2c9e1 --yes-flags
    """
    context = app_context(ctx)
    config = context.config()
    try:
        commit, env = service.check_commit(commit), service.check_env(env)
    except service.DeployInputError as exc:
        fail(f"{exc}; nothing was checked")
    result = asyncio.run(
        checklist.run_checklist(
            store=context.store(),
            config=config,
            commit=commit,
            env=env,
            actor=default_actor(),
            clock=context.clock,
            flags=_flags(commit, env, yes=yes_flags, asking=context.at_terminal()),
            database_url=context.database_url_option or checklist.target_database(config),
        )
    )
    if as_json:
        print_json(result.as_dict())
    else:
        _show(result)
    if result.verdict != "passed":
        raise typer.Exit(Exit.FOUND)


def _flags(commit: str, env: str, *, yes: bool, asking: bool) -> checklist.Confirmation:
    """`--yes-flags`, or a yes typed at a terminal (asked on stderr: stdout may be JSON)."""
    if yes:
        return checklist.Confirmation(default_actor())
    if not asking:
        return checklist.Confirmation(None, "pass --yes-flags, or answer at a terminal")
    question = f"Feature flags configured for {commit[:12]} in {env} (if it ships a new feature)?"
    if typer.confirm(visible(question), default=False, err=True):
        return checklist.Confirmation(default_actor())
    return checklist.Confirmation(None, "answered no at the terminal")


def _show(result: checklist.Checklist) -> None:
    for item in result.items:
        word, style = _MARK[item.outcome]
        console.print(
            Text.assemble((f"{word:>9} ", style), (f"{item.name:<11}", "bold"), literal(item.saw))
        )
    head = f"deploy check #{result.id}: {result.commit[:12]}"
    failed = [i.name for i in result.items if i.failed]
    if failed:
        said = f"{head} not ready for {result.env}: {', '.join(failed)} failed"
        console.print(literal(said, "bold red"))
    else:
        # A skipped item was not looked at: "ready" says so rather than hide it.
        skipped = [i.name for i in result.items if i.outcome == "skipped"]
        unchecked = f" ({', '.join(skipped)} not checked)" if skipped else ""
        style = "yellow" if skipped else "green"
        console.print(literal(f"{head} ready for {result.env}{unchecked}", style))
