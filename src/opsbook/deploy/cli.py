"""`opsbook deploy verify|list`: thin doors over deploy/service.py."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import typer
from rich.console import Group
from rich.live import Live
from rich.text import Text

from opsbook.clock import sleeper
from opsbook.console import Exit, console, duration_option, fail, literal, print_json, print_rows
from opsbook.context import AppContext, app_context
from opsbook.deploy import service
from opsbook.deploy.stages import Stage, Target
from opsbook.store import Store
from opsbook.store.audit import default_actor

app = typer.Typer(help="Verify deployments and keep their records.", no_args_is_help=True)
JSON = typer.Option(False, "--json", help="Print as JSON.")
_MARK = {"passed": ("ok", "green"), "failed": ("FAILED", "bold red"), "skipped": ("skip", "dim")}
_VERDICT = {"passed": "green", "failed": "bold red"}


def _line(stage: Stage) -> Text:
    word, style = _MARK[stage.outcome]
    return Text.assemble((f"{word:>6} ", style), (f"{stage.name:<8}", "bold"), literal(stage.saw))


class _Plain(service.Progress):
    """Not a terminal: one line per stage as it ends, nothing redrawn."""

    def finished(self, stage: Stage) -> None:
        console.print(_line(stage))


class _Live(service.Progress):
    """A terminal: finished stages stay, the running one shows what it sees now."""

    def __init__(self, live: Live) -> None:
        self.live, self.done, self.now = live, list[Text](), Text("")

    def _show(self) -> None:
        self.live.update(Group(*self.done, self.now))

    def started(self, stage: str) -> None:
        self.now = Text.assemble(("   ... ", "cyan"), (f"{stage:<8}", "bold"))
        self._show()

    def note(self, stage: str, text: str) -> None:
        self.now = Text.assemble(("   ... ", "cyan"), (f"{stage:<8}", "bold"), literal(text))
        self._show()

    def finished(self, stage: Stage) -> None:
        self.done.append(_line(stage))
        self.now = Text("")
        self._show()


def _verdict(result: service.Verification) -> dict[str, Any]:
    return {
        "id": result.id,
        "commit": result.commit,
        "env": result.env,
        "url": result.url,
        "actor": result.actor,
        "verdict": result.verdict,
        "failed_stage": result.failed_stage,
        "stages": [service.stage_dict(s) for s in result.stages],
        "started_at": result.started_at,
        "ended_at": result.ended_at,
    }


@app.command("verify")
def verify(
    ctx: typer.Context,
    commit: str = typer.Option(..., "--commit", help="The commit the deploy should serve."),
    env: str = typer.Option("production", "--env", help="production or staging."),
    url: str | None = typer.Option(None, "--url", help="The app (default: app.url)."),
    watch: str | None = typer.Option(None, "--watch", help="Watch errors this long (15m; 0)."),
    wait: str | None = typer.Option(None, "--wait", help="Wait this long for the version (5m)."),
    as_json: bool = JSON,
) -> None:
    """Verify a deploy: version, health, smoke test, then watch errors; exit 1 if it fails.

    Example: opsbook deploy verify --commit 4f2c9e1 --watch 15m
    """
    context = app_context(ctx)
    config = context.config()
    try:
        target = Target(
            commit=service.check_commit(commit),
            env=service.check_env(env),
            url=service.target_url(config, env=env, url=url),
            wait=service.check_span("--wait", _span("--wait", wait, config.deploy.wait)),
            watch=service.check_span("--watch", _span("--watch", watch, config.deploy.watch)),
        )
    except service.DeployInputError as exc:
        fail(str(exc))
    store = context.store()
    try:
        result = _run(target, store=store, context=context, as_json=as_json)
    except service.AppUnreachable as exc:
        fail(f"{exc}; nothing was recorded", Exit.FOUND)
    if as_json:
        print_json(_verdict(result))
    elif result.verdict == "passed":
        console.print(literal(f"deploy #{result.id}: {result.commit[:12]} verified", "green"))
    else:
        said = f"deploy #{result.id}: {result.commit[:12]} failed at {result.failed_stage}"
        console.print(literal(said, "bold red"))
    if result.verdict != "passed":
        raise typer.Exit(Exit.FOUND)


def _span(option: str, text: str | None, default: dt.timedelta) -> dt.timedelta:
    return default if text is None else duration_option(option, text)


def _run(
    target: Target, *, store: Store, context: AppContext, as_json: bool
) -> service.Verification:
    config = context.config()

    def verify_with(progress: service.Progress | None) -> service.Verification:
        return asyncio.run(
            service.verify(
                store=store,
                config=config,
                target=target,
                actor=default_actor(),
                clock=context.clock,
                sleep=sleeper(context.clock),
                progress=progress,
            )
        )

    if as_json:
        return verify_with(None)
    if not console.is_terminal:
        return verify_with(_Plain())
    with Live(console=console, transient=False, refresh_per_second=4) as live:
        return verify_with(_Live(live))


@app.command("list")
def list_(
    ctx: typer.Context,
    env: str | None = typer.Option(None, "--env", help="Only production or staging."),
    as_json: bool = JSON,
) -> None:
    """Deploy records, newest first: verdict, and the stage that failed with what it saw.

    Example: opsbook deploy list --env production
    """
    context = app_context(ctx)
    try:
        chosen = service.check_env(env) if env is not None else None
    except service.DeployInputError as exc:
        fail(str(exc))
    rows = service.list_deploys(store=context.store(), env=chosen)
    print_rows(
        rows,
        [
            ("#", lambda r: str(r.id)),
            ("started", lambda r: r.started_at.strftime("%Y-%m-%d %H:%M")),
            ("env", lambda r: r.env),
            ("commit", lambda r: r.commit[:12]),
            ("verdict", lambda r: literal(r.verdict, _VERDICT.get(r.verdict, ""))),
            ("failed at", lambda r: r.failed_stage or ""),
            ("what it saw", lambda r: r.saw or ""),
            ("by", lambda r: r.actor),
        ],
        as_json=as_json,
        empty="no deploys recorded",
    )
