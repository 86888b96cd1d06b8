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

from opsbook.bodies import shown
from opsbook.clock import Clock, Sleep
from opsbook.config import Config
from opsbook.deploy import announce, locks, records
from opsbook.deploy.command import Command
from opsbook.deploy.models import Deploy
from opsbook.deploy.providers import Candidate, Provider, ProviderError
from opsbook.deploy.service import (
    AppUnreachable,
    DeployInputError,
    Progress,
    Verification,
    check_commit,
    run_stages,
    stage_dict,
    target_url,
)
from opsbook.deploy.serving import await_commit, same_commit, served_commit
from opsbook.deploy.stages import Stage, Target, shorten
from opsbook.deploy.vercel import Vercel
from opsbook.incidents import queries as incident_queries
from opsbook.incidents import service as incidents
from opsbook.incidents.errors import IncidentNotFound
from opsbook.store import Store
from opsbook.store.audit import audited
from opsbook.watch.probe import ProbeContext, new_session

REASON_LIMIT = 1000


class RollbackFailed(RuntimeError):
    """The rollback could not start or the provider refused: nothing was changed."""


@dataclass(frozen=True)
class RollbackPlan:
    """From which deployment to which, and why: what `--yes` approves."""

    env: str
    provider: str
    url: str
    served: str | None  # the commit the app reports now
    current: Candidate | None
    target: Candidate
    commit: str  # the commit the target serves, verified after
    reason: str
    incident_id: int | None
    incident_note: str  # why no incident's timeline gets the rollback, when none does


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


def check_reason(reason: str | None) -> str:
    """The reason as #deploys and the timeline show it: one line of at most 1000
    characters, no control characters (an ANSI escape or a NUL is refused, not kept)."""
    if reason is None or not reason.strip():
        return "no reason given"
    if len(reason) > REASON_LIMIT:
        raise DeployInputError(f"reason is {len(reason)} characters long; at most {REASON_LIMIT}")
    bad = next((c for c in reason if (ord(c) < 0x20 and c != "\t") or 0x7F <= ord(c) <= 0x9F), None)
    if bad is not None:
        raise DeployInputError(f"reason holds a control character ({bad!r}): write it as text")
    return " ".join(reason.split())


def _provider(config: Config, probe: ProbeContext, known: list[Candidate]) -> Provider:
    settings = config.deploy
    if settings.provider == "vercel" and settings.vercel is not None:
        return Vercel(settings.vercel, probe)
    if settings.provider == "command" and settings.command is not None:
        return Command(settings.command, cwd=config.base_dir, known=known)
    raise DeployInputError("no rollback provider: set deploy.provider to vercel or command")


def _wait(config: Config) -> dt.timedelta:
    chosen = config.deploy.vercel if config.deploy.provider == "vercel" else config.deploy.command
    return chosen.wait if chosen is not None else dt.timedelta(minutes=3)


async def plan_rollback(
    *,
    store: Store,
    config: Config,
    env: str,
    to: str | None,
    commit: str | None,
    reason: str | None,
    incident_id: int | None,
    clock: Clock,
    url: str | None = None,
) -> RollbackPlan:
    """What serves now and what to go back to; reads only. DeployInputError for a value
    that cannot work (exit 2); RollbackFailed when the provider cannot be asked or there
    is nothing earlier to go back to."""
    app_url = target_url(config, env=env, url=url)
    why = check_reason(reason)
    given = check_commit(commit) if commit is not None else None
    if to is not None and (not to.strip() or len(to) > 2000 or "\x00" in to):
        raise DeployInputError(f"deployment {shown(to)} is not a deployment id or URL")
    noted, incident_note = _incident(store, incident_id)
    with store.reading() as session:
        known = [Candidate(c, "", c) for c in records.good_commits(session, env=env)]
    async with new_session(limit=2) as session:
        probe = ProbeContext(session=session, config=config, clock=clock)
        provider = _provider(config, probe, known)
        served = await served_commit(probe, config.app, app_url)
        try:
            listed = await provider.deployments()
        except ProviderError as exc:
            raise RollbackFailed(str(exc)) from None
    current = _current(listed, served)
    target = _target(provider.name, listed, current, to, config)
    verified = _commit_of(target, given)
    if to is None and served is not None and same_commit(served, verified):
        raise RollbackFailed(f"the app already serves {verified[:12]}: nothing to roll back")
    return RollbackPlan(
        env, provider.name, app_url, served, current, target, verified, why, noted, incident_note
    )


