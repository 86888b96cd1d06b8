"""Roll back: put a previous deployment back through the configured provider, wait until
the app serves it, verify it against its commit, and record, post and note it.

Two rollbacks of one env never run at once, and no database lock is held while the
network is asked: a record marked "rolling back" is written first under a unique key
(`deploys.running`, the env), the provider is asked, and the record is finished after.
A provider that refuses before it acted (a refused token, an unknown deployment, an
unreachable API) leaves nothing behind: the marked record is removed again. Once it may
have acted (a promote accepted, a command run), the rollback is recorded whatever follows,
failed at its `promote` stage when the deployment never served."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from opsbook.clock import Clock, Sleep
from opsbook.config import Config
from opsbook.deploy import announce, locks
from opsbook.deploy.models import Deploy
from opsbook.deploy.plan import (
    REASON_LIMIT,
    RollbackFailed,
    RollbackPlan,
    plan_rollback,
    promote_wait,
    provider_for,
)
from opsbook.deploy.providers import Candidate, ProviderError
from opsbook.deploy.service import (
    AppUnreachable,
    Progress,
    Verification,
    run_stages,
    stage_dict,
)
from opsbook.deploy.serving import await_commit
from opsbook.deploy.stages import Stage, Target, shorten
from opsbook.incidents import service as incidents
from opsbook.store import Store
from opsbook.store.audit import audited
from opsbook.watch.probe import ProbeContext, new_session


@dataclass
class RollbackResult:
    id: int
    plan: RollbackPlan
    verdict: str
    failed_stage: str | None
    stages: list[Stage]
    started_at: dt.datetime
    ended_at: dt.datetime
    posted: announce.Posted | None = None

    @property
    def saw(self) -> str:
        failed = next((s for s in self.stages if not s.passed), None)
        return failed.saw if failed else self.stages[0].saw if self.stages else ""


async def roll_back(
    *,
    store: Store,
    config: Config,
    plan: RollbackPlan,
    actor: str,
    clock: Clock,
    sleep: Sleep,
    watch: dt.timedelta,
    progress: Progress | None = None,
) -> RollbackResult:
    """Promote the plan's deployment, wait until it serves, verify it; record, post to
    #deploys and note the incident. RollbackFailed (nothing recorded) when the provider
    refused before acting; locks.Busy when another rollback of the env runs."""
    shown_to = progress or Progress()
    target = plan.target
    details = {
        "provider": plan.provider,
        "deployment": target.id,
        "commit": plan.commit,
        "from": plan.served,
        "reason": plan.reason,
    }
    with audited(
        store,
        action="deploy.rollback",
        target=f"{plan.env} {target.label}",
        actor=actor,
        details=details,
        clock=clock,
    ) as audit:
        row_id = _claim(store, config, plan, actor, clock)
        started = clock.now()
        verdict, failed, stages, ended = await _held(
            store, config, plan, row_id, clock, sleep, watch, shown_to
        )
        audit.outcome = "ok" if verdict == "passed" else "failed"
        audit.details["deploy"] = row_id
    result = RollbackResult(row_id, plan, verdict, failed, stages, started, ended)
    # Not tied to the incident: an incident's messages go out in order, and this post
    # would wait behind its unsent updates; the incident hears of it on its timeline.
    result.posted = await announce.post_async(
        store,
        config,
        text=rollback_announcement(result),
        key=f"rollback-{row_id}",
        incident_id=None,
        actor=actor,
        clock=clock,
    )
    _note(store, result, actor=actor, clock=clock)
    return result


async def _held(
    store: Store,
    config: Config,
    plan: RollbackPlan,
    row_id: int,
    clock: Clock,
    sleep: Sleep,
    watch: dt.timedelta,
    shown_to: Progress,
) -> tuple[str, str | None, list[Stage], dt.datetime]:
    """Promote and verify while the heartbeat keeps the env held; the record is finished
    whatever happens (a Ctrl-C, an error: failed, "interrupted"), and a run that was taken
    over says so (RollbackFailed) instead of a verdict."""
    finished = False
    try:
        every = config.deploy.lock_for / 4
        with locks.Heartbeat(store, row_id, plan.env, every=every, clock=clock):
            stages = await _promote_and_verify(
                config, plan, row_id, store, clock, sleep, watch, shown_to
            )
        failed = next((s.name for s in stages if not s.passed), None)
        verdict = "failed" if failed else "passed"
        ended = locks.finish(
            store,
            row_id,
            plan.env,
            verdict=verdict,
            failed_stage=failed,
            stages=[stage_dict(s) for s in stages],
            clock=clock,
        )
        finished = True
        return verdict, failed, stages, ended
    except locks.TakenOver as exc:
        finished = True
        raise RollbackFailed(str(exc)) from None
    finally:
        if not finished:
            saw = "interrupted (Ctrl-C or an error) before it finished: check what serves"
            locks.close(store, row_id, plan.env, clock, saw=saw)


def _claim(store: Store, config: Config, plan: RollbackPlan, actor: str, clock: Clock) -> int:
    now = clock.now()
    row = Deploy(
        kind="rollback",
        commit=plan.commit,
        env=plan.env,
        actor=actor,
        url=plan.url,
        stages=[],
        started_at=now,
        ended_at=now,
        deployment=target_words(plan.target),
        from_commit=plan.served,
        reason=plan.reason,
    )
    try:
        return locks.claim(store, row, lock_for=config.deploy.lock_for, clock=clock)
    except locks.Busy as exc:
        raise RollbackFailed(str(exc)) from None


def target_words(target: Candidate) -> str:
    return f"{target.id} ({target.url})" if target.url and target.url != target.id else target.id


async def _promote_and_verify(
    config: Config,
    plan: RollbackPlan,
    row_id: int,
    store: Store,
    clock: Clock,
    sleep: Sleep,
    watch: dt.timedelta,
    shown_to: Progress,
) -> list[Stage]:
    async with new_session(limit=4) as session:
        probe = ProbeContext(session=session, config=config, clock=clock)
        provider = provider_for(config, probe, [])
        shown_to.started("promote")
        started = clock.now()
        try:
            said = await provider.promote(plan.target)
        except ProviderError as exc:
            if not exc.acted:
                locks.release(store, row_id)
                raise RollbackFailed(f"{exc}; nothing was changed") from None
            promoted = Stage("promote", "failed", started, clock.now(), shorten(str(exc)))
        else:
            promoted = await await_commit(
                probe,
                config.app,
                url=plan.url,
                commit=plan.commit,
                wait=promote_wait(config),
                sleep=sleep,
                said=said,
            )
    shown_to.finished(promoted)
    if not promoted.passed:
        return [promoted]
    target = Target(plan.commit, plan.env, plan.url, config.deploy.wait, watch)
    try:
        checked = await run_stages(
            config=config, target=target, clock=clock, sleep=sleep, progress=shown_to
        )
    except AppUnreachable as exc:
        checked = [Stage("version", "failed", clock.now(), clock.now(), shorten(str(exc)))]
    return [promoted, *checked]


def rollback_announcement(result: RollbackResult) -> str:
    """The seed's line for #deploys, and what became of it."""
    plan = result.plan
    line = f"Rolled back to previous deployment due to {plan.reason}"
    moved = f"{(plan.served or '?')[:12]} -> {plan.commit[:12]} ({plan.target.label})"
    if result.verdict == "passed":
        return f"{line}. {plan.env}: {moved}, verified."
    return f"{line}. {plan.env}: {moved} failed at {result.failed_stage}: {result.saw}"


