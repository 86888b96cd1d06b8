"""Two-way acknowledge: a responder acknowledges or resolves an incident in PagerDuty or
with a Slack button, and opsbook does the same through the incident service.

`act` is the one operation both doors (`notify/api.py`) call. It runs in one short
transaction that locks the incident row first, so twenty copies of one webhook arriving
at once serialise there: the first acknowledges, the rest find it acknowledged. The far
side's id of the request is kept on the timeline event it made (`delivery`): a replay of
it finds that event and changes nothing. The monitoring guard still applies to a resolve;
a refused one is noted on the timeline with the reason, and answered 200 all the same
(PagerDuty would otherwise retry a request that can only be refused again).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.orm import Session

from opsbook.clock import Clock
from opsbook.config import Config
from opsbook.config.notify import PagerDutyChannel, SlackChannel
from opsbook.config.secrets import Secret, is_set
from opsbook.incidents import service as incidents
from opsbook.incidents.lifecycle import Status
from opsbook.notify.events import CAME_FROM
from opsbook.notify.message import incident_for_key
from opsbook.notify.signing import Signer
from opsbook.store import Store
from opsbook.store.audit import record

log = logging.getLogger("opsbook.notify")

Source = Literal["pagerduty", "slack"]
Action = Literal["acknowledge", "resolve"]
Outcome = Literal["acknowledged", "resolved", "refused", "unchanged", "unknown", "replayed"]
ACTOR_LIMIT = 200  # the timeline's actor column
SOURCES: dict[str, str] = {"pagerduty": "PagerDuty", "slack": "Slack"}


@dataclass(frozen=True)
class RemoteAction:
    """What the far side asks: `key` is the incident key opsbook sent (PagerDuty's
    dedup_key, a Slack button's value); `delivery` the far side's id for this request."""

    source: Source
    action: Action
    key: str
    actor: str
    delivery: str | None
    channels: tuple[str, ...] = ()


@dataclass(frozen=True)
class RemoteOutcome:
    outcome: Outcome
    incident_id: int | None
    text: str  # in words, for Slack's reply and serve's log


def actor_name(source: Source, name: str) -> str:
    """`pagerduty:Jane Doe`, cut to what the timeline holds. The name is kept as sent:
    every screen shows it through `console.safe`, every message through `visible`."""
    return f"{source}:{name.strip() or 'unknown'}"[:ACTOR_LIMIT]


def signers(config: Config, source: Source) -> list[Signer]:
    """The configured secrets for `source`, each with the channels that carry it; empty
    when none is set (the door answers "not configured")."""
    by_secret: dict[str, list[str]] = {}
    for channel in config.notify.channels:
        secret = _inbound_secret(channel, source)
        if secret is not None and is_set(secret):
            by_secret.setdefault(secret.reveal(), []).append(channel.name)
    return [Signer(secret, tuple(names)) for secret, names in by_secret.items()]


def _inbound_secret(channel: object, source: Source) -> Secret | None:
    if source == "pagerduty" and isinstance(channel, PagerDutyChannel):
        return channel.webhook_secret
    if source == "slack" and isinstance(channel, SlackChannel):
        return channel.signing_secret
    return None


def act(store: Store, config: Config, request: RemoteAction, *, clock: Clock) -> RemoteOutcome:
    """Acknowledge or resolve the incident `request.key` names, as `request.actor`; audited.
    A key that is not one of this project's incidents is left alone (it may be another
    tool's, sharing the PagerDuty service)."""
    incident_id = incident_for_key(config.project, request.key)
    if incident_id is None:
        return _unknown(request)
    with store.session() as session:
        try:
            incident = incidents.get(session, incident_id=incident_id, lock=True)
        except incidents.IncidentNotFound:
            return _unknown(request)
        if _seen(session, incident_id, request):
            return RemoteOutcome("replayed", incident_id, "already done (a repeated request)")
        status = Status(incident.status)
        if request.action == "acknowledge":
            return _acknowledge(session, incident_id, status, request, clock)
        return _resolve(session, config, incident_id, status, request, clock)


def _unknown(request: RemoteAction) -> RemoteOutcome:
    log.info(
        "ignored a %s %s for %r: not an incident of this opsbook",
        SOURCES[request.source],
        request.action,
        request.key,
    )
    return RemoteOutcome("unknown", None, "no opsbook incident has that key")


def _seen(session: Session, incident_id: int, request: RemoteAction) -> bool:
    """Whether this request already left its mark on the timeline (read under the row
    lock, so a copy committed a moment ago is seen)."""
    if request.delivery is None:
        return False
    return any(
        event.data.get("via") == request.source and event.data.get("delivery") == request.delivery
        for event in incidents.timeline(session, incident_id=incident_id)
        if event.kind in ("status", "note", "acknowledged") and event.data
    )


def _data(request: RemoteAction) -> dict[str, Any]:
    return {"via": request.source, "delivery": request.delivery, CAME_FROM: list(request.channels)}


def _acknowledge(
    session: Session, incident_id: int, status: Status, request: RemoteAction, clock: Clock
) -> RemoteOutcome:
    done = incidents.acknowledge(
        session,
        incident_id=incident_id,
        actor=request.actor,
        clock=clock,
        message=f"Acknowledged in {SOURCES[request.source]}",
        only_if_open=True,  # or a relapse awaiting its owner
        data=_data(request),
    )
    if done is None:
        return RemoteOutcome("unchanged", incident_id, f"incident #{incident_id} is {status}")
    _audit(session, incident_id, request, "ok", clock)
    return RemoteOutcome("acknowledged", incident_id, f"acknowledged incident #{incident_id}")


def _resolve(
    session: Session,
    config: Config,
    incident_id: int,
    status: Status,
    request: RemoteAction,
    clock: Clock,
) -> RemoteOutcome:
    if status is Status.RESOLVED:
        return RemoteOutcome("unchanged", incident_id, f"incident #{incident_id} is resolved")
    try:
        incidents.resolve(
            session,
            incident_id=incident_id,
            actor=request.actor,
            clock=clock,
            policy=config.incidents,
            message=f"Resolved in {SOURCES[request.source]}",
            data=_data(request),
        )
    except incidents.IncidentError as exc:  # the monitoring guard: nothing was changed
        why = exc.worded(lambda name: f"--force (opsbook incident resolve {incident_id} --force)")
        incidents.note(
            session,
            incident_id=incident_id,
            actor=request.actor,
            clock=clock,
            text=f"{SOURCES[request.source]} asked to resolve; opsbook refused: {why}",
            data=_data(request) | {"refused": "resolve"},
        )
        _audit(session, incident_id, request, "refused", clock, reason=why)
        return RemoteOutcome("refused", incident_id, why)
    _audit(session, incident_id, request, "ok", clock)
    return RemoteOutcome("resolved", incident_id, f"resolved incident #{incident_id}")


def _audit(
    session: Session,
    incident_id: int,
    request: RemoteAction,
    outcome: str,
    clock: Clock,
    **details: str | None,
) -> None:
    record(
        session,
        action=f"incident.{request.action}",
        target=f"incident #{incident_id}",
        outcome=outcome,
        actor=request.actor,
        details={"via": request.source, "delivery": request.delivery, **details},
        clock=clock,
    )
