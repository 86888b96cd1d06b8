"""`opsbook deploy verify|list|rollback`: thin doors over deploy/service.py and
deploy/rollback.py."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import typer
from rich.console import Group
from rich.live import Live
from rich.text import Text

from opsbook.bounds import MAX_ID
from opsbook.clock import sleeper
from opsbook.console import (
    Exit,
    console,
    duration_option,
    err,
    fail,
    literal,
    print_json,
    print_rows,
)
from opsbook.context import AppContext, app_context
from opsbook.deploy import announce, checklist, cli_check, rollback, service
from opsbook.deploy import plan as planning
from opsbook.deploy.stages import Stage, Target
from opsbook.guard import guarded
from opsbook.store import Store
from opsbook.store.audit import default_actor

app = typer.Typer(help="Verify deployments and keep their records.", no_args_is_help=True)
JSON = typer.Option(False, "--json", help="Print as JSON.")
_MARK = {"passed": ("ok", "green"), "failed": ("FAILED", "bold red"), "skipped": ("skip", "dim")}
_VERDICT = {"passed": "green", "failed": "bold red"}
app.command("check")(cli_check.check)


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
        "posted": result.posted.as_dict() if result.posted else None,
    }


@app.command("verify")
def verify(
    ctx: typer.Context,
    commit: str = typer.Option(..., "--commit", help="The commit the deploy should serve."),
    env: str = typer.Option("production", "--env", help="production or staging."),
    url: str | None = typer.Option(None, "--url", help="The app (default: app.url)."),
    watch: str | None = typer.Option(None, "--watch", help="Watch errors this long (15m; 0)."),
    wait: str | None = typer.Option(None, "--wait", help="Wait this long for the version (5m)."),
    auto_rollback: bool = typer.Option(
        False, "--auto-rollback", help="On failure, roll back to the previous deployment."
    ),
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
    _warn_unchecked(store, target)
    try:
        result = _run(target, store=store, context=context, as_json=as_json)
    except service.AppUnreachable as exc:
        fail(f"{exc}; nothing was recorded", Exit.FOUND)
    rolled = None
    if result.verdict != "passed" and auto_rollback:
        rolled = _auto_rollback(result, store=store, context=context, as_json=as_json)
    if as_json:
        back = _rollback_dict(rolled) if rolled else None
        print_json({**_verdict(result), "rollback": back} if auto_rollback else _verdict(result))
    elif result.verdict == "passed":
        console.print(literal(f"deploy #{result.id}: {result.commit[:12]} verified", "green"))
        _say_posted(result.posted)
    else:
        said = f"deploy #{result.id}: {result.commit[:12]} failed at {result.failed_stage}"
        console.print(literal(said, "bold red"))
        _say_posted(result.posted)
        if rolled is not None:
            _say_rollback(rolled)
    if result.verdict != "passed":
        raise typer.Exit(Exit.FOUND)


def _warn_unchecked(store: Store, target: Target) -> None:
    """A warning, not a refusal: the checklist may have been gone through by hand."""
    if checklist.passed_check(store=store, commit=target.commit, env=target.env) is None:
        said = f"warning: no passed deploy check of {target.commit[:12]} for {target.env}"
        err.print(literal(f"{said} (opsbook deploy check --commit {target.commit})", "yellow"))


def _auto_rollback(
    result: service.Verification, *, store: Store, context: AppContext, as_json: bool
) -> rollback.RollbackResult:
    if not as_json:
        console.print(literal("rolling back (--auto-rollback)", "bold"))
    try:
        return asyncio.run(
            rollback.roll_back_failed(
                store=store,
                config=context.config(),
                verification=result,
                actor=default_actor(),
                clock=context.clock,
                sleep=sleeper(context.clock),
                progress=None if as_json else _Plain(),
            )
        )
    except (service.DeployInputError, planning.RollbackFailed) as exc:
        said = f"deploy #{result.id} failed at {result.failed_stage}; no rollback: {exc}"
        fail(said, Exit.FOUND)


def _say_posted(posted: announce.Posted | None) -> None:
    if posted is not None:
        console.print(literal(f"{posted.channel}: {posted.words}", "dim"))


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


@app.command("rollback")
def rollback_(
    ctx: typer.Context,
    to: str | None = typer.Option(
        None, "--to", help="The deployment (id or URL); default: the previous."
    ),
    reason: str | None = typer.Option(None, "--reason", help="Why, for #deploys and the timeline."),
    env: str = typer.Option("production", "--env", help="production or staging."),
    commit: str | None = typer.Option(
        None, "--commit", help="The commit --to serves, if the provider cannot say."
    ),
    incident: int | None = typer.Option(
        None,
        "--incident",
        min=1,
        max=MAX_ID,
        help="Note it on this incident (default: the open one).",
    ),
    watch: str | None = typer.Option(
        None, "--watch", help="Watch errors after, this long (15m; 0)."
    ),
    yes: bool = typer.Option(False, "--yes", help="Roll back without asking."),
    as_json: bool = JSON,
) -> None:
    """Put the previous deployment back through deploy.provider, then verify it (a dry run
    without --yes).

    Example: opsbook deploy rollback --reason "checkout errors after 4f2c9e1" --yes
    """
    context = app_context(ctx)
    config, store = context.config(), context.store()
    try:
        span = service.check_span("--watch", _span("--watch", watch, config.deploy.watch))
        plan = asyncio.run(
            planning.plan_rollback(
                store=store,
                config=config,
                env=service.check_env(env),
                to=to,
                commit=commit,
                reason=reason,
                incident_id=incident,
                clock=context.clock,
            )
        )
    except service.DeployInputError as exc:
        fail(f"{exc}; nothing was changed")
    except planning.RollbackFailed as exc:
        fail(f"{exc}; nothing was changed", Exit.FOUND)

    def act(chosen: planning.RollbackPlan) -> rollback.RollbackResult:
        try:
            return asyncio.run(
                rollback.roll_back(
                    store=store,
                    config=config,
                    plan=chosen,
                    actor=default_actor(),
                    clock=context.clock,
                    sleep=sleeper(context.clock),
                    watch=span,
                    progress=None if as_json else _Plain(),
                )
            )
        except planning.RollbackFailed as exc:
            fail(str(exc), Exit.FOUND)

    outcome = guarded(
        plan,
        show=None if as_json else _show_plan,
        dry_run=as_json and not yes,
        yes=yes,
        to=f"roll {plan.env} back to {plan.target.label}",
        act=act,
    )
    done = outcome.result
    if as_json:
        print_json(
            {
                "dry_run": not outcome.acted,
                "plan": _plan_dict(plan),
                "rollback": _rollback_dict(done) if done else None,
            }
        )
    elif done is not None:
        _say_rollback(done)
    if done is not None and done.verdict != "passed":
        raise typer.Exit(Exit.FOUND)


def _show_plan(plan: planning.RollbackPlan) -> None:
    now = plan.current.label if plan.current else "unknown"
    served = (plan.served or "unknown")[:12]
    console.print(literal(f"{plan.env} serves {served} ({now})"))
    console.print(
        literal(f"roll back to {plan.commit[:12]} ({plan.target.label}) via {plan.provider}")
    )
    console.print(literal(f"why: {plan.reason}"))
    if plan.incident_id is not None:
        console.print(literal(f"noted on incident #{plan.incident_id}"))
    else:
        err.print(literal(f"no incident noted: {plan.incident_note}", "dim"))


def _plan_dict(plan: planning.RollbackPlan) -> dict[str, Any]:
    return {
        "env": plan.env,
        "provider": plan.provider,
        "url": plan.url,
        "served": plan.served,
        "current": vars(plan.current) if plan.current else None,
        "target": vars(plan.target),
        "commit": plan.commit,
        "reason": plan.reason,
        "incident": plan.incident_id,
    }


def _rollback_dict(done: rollback.RollbackResult) -> dict[str, Any]:
    return {
        "id": done.id,
        "verdict": done.verdict,
        "failed_stage": done.failed_stage,
        "stages": [service.stage_dict(s) for s in done.stages],
        "commit": done.plan.commit,
        "deployment": vars(done.plan.target),
        "incident": done.plan.incident_id,
        "posted": done.posted.as_dict() if done.posted else None,
        "started_at": done.started_at,
        "ended_at": done.ended_at,
    }


def _say_rollback(done: rollback.RollbackResult) -> None:
    head = f"rollback #{done.id}: {done.plan.env} to {done.plan.commit[:12]}"
    if done.verdict == "passed":
        console.print(literal(f"{head} serves and is verified", "green"))
    else:
        console.print(literal(f"{head} failed at {done.failed_stage}: {done.saw}", "bold red"))
    _say_posted(done.posted)
    if done.plan.incident_id is not None:
        console.print(literal(f"noted on incident #{done.plan.incident_id}", "dim"))
