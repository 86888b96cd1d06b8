"""`deploy.verify`, `deploy.recent` and `deploy.rollback` for runbooks: adapters over
deploy/service.py and deploy/rollback.py, the same functions `opsbook deploy
verify|list|rollback` call. The
engine asks before the rollback step acts (destructive); the step fails, with what it
saw, when the deploy fails verification or the rollback does not take."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import Field

from opsbook.clock import sleeper
from opsbook.config import Config, Duration
from opsbook.config.deploy import AppPath
from opsbook.deploy import checklist, rollback, service
from opsbook.deploy import plan as planning
from opsbook.deploy.stages import Page, Target
from opsbook.runbooks.actions import Action, ActionContext, ActionFailed, ActionInputs, Registry


class VerifyInputs(ActionInputs):
    # Empty: app.expected_commit (what CI sets for the deploy it starts).
    commit: str = ""
    env: str = "production"
    url: str | None = None
    wait: Duration | None = None
    watch: Duration | None = None
    auto_rollback: bool = False


class CheckInputs(ActionInputs):
    commit: str = ""  # empty: app.expected_commit, as deploy.verify
    env: str = "production"
    # Who confirmed the feature flags: a manual step's `confirmed_by` (or `skipped_by`,
    # "not applicable"); empty or missing, the item fails.
    flags_confirmed_by: str | None = None
    database_url: str | None = None


class RollbackInputs(ActionInputs):
    reason: str
    to: str | None = None
    commit: str | None = None
    env: str = "production"
    watch: Duration | None = None


def _verify(context: ActionContext, inputs: VerifyInputs) -> dict[str, Any]:
    config = context.config
    try:
        target = Target(
            commit=service.check_commit(_commit(config, inputs.commit)),
            env=service.check_env(inputs.env),
            url=service.target_url(config, env=inputs.env, url=inputs.url),
            wait=service.check_span("wait", inputs.wait or config.deploy.wait),
            watch=service.check_span("watch", _or(inputs.watch, config.deploy.watch)),
        )
        result = asyncio.run(service.verify(target=target, actor=context.actor, **_who(context)))
    except (service.DeployInputError, service.AppUnreachable) as exc:
        raise ActionFailed(str(exc)) from None
    output: dict[str, Any] = {
        "deploy": result.id,
        "verdict": result.verdict,
        "failed_stage": result.failed_stage,
        "stages": [service.stage_dict(s) for s in result.stages],
        "posted": result.posted.as_dict() if result.posted else None,
    }
    if result.verdict == "passed":
        return output
    if inputs.auto_rollback:
        output["rollback"] = _rolled(
            lambda: rollback.roll_back_failed(
                verification=result, actor=context.actor, **_who(context)
            ),
        )
    failed = next(s for s in result.stages if not s.passed)
    raise ActionFailed(f"deploy failed at {failed.name}: {failed.saw}", output)


def _check(context: ActionContext, inputs: CheckInputs) -> dict[str, Any]:
    try:
        done = asyncio.run(
            checklist.run_checklist(
                store=context.store,
                config=context.config,
                commit=_commit(context.config, inputs.commit),
                env=inputs.env,
                actor=context.actor,
                clock=context.clock,
                flags=checklist.Confirmation(
                    inputs.flags_confirmed_by or None,
                    "confirm the feature flags step, or pass flags_confirmed_by",
                ),
                database_url=inputs.database_url or checklist.target_database(context.config),
                secrets=context.secrets,
                timeout=context.timeout,
            )
        )
    except service.DeployInputError as exc:
        raise ActionFailed(str(exc)) from None
    output = done.as_dict()
    failed = [i for i in done.items if i.failed]
    if failed:
        said = "; ".join(f"{i.name}: {i.saw}" for i in failed)
        raise ActionFailed(f"not ready for {done.env}: {said}", output)
    return output


class SmokeInputs(ActionInputs):
    # Paths on the app (each as `app.smoke_paths` expects it, else 200); empty: them all.
    paths: list[AppPath] = []


def _smoke(context: ActionContext, inputs: SmokeInputs) -> dict[str, Any]:
    pages = asyncio.run(
        service.open_pages(config=context.config, clock=context.clock, paths=inputs.paths)
    )
    output: dict[str, Any] = {
        "pages": [dataclasses.asdict(p) for p in pages],
        "slowest_ms": max((p.elapsed_ms or 0.0 for p in pages), default=0.0),
    }
    problems = [_redirect_said(p) for p in pages if p.problem]
    if problems:
        raise ActionFailed("; ".join(problems), output)
    return output


def _redirect_said(page: Page) -> str:
    """A page that redirected where its path expects a page: what was timed, and why."""
    assert page.problem is not None
    if page.status is None or not 300 <= page.status < 400:
        return page.problem
    timed = f"the {page.elapsed_ms or 0:.0f} ms timed the redirect, not the page"
    if page.signed_in:
        return f"{page.problem}: the app refused app.session (expired?): {timed}"
    if page.session_withheld:
        return (
            f"{page.problem}: not signed in: {timed} (app.session goes only to app.url's own"
            " origin, over https or to this machine)"
        )
    return (
        f"{page.problem}: not signed in: {timed} (a signed-in page sends a visitor without a"
        " session to sign in; set app.session to time it signed in)"
    )


def _commit(config: Config, given: str) -> str:
    """The commit to verify: the one given, else app.expected_commit. Never the last
    verified deploy's: that is the deploy this one replaces, and verifying the new one
    against it would fail a good deploy and roll it back."""
    commit = given or config.app.expected_commit
    if not commit:
        raise service.DeployInputError(
            "no commit to verify: give the commit being deployed (--param commit=SHA)"
            " or set app.expected_commit"
        )
    return commit


def _rollback(context: ActionContext, inputs: RollbackInputs) -> dict[str, Any]:
    config = context.config

    async def both() -> rollback.RollbackResult:
        plan = await planning.plan_rollback(
            store=context.store,
            config=config,
            env=service.check_env(inputs.env),
            to=inputs.to or None,  # a runbook's empty parameter: the previous one
            commit=inputs.commit or None,
            reason=inputs.reason,
            incident_id=context.incident_id,
            clock=context.clock,
        )
        return await rollback.roll_back(
            plan=plan,
            actor=context.actor,
            watch=service.check_span("watch", _or(inputs.watch, config.deploy.watch)),
            **_who(context),
        )

    output = _rolled(both)
    if output["verdict"] != "passed":
        raise ActionFailed(f"rollback failed at {output['failed_stage']}: {output['saw']}", output)
    return output


class RecentInputs(ActionInputs):
    env: str = "production"
    limit: int = Field(default=5, ge=1, le=100)
    within: Duration = dt.timedelta(hours=24)


def _recent(context: ActionContext, inputs: RecentInputs) -> dict[str, Any]:
    """The seed's `vercel ls --count 5`, from opsbook's own deploy records: what changed
    lately and whether it verified, with `recent` for a step's `when`."""
    try:
        env = service.check_env(inputs.env)
    except service.DeployInputError as exc:
        raise ActionFailed(str(exc)) from None
    rows = service.list_deploys(store=context.store, env=env, limit=inputs.limit)
    since = context.clock.now() - inputs.within
    return {
        "deploys": [
            {
                **vars(row),
                "started_at": row.started_at.isoformat(),
                "ended_at": row.ended_at.isoformat(),
            }
            for row in rows
        ],
        "count": len(rows),
        "recent": sum(1 for row in rows if row.ended_at >= since),
    }