def _current(listed: list[Candidate], served: str | None) -> Candidate | None:
    """The listed deployment serving now: the newest of the commit the app reports, else
    the newest listed."""
    if served is not None:
        found = next((c for c in listed if c.commit and same_commit(c.commit, served)), None)
        if found is not None:
            return found
    return listed[0] if listed else None


def _target(
    provider: str,
    listed: list[Candidate],
    current: Candidate | None,
    to: str | None,
    config: Config,
) -> Candidate:
    if to is not None:
        bare = to.strip().removeprefix("https://").removeprefix("http://").rstrip("/")
        found = next((c for c in listed if bare in (c.id, c.url) or to == c.commit), None)
        if found is not None:
            return found
        if provider == "command":  # any deployment the command knows; passed as given
            return Candidate(to, "", None)
        project = config.deploy.vercel.project if config.deploy.vercel else ""
        raise DeployInputError(
            f"no READY production deployment {shown(to)} in Vercel project {project}"
            f" ({len(listed)} listed)"
        )
    after = listed[listed.index(current) + 1 :] if current in listed else listed[1:]
    earlier = [
        c
        for c in after
        if not (current and c.commit and current.commit and same_commit(c.commit, current.commit))
    ]
    if not earlier:
        where = "deploy records" if provider == "command" else "READY production deployments"
        raise RollbackFailed(f"nothing earlier to roll back to ({len(listed)} {where})")
    return earlier[0]


def _commit_of(target: Candidate, given: str | None) -> str:
    if given is not None and target.commit is not None and not same_commit(given, target.commit):
        raise DeployInputError(
            f"deployment {shown(target.label)} serves {target.commit[:12]}, not {given}"
        )
    commit = target.commit or given
    if commit is None:
        raise DeployInputError(
            f"deployment {shown(target.label)} names no commit: pass the commit it serves"
            " (--commit), so the rollback can be verified"
        )
    return commit


def _incident(store: Store, incident_id: int | None) -> tuple[int | None, str]:
    """The incident the rollback lands on: the one named, else the one open incident."""
    with store.reading() as session:
        if incident_id is not None:
            try:
                incidents.get(session, incident_id=incident_id)
            except IncidentNotFound:
                raise DeployInputError(f"no incident #{incident_id}") from None
            return incident_id, ""
        found = incident_queries.list_incidents(session, open_only=True)
    if len(found) == 1:
        return found[0].id, ""
    if not found:
        return None, "no open incident"
    return None, f"{len(found)} open incidents: name one to note the rollback on its timeline"


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
        stages = await _promote_and_verify(
            config, plan, row_id, store, clock, sleep, watch, shown_to
        )
        failed = next((s.name for s in stages if not s.passed), None)
        verdict = "failed" if failed else "passed"
        ended = locks.finish(
            store,
            row_id,
            verdict=verdict,
            failed_stage=failed,
            stages=[stage_dict(s) for s in stages],
            clock=clock,
        )
        audit.outcome = "ok" if verdict == "passed" else "failed"
        audit.details["deploy"] = row_id
    result = RollbackResult(row_id, plan, verdict, failed, stages, started, ended)
    result.posted = await announce.post_async(
        store,
        config,
        text=rollback_announcement(result),
        key=f"rollback-{row_id}",
        incident_id=plan.incident_id,
        actor=actor,
        clock=clock,
    )
    _note(store, result, actor=actor, clock=clock)
    return result


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
        provider = _provider(config, probe, [])
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
                wait=_wait(config),
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
