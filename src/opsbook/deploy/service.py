"""Deploy operations: verify a deploy stage by stage and record it; list the records.

The CLI (deploy/cli.py) and the runbook actions (deploy/actions.py) are thin doors over
these; rollback.py puts a previous deployment back and verifies it with `run_stages`."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from opsbook.bodies import shown
from opsbook.clock import Clock, Sleep
from opsbook.config import Config
from opsbook.config.deploy import ENVIRONMENTS, LONGEST, SmokePath
from opsbook.config.durations import format_duration
from opsbook.deploy import announce, records
from opsbook.deploy.models import Deploy
from opsbook.deploy.stages import (
    STAGE_RUNNERS,
    FirstContactFailed,
    Kit,
    Page,
    Stage,
    Target,
    open_page,
    shorten,
)
from opsbook.store import Store
from opsbook.watch.probe import ProbeContext, new_session

# A git commit id, short or full, SHA-1 or SHA-256: hex digits and nothing else.
_COMMIT = re.compile(r"[0-9a-fA-F]{4,64}")


class DeployInputError(ValueError):
    """A value verify cannot take, in the domain's words; nothing was recorded."""


class AppUnreachable(RuntimeError):
    """The app did not answer at all; nothing was recorded."""


@dataclass
class Verification:
    """One verify's outcome as recorded: `id` is the deploy record's."""

    id: int
    commit: str
    env: str
    url: str
    actor: str
    verdict: str
    failed_stage: str | None
    stages: list[Stage]
    started_at: dt.datetime
    ended_at: dt.datetime
    posted: announce.Posted | None = None


def check_commit(commit: str) -> str:
    """The commit as given, when it is one (4 to 64 hex digits)."""
    if not _COMMIT.fullmatch(commit):
        raise DeployInputError(f"commit {shown(commit)} is not a commit id (4 to 64 hex digits)")
    return commit.lower()


def check_env(env: str) -> str:
    if env not in ENVIRONMENTS:
        raise DeployInputError(f"env {shown(env)} is not one of {', '.join(ENVIRONMENTS)}")
    return env


def check_span(what: str, span: dt.timedelta) -> dt.timedelta:
    if not dt.timedelta(0) <= span <= LONGEST:
        raise DeployInputError(f"{what} {format_duration(span)} is not between 0 and 1d")
    return span


def target_url(config: Config, *, env: str, url: str | None) -> str:
    """Where the app in `env` answers: `url`, else the config's for that env."""
    chosen = url or (config.app.url if env == "production" else config.deploy.staging_url)
    if chosen is None:
        raise DeployInputError(f"no URL for {env}: pass one, or set deploy.staging_url")
    parts = urlsplit(chosen)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(chosen) > 2000:
        raise DeployInputError(f"URL {shown(chosen)} is not an http(s) address")
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in chosen):
        raise DeployInputError(f"URL {shown(chosen)} holds a space or a control character")
    return chosen.rstrip("/")


class Progress:
    """What verify says while it runs; the CLI shows it, a runbook step ignores it."""

    def started(self, stage: str) -> None:
        """A stage began."""

    def note(self, stage: str, text: str) -> None:
        """How a long stage is going (the version it still sees, the error rate so far)."""

    def finished(self, stage: Stage) -> None:
        """A stage ended, passed or not."""


def smoke_of(config: Config, path: str) -> SmokePath:
    """What `path` must answer: its `app.smoke_paths` entry, else 200 itself."""
    found = next((s for s in config.app.smoke_paths if s.path == path), None)
    return found or SmokePath(path=path)


async def open_pages(*, config: Config, clock: Clock, paths: list[str]) -> list[Page]:
    """Open the app's pages as the smoke test does (each against what its path expects,
    redirects not followed); every `app.smoke_paths` entry when `paths` is empty."""
    smokes = [smoke_of(config, p) for p in paths] if paths else list(config.app.smoke_paths)
    async with new_session(limit=4) as session:
        probe = ProbeContext(session=session, config=config, clock=clock)
        return [await open_page(probe, config.app.url, smoke, app=config.app) for smoke in smokes]


