"""The seed's pre-deployment checklist, one operation: `opsbook deploy check` and the
runbook action `deploy.check` are thin doors over `run_checklist`.

Machine-checkable items are checked (check_items.py); feature flags are a person's word,
recorded with who gave it; the team is told in #deploys last, and only when nothing
above failed ("Deploying X" to a team when the tests fail would be a false start).

The checklist is a row of its own (`deploy_checks`), not a stage list on a deploy record:
a deploy record is a version that served (`last_verified_commit`, the commits a rollback
may go back to read any passed row), and a checklist serves nothing. The row is written
first, as running, and is finished with the items and the verdict; a run killed in
between stays `running`. The #deploys post is keyed by commit and env: "Deploying X to
production" is said once, however many checks pass (until the outbox prunes it); a post
not yet delivered is sent again by the next check (announce.py)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

from opsbook.clock import Clock
from opsbook.config import Config
from opsbook.config.secrets import is_set, secrets_of
from opsbook.deploy import announce, records
from opsbook.deploy.check_items import (
    TITLES,
    Confirmation,
    Item,
    Outcome,
    flags_configured,
    migrations_applied,
    staging_verified,
    tests_passing,
)
from opsbook.deploy.models import DeployCheck
from opsbook.deploy.service import check_commit, check_env
from opsbook.store import Store

__all__ = [
    "Checklist",
    "Confirmation",
    "Item",
    "passed_check",
    "run_checklist",
    "target_database",
]


@dataclass
class Checklist:
    """One checklist as recorded: `id` is its row's."""

    id: int
    commit: str
    env: str
    actor: str
    verdict: str
    items: list[Item]
    started_at: dt.datetime
    ended_at: dt.datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "commit": self.commit,
            "env": self.env,
            "actor": self.actor,
            "verdict": self.verdict,
            "items": [dataclasses.asdict(i) for i in self.items],
            "started_at": self.started_at.isoformat(),
            "ended_at": self.ended_at.isoformat(),
        }


async def run_checklist(
    *,
    store: Store,
    config: Config,
    commit: str,
    env: str,
    actor: str,
    clock: Clock,
    flags: Confirmation,
    database_url: str | None,
    secrets: list[str] | None = None,
    timeout: float | None = None,
) -> Checklist:
    """Check, ask and post the seed's five items for deploying `commit` to `env`; record
    them. DeployInputError for a commit or env that is not one; nothing is recorded then.
    `timeout` caps the test command (a runbook step's own limit)."""
    commit, env = check_commit(commit), check_env(env)
    started = clock.now()
    with store.session() as session:
        row = DeployCheck(
            commit=commit, env=env, actor=actor, verdict="running", items=[], started_at=started
        )
        session.add(row)
        session.flush()
        check_id = row.id
    masked = [*secrets_of(config), *(secrets or [])]
    items = [
        await tests_passing(config, commit=commit, secrets=masked, cap=timeout, clock=clock),
        staging_verified(store, commit=commit, env=env),
        migrations_applied(config, database_url=database_url),
        flags_configured(flags),
    ]
    items.append(await _notify(store, config, items, commit, env, actor, clock))
    verdict = "failed" if any(i.failed for i in items) else "passed"
    ended = clock.now()
    with store.session() as session:
        found = session.get(DeployCheck, check_id)
        assert found is not None
        found.items = [dataclasses.asdict(i) for i in items]
        found.verdict, found.ended_at = verdict, ended
    return Checklist(check_id, commit, env, actor, verdict, items, started, ended)


async def _notify(
    store: Store,
    config: Config,
    items: list[Item],
    commit: str,
    env: str,
    actor: str,
    clock: Clock,
) -> Item:
    """Tell the team, once the items above hold; delivered passes, anything else fails
    with how it stands (queued is not yet told)."""
    title = TITLES["notified"]
    failed = [i.name for i in items if i.failed]
    if failed:
        return Item("notified", title, "skipped", f"not posted: {', '.join(failed)} failed")
    posted = await announce.post_async(
        store,
        config,
        text=f"Deploying {commit} to {env}",
        # Keyed by what it announces, not by this checklist: a second passing check of
        # the same commit and env says the team was told and tells them nothing new.
        key=f"deploy-announce-{env}-{_full_commit(items, commit)}",
        incident_id=None,
        actor=actor,
        clock=clock,
    )
    outcome: Outcome = "passed" if posted.status == "delivered" else "failed"
    saw = f"{posted.channel}: {posted.words}"
    return Item("notified", title, outcome, saw, details=posted.as_dict())


def _full_commit(items: list[Item], commit: str) -> str:
    """The full sha the CI named for `commit` (the tests item passed only when it begins
    with the commit given), so that `abc1234` and its 40 digits are one announcement;
    else the commit as given (lowercased by check_commit): a test command names none."""
    sha = next((i.details.get("sha") for i in items if i.name == "tests"), None)
    return sha if isinstance(sha, str) and sha.startswith(commit) else commit


def target_database(config: Config) -> str | None:
    """database.url, when it is set; None skips the migrations item."""
    configured = config.database.url
    return configured.reveal() if configured is not None and is_set(configured) else None


def passed_check(*, store: Store, commit: str, env: str) -> int | None:
    """The id of the newest passed checklist of `commit` for `env`, if there is one."""
    with store.reading() as session:
        found = records.passed_check(session, env=env, commit=commit)
        return found.id if found is not None else None
