"""A routed alert's lines on its incident's timeline: the alert itself, its later news,
and the runbook suggested for the incident it opened."""

from __future__ import annotations

import shlex
from typing import Any

from sqlalchemy.orm import Session

from opsbook.clock import Clock
from opsbook.incidents import service as incidents
from opsbook.incidents.models import Incident
from opsbook.watch.models import Alert

ACTOR = "opsbook-watch"


def note(session: Session, alert: Alert, text: str, *, clock: Clock) -> None:
    """Later news of a routed alert (critical now, resolved) on its incident's timeline."""
    assert alert.incident_id is not None
    incident = incidents.get(session, incident_id=alert.incident_id)
    alert_event(session, incident, alert, text, clock)


def alert_event(
    session: Session,
    incident: Incident,
    alert: Alert,
    text: str,
    clock: Clock,
    *,
    grouped: bool = False,
    follows: int | None = None,
    followed_by: int | None = None,
) -> None:
    """An alert's line on an incident's timeline. Not flushed one by one: a storm writes
    thousands, and they go out together with the transaction."""
    data: dict[str, Any] = {"alert": alert.id, "rule": alert.rule}
    if grouped:
        data["grouped"] = True
    if follows is not None:
        data["follows"] = follows
    if followed_by is not None:
        data["followed_by"] = followed_by
    incidents.log_event(
        session,
        incident=incident,
        kind="alert",
        actor=ACTOR,
        clock=clock,
        text=text,
        data=data,
        flush=False,
    )


def suggested(session: Session, incident: Incident, runbook: str, clock: Clock) -> None:
    """The runbook to run, on the incident's timeline as a command a responder can paste.
    The name may be a sender's (an Alertmanager `runbook` annotation): quoted as one shell
    word, so pasting it runs opsbook and nothing else."""
    command = f"opsbook runbook run {shlex.quote(runbook)}"
    incidents.log_event(
        session,
        incident=incident,
        kind="runbook.suggested",
        actor=ACTOR,
        clock=clock,
        text=f"suggested runbook: {command} --incident {incident.id}",
        data={"runbook": runbook},
    )