def _note(store: Store, result: RollbackResult, *, actor: str, clock: Clock) -> None:
    if result.plan.incident_id is None:
        return
    with store.session() as session:
        incident = incidents.get(session, incident_id=result.plan.incident_id)
        incidents.log_event(
            session,
            incident=incident,
            kind="deploy",
            actor=actor,
            clock=clock,
            text=rollback_announcement(result),
            data={"deploy": result.id, "verdict": result.verdict},
        )


async def roll_back_failed(
    *,
    store: Store,
    config: Config,
    verification: Verification,
    actor: str,
    clock: Clock,
    sleep: Sleep,
    progress: Progress | None = None,
) -> RollbackResult:
    """`--auto-rollback`: a failed verify rolls back to the deployment before it, with
    the failing stage as the reason."""
    stage = next(s for s in verification.stages if not s.passed)
    said = "".join(c if c.isprintable() else " " for c in stage.saw)
    reason = shorten(f"deploy {verification.commit[:12]} failed at {stage.name}: {said}")
    plan = await plan_rollback(
        store=store,
        config=config,
        env=verification.env,
        to=None,
        commit=None,
        reason=reason[:REASON_LIMIT],
        incident_id=None,
        clock=clock,
        url=verification.url,
    )
    return await roll_back(
        store=store,
        config=config,
        plan=plan,
        actor=actor,
        clock=clock,
        sleep=sleep,
        watch=config.deploy.watch,
        progress=progress,
    )