def _rolled(run: Callable[[], Awaitable[rollback.RollbackResult]]) -> dict[str, Any]:
    try:
        done: rollback.RollbackResult = asyncio.run(_awaited(run))
    except (service.DeployInputError, planning.RollbackFailed) as exc:
        raise ActionFailed(str(exc)) from None
    return {
        "deploy": done.id,
        "verdict": done.verdict,
        "failed_stage": done.failed_stage,
        "saw": done.saw,
        "deployment": done.plan.target.id,
        "commit": done.plan.commit,
        "from_commit": done.plan.served,
        "posted": done.posted.as_dict() if done.posted else None,
    }


async def _awaited(
    run: Callable[[], Awaitable[rollback.RollbackResult]],
) -> rollback.RollbackResult:
    return await run()


def _or(given: dt.timedelta | None, default: dt.timedelta) -> dt.timedelta:
    return default if given is None else given


def _who(context: ActionContext) -> dict[str, Any]:
    return {
        "store": context.store,
        "config": context.config,
        "clock": context.clock,
        "sleep": sleeper(context.clock),
    }


def register(registry: Registry) -> None:
    registry.register(
        Action(
            "deploy.check",
            "The pre-deployment checklist: tests, staging, migrations, flags; post to #deploys.",
            CheckInputs,
            _check,
            lambda i: f"check {i.commit} is ready for {i.env} and post it to #deploys",
            writes=lambda _i: True,
        )
    )
    registry.register(
        Action(
            "deploy.verify",
            "Verify a deploy: version, health, smoke, watch; record it and post to #deploys.",
            VerifyInputs,
            _verify,
            lambda i: (
                f"verify the deploy of {i.commit} to {i.env}"
                + (", rolling back if it fails" if i.auto_rollback else "")
            ),
            writes=lambda i: bool(i.auto_rollback),
        )
    )
    registry.register(
        Action(
            "deploy.smoke",
            "Open the app's pages as the smoke test does (app.smoke_paths; no redirect followed).",
            SmokeInputs,
            _smoke,
            lambda i: "open " + (", ".join(i.paths) if i.paths else "every app.smoke_paths page"),
        )
    )
    registry.register(
        Action(
            "deploy.recent",
            "The last deploys from opsbook's records, newest first, and how many are recent.",
            RecentInputs,
            _recent,
            lambda i: f"list the last {i.limit} deploys to {i.env}",
        )
    )
    registry.register(
        Action(
            "deploy.rollback",
            "Put the previous deployment back through deploy.provider, then verify it.",
            RollbackInputs,
            _rollback,
            lambda i: f"roll {i.env} back to {i.to or 'the previous deployment'}: {i.reason}",
            destructive=True,
            writes=lambda _i: True,
        )
    )