async def run_stages(
    *,
    config: Config,
    target: Target,
    clock: Clock,
    sleep: Sleep,
    progress: Progress | None = None,
) -> list[Stage]:
    """The stages in order until one fails; AppUnreachable when the app never answered.
    Verify records what they saw as a deploy, a rollback as its own record."""
    shown_to = progress or Progress()
    stages: list[Stage] = []
    async with new_session(limit=4) as session:
        kit = Kit(
            probe=ProbeContext(session=session, config=config, clock=clock),
            app=config.app,
            settings=config.deploy,
            sleep=sleep,
            note=shown_to.note,
        )
        for name, run in STAGE_RUNNERS.items():
            shown_to.started(name)
            try:
                stage = await run(kit, target)
            except FirstContactFailed as exc:
                raise AppUnreachable(f"cannot reach the app: {exc}") from None
            stage.saw = shorten(stage.saw)
            stages.append(stage)
            shown_to.finished(stage)
            if not stage.passed:
                break
    return stages


async def verify(
    *,
    store: Store,
    config: Config,
    target: Target,
    actor: str,
    clock: Clock,
    sleep: Sleep,
    progress: Progress | None = None,
) -> Verification:
    """Run the stages, record the deploy and post it to #deploys; a deploy the app never
    answered for (AppUnreachable) is not recorded."""
    started = clock.now()
    stages = await run_stages(
        config=config, target=target, clock=clock, sleep=sleep, progress=progress
    )
    result = _record(store, target=target, actor=actor, stages=stages, started=started, clock=clock)
    result.posted = await announce.post_async(
        store,
        config,
        text=announcement(result),
        key=f"deploy-{result.id}",
        incident_id=None,
        actor=actor,
        clock=clock,
    )
    return result


def _record(
    store: Store,
    *,
    target: Target,
    actor: str,
    stages: list[Stage],
    started: dt.datetime,
    clock: Clock,
) -> Verification:
    failed = next((s.name for s in stages if not s.passed), None)
    row = Deploy(
        kind="verify",
        commit=target.commit,
        env=target.env,
        actor=actor,
        url=target.url,
        verdict="failed" if failed else "passed",
        failed_stage=failed,
        stages=[stage_dict(s) for s in stages],
        started_at=started,
        ended_at=clock.now(),
    )
    with store.session() as session:
        session.add(row)
        session.flush()
    return Verification(
        row.id,
        row.commit,
        row.env,
        row.url,
        row.actor,
        row.verdict,
        row.failed_stage,
        stages,
        row.started_at,
        row.ended_at,
    )


def stage_dict(stage: Stage) -> dict[str, Any]:
    """A stage as the record (and --json) keeps it: times as ISO 8601 text."""
    data = dataclasses.asdict(stage)
    data["started_at"] = stage.started_at.isoformat()
    data["ended_at"] = stage.ended_at.isoformat()
    return data


def announcement(result: Verification) -> str:
    """The line #deploys reads about this verify."""
    if result.verdict == "passed":
        return f"Deployed {result.commit[:12]} to {result.env}: verified ({result.url})"
    stage = next(s for s in result.stages if not s.passed)
    return f"Deploy of {result.commit[:12]} to {result.env} failed at {stage.name}: {stage.saw}"


@dataclass
class DeployRow:
    """One deploy record as `deploy list` shows it."""

    id: int
    commit: str
    env: str
    actor: str
    url: str
    verdict: str
    failed_stage: str | None
    saw: str | None
    started_at: dt.datetime
    ended_at: dt.datetime


def list_deploys(*, store: Store, env: str | None = None, limit: int = 100) -> list[DeployRow]:
    """Deploy records, newest first; a failed one says what its failing stage saw."""
    with store.reading() as session:
        found = records.newest(session, env=env, limit=limit)
        return [
            DeployRow(
                d.id,
                d.commit,
                d.env,
                d.actor,
                d.url,
                d.verdict,
                d.failed_stage,
                next((s.get("saw") for s in d.stages if s.get("name") == d.failed_stage), None),
                d.started_at,
                d.ended_at,
            )
            for d in found
        ]
