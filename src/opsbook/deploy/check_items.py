"""The seed's pre-deployment items that do not post anything: tests passing on main,
staging deployed and tested, database migrations applied, feature flags configured.

Each returns an `Item` saying what it saw and never raises for what it found: a failing
CI, an unreachable database or a missing record is a failed item, so the checklist always
shows all five. Whatever a CI, a command or a database answers is data: cut to a line,
secrets masked, shown by the door through `console.literal`."""

from __future__ import annotations

import asyncio
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from opsbook.bodies import shown
from opsbook.clock import Clock
from opsbook.config import Config
from opsbook.config.checklist import COMMIT, TestsSettings
from opsbook.config.secrets import is_set, mask_text
from opsbook.deploy import records
from opsbook.postgres import service as pg
from opsbook.postgres.migrations import Status
from opsbook.programs import run_argv
from opsbook.store import Store
from opsbook.watch.checks.fetch import Unreachable, request, short
from opsbook.watch.probe import ProbeContext, new_session

Outcome = Literal["passed", "failed", "confirmed", "skipped"]
# GitHub's combined status: `state` is one of these (FORMATS.md names no CI format).
CI_STATES = ("success", "pending", "failure", "error")
_HEX = re.compile(r"[0-9a-fA-F]{4,64}")
_KEPT = 4000  # characters of a command's output kept in the record
_NAMED = 10  # pending migrations named before "and N more"


@dataclass
class Item:
    """One line of the checklist: what was looked at and what it showed; `by` is the
    person whose word a confirmed item is."""

    name: str
    title: str
    outcome: Outcome
    saw: str
    by: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.outcome == "failed"


@dataclass(frozen=True)
class Confirmation:
    """A person's word on an item: who gave it, or (`by` None) how one gives it, in the
    words of the door that asked."""

    by: str | None
    how: str = "no one confirmed it"


TITLES = {
    "tests": "All tests passing on main",
    "staging": "Staging deployed and tested",
    "migrations": "Database migrations applied (if any)",
    "flags": "Feature flags configured (if new feature)",
    "notified": "Team notified in #deploys",
}


def _item(name: str, outcome: Outcome, saw: str, **details: Any) -> Item:
    return Item(name, TITLES[name], outcome, saw, details=details)


async def tests_passing(
    config: Config, *, commit: str, secrets: list[str], cap: float | None, clock: Clock
) -> Item:
    """The configured command's exit, or the CI's combined status for the commit."""
    settings = config.deploy.checklist.tests
    if settings is None:
        return _item("tests", "skipped", "nothing configured to ask (deploy.checklist.tests)")
    limit = settings.limit.total_seconds()
    timeout = limit if cap is None else min(limit, cap)
    if settings.command is not None:
        return await _command(settings.command, config, commit, secrets, timeout)
    return await _ci_status(settings, config, commit, secrets, timeout, clock)


async def _command(
    argv: list[str], config: Config, commit: str, secrets: list[str], timeout: float
) -> Item:
    words = [word.replace(COMMIT, commit) for word in argv]
    said = mask_text(shlex.join(words), secrets)
    ran = await asyncio.to_thread(
        run_argv, words, timeout=timeout, secrets=secrets, cwd=config.base_dir
    )
    tail = str(ran.get("output", ""))[-_KEPT:]
    details = {"argv": said, "exit_code": ran["exit_code"], "output": tail}
    if ran["finding"] is None:
        return _item("tests", "passed", f"{said} exited 0", **details)
    last = short(next((ln for ln in reversed(tail.splitlines()) if ln.strip()), ""), 200)
    return _item(
        "tests", "failed", f"{said}: {ran['finding']}" + (f": {last}" if last else ""), **details
    )


async def _ci_status(
    settings: TestsSettings,
    config: Config,
    commit: str,
    secrets: list[str],
    timeout: float,
    clock: Clock,
) -> Item:
    """FORMATS.md names no CI format, so this reads GitHub's documented combined status,
    `GET /repos/{owner}/{repo}/commits/{ref}/status`:
    `{"state": "success"|"pending"|"failure"|"error", "sha": ..., "statuses": [...]}`.
    Only success passes; the answer must be about this commit (a URL naming `main` whose
    head has moved on is a status of another commit)."""
    url = (settings.status_url or "").replace(COMMIT, commit)
    headers = {"Accept": "application/vnd.github+json"}
    if is_set(settings.token) and settings.token is not None:
        headers["Authorization"] = f"Bearer {settings.token.reveal()}"
    where = mask_text(url, secrets)
    try:
        async with new_session(limit=1) as session:
            probe = ProbeContext(session=session, config=config, clock=clock)
            answer = await request(probe, "GET", url, timeout=timeout, headers=headers)
    except Unreachable as exc:
        return _item("tests", "failed", f"cannot reach the CI at {where}: {exc}", url=where)
    if answer.status != 200:
        body = mask_text(short(answer.text, 120), secrets)
        return _item("tests", "failed", f"the CI answered {answer.status}: {body}", url=where)
    try:
        status = answer.json()
    except ValueError:
        said = "the CI's answer is not JSON within bounds (256 KiB, 64 levels deep)"
        return _item("tests", "failed", said, url=where)
    return _judge_status(status, commit, where)


