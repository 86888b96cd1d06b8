"""Planning a rollback: what serves now, which deployment to go back to, and why; read
only (the provider is asked to list, never to act). rollback.py acts on the plan."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from dataclasses import dataclass

from opsbook.bodies import shown
from opsbook.clock import Clock
from opsbook.config import Config
from opsbook.config.secrets import secrets_of
from opsbook.deploy import records
from opsbook.deploy.command import Command
from opsbook.deploy.providers import Candidate, Provider, ProviderError
from opsbook.deploy.service import DeployInputError, check_commit, target_url
from opsbook.deploy.serving import same_commit, served_commit
from opsbook.deploy.vercel import Vercel
from opsbook.incidents import queries as incident_queries
from opsbook.incidents import service as incidents
from opsbook.incidents.errors import IncidentNotFound
from opsbook.store import Store
from opsbook.watch.probe import ProbeContext, new_session

# What the command provider passes on (`--to`): an id, a commit or a URL, no shell syntax.
_DEPLOYMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}")

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


def provider_for(config: Config, probe: ProbeContext, known: list[Candidate]) -> Provider:
    settings = config.deploy
    if settings.provider == "vercel" and settings.vercel is not None:
        return Vercel(settings.vercel, probe)
    if settings.provider == "command" and settings.command is not None:
        return Command(
            settings.command, cwd=config.base_dir, known=known, secrets=secrets_of(config)
        )
    raise DeployInputError("no rollback provider: set deploy.provider to vercel or command")


def promote_wait(config: Config) -> dt.timedelta:
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
    if to is not None and (not to.strip() or len(to) > 2000 or not to.isprintable()):
        raise DeployInputError(f"deployment {shown(to)} is not a deployment id or URL")
    if to is not None and to.startswith("-"):
        # It would reach the provider's command as an option (`--to -x`).
        raise DeployInputError(f"deployment {shown(to)} starts with '-': not a deployment id")
    if to is not None and config.deploy.provider == "command" and not _DEPLOYMENT.fullmatch(to):
        # The command is the operator's; what it does with the id (an inline script, ssh,
        # a wrapper) cannot be known, so the id holds nothing a shell reads as code.
        raise DeployInputError(
            f"deployment {shown(to)} is not a deployment id: letters, digits and . _ : / @ + -"
            " only, at most 200"
        )
    noted, incident_note = _incident(store, incident_id)
    with store.reading() as session:
        known = [Candidate(c, "", c) for c in records.good_commits(session, env=env)]
    async with new_session(limit=2) as session:
        probe = ProbeContext(session=session, config=config, clock=clock)
        provider = provider_for(config, probe, known)
        served = await served_commit(probe, config.app, app_url)
        try:
            listed = await provider.deployments()
        except ProviderError as exc:
            raise RollbackFailed(str(exc)) from None
    current = _current(listed, served)
    target = _target(provider.name, listed, current, to, config, served)
    verified = _commit_of(target, given)
    target = dataclasses.replace(target, commit=verified)  # what `{commit}` stands for
    if to is None and served is not None and same_commit(served, verified):
        raise RollbackFailed(f"the app already serves {verified[:12]}: nothing to roll back")
    return RollbackPlan(
        env, provider.name, app_url, served, current, target, verified, why, noted, incident_note
    )


def _current(listed: list[Candidate], served: str | None) -> Candidate | None:
    """The listed deployment serving now: the newest of the commit the app reports; when
    the app reports none, the newest listed; when it reports one nobody listed (a deploy
    not yet verified), none."""
    if served is None:
        return listed[0] if listed else None
    return next((c for c in listed if c.commit and same_commit(c.commit, served)), None)


def _target(
    provider: str,
    listed: list[Candidate],
    current: Candidate | None,
    to: str | None,
    config: Config,
    served: str | None = None,
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
    after = listed[listed.index(current) + 1 :] if current in listed else listed
    now = current.commit if current and current.commit else served
    earlier = [c for c in after if not (now and c.commit and same_commit(c.commit, now))]
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