def _judge_status(status: Any, commit: str, where: str) -> Item:
    state = status.get("state") if isinstance(status, dict) else None
    sha = status.get("sha") if isinstance(status, dict) else None
    if state not in CI_STATES:
        said = f"the CI's answer holds no state ({', '.join(CI_STATES)}): {shown(state)}"
        return _item("tests", "failed", said, url=where)
    if not isinstance(sha, str) or not _HEX.fullmatch(sha):
        return _item("tests", "failed", f"the CI's answer names no commit: {shown(sha)}", url=where)
    sha = sha.lower()
    # The CI names the full commit it built: a short one ("abcd") could be any commit's
    # start, so only a full sha that begins with (or is) the commit given counts.
    if len(sha) < 40 or not sha.startswith(commit):
        said = f"the CI's status is for {sha[:12]}, not {commit[:12]}"
        return _item("tests", "failed", said, url=where, state=state, sha=sha)
    failing = _failing_contexts(status.get("statuses"))
    details = {"url": where, "state": state, "sha": sha, "failing": failing}
    if state == "success":
        return _item("tests", "passed", f"CI: success for {sha[:12]}", **details)
    said = f"CI: {state} for {sha[:12]}" + (f" ({', '.join(failing)})" if failing else "")
    if state == "pending":
        said += ": the tests have not finished"
    return _item("tests", "failed", said, **details)


def _failing_contexts(statuses: Any) -> list[str]:
    """The names of the first few statuses that did not succeed, each cut to a word or two."""
    if not isinstance(statuses, list):
        return []
    found = [
        short(str(s.get("context")), 60)
        for s in statuses[:1000]
        if isinstance(s, dict) and s.get("state") != "success" and s.get("context")
    ]
    return found[:3]


def staging_verified(store: Store, *, commit: str, env: str) -> Item:
    """The newest staging deploy record of this commit decides: passed, failed, or none."""
    if env == "staging":
        return _item("staging", "skipped", "this checklist is for staging itself")
    with store.reading() as session:
        found = records.newest_at(session, env="staging", commit=commit)
        if found is None:
            said = f"no deploy of {commit[:12]} to staging is recorded: verify it there first"
            return _item("staging", "failed", said)
        deploy = {"deploy": found.id, "verdict": found.verdict, "by": found.actor}
        when = found.ended_at.strftime("%Y-%m-%d %H:%M UTC")
        if found.verdict == "passed":
            said = f"deploy #{found.id} verified {found.commit[:12]} in staging at {when}"
            return _item("staging", "passed", said, **deploy)
        saw = next((s.get("saw") for s in found.stages if s.get("name") == found.failed_stage), "")
        said = f"staging deploy #{found.id} {found.verdict} at {found.failed_stage}: {saw}"
        return _item("staging", "failed", said, **deploy)


def migrations_applied(config: Config, *, database_url: str | None) -> Item:
    """Pending migrations of the configured folder, as `db migrations status` reads them."""
    checklist = config.deploy.checklist
    directory = config.resolve_path(checklist.migrations)
    if database_url is None:
        off = config.off_reason("database")
        why = off or "database.url is not set"
        return _item("migrations", "skipped", f"no target database: {why}")
    if not directory.is_dir():
        if "migrations" in checklist.model_fields_set:
            said = f"{directory} is not a folder of migrations (deploy.checklist.migrations)"
            return _item("migrations", "failed", said)
        return _item("migrations", "skipped", f"no migrations folder at {directory}")
    try:
        found = _status(database_url, directory)
    except pg.PostgresError as exc:
        return _item("migrations", "failed", mask_text(exc.text(), [database_url]))
    pending = [m.label for m in found.pending]
    details = {"pending": pending, "applied": len(found.applied), "folder": str(directory)}
    if not pending:
        latest = f", latest {found.applied[-1].label}" if found.applied else ""
        said = f"none pending ({len(found.applied)} applied{latest})"
        return _item("migrations", "passed", said, **details)
    named = ", ".join(pending[:_NAMED]) + (
        f" and {len(pending) - _NAMED} more" if len(pending) > _NAMED else ""
    )
    return _item("migrations", "failed", f"{len(pending)} pending: {named}", **details)


def _status(database_url: str, directory: Path) -> Status:
    with pg.connect(database_url) as conn:
        return pg.migration_status(conn=conn, directory=directory)


def flags_configured(confirmation: Confirmation) -> Item:
    """A person's word: opsbook cannot see the flags."""
    if confirmation.by is None:
        return _item("flags", "failed", f"not confirmed: {confirmation.how}")
    item = _item("flags", "confirmed", f"confirmed by {confirmation.by}")
    item.by = confirmation.by
    return item
