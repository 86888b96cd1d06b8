"""Incident operations: open, acknowledge, update, note, change severity, resolve.

This module is also the domain's front door. Other domains (watch, runbooks, postgres,
the demo) and both of its own doors (cli*.py, actions.py) import `incidents.service` and
find here every operation and query, wherever it lives: records.py (the row and the
timeline, `log_event` the one way onto it), items.py (action items), postmortem.py,
queries.py. Each operation takes the session first, then keyword-only inputs, the actor
and the clock; it returns what it made, or raises an IncidentError in the domain's words
and changes nothing. Every change locks the incident row first, so two responders acting
at once serialise, never clobber.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from opsbook.clock import Clock
from opsbook.config.models import IncidentPolicy
from opsbook.config.secrets import mask_text
from opsbook.incidents import monitoring
from opsbook.incidents import relapse as relapses
from opsbook.incidents.errors import (
    UPDATE_STATUSES,
    IllegalMove,
    IncidentError,
    IncidentNotFound,
    parse_severity,
    parse_status,
    required,
)
from opsbook.incidents.items import (
    DEFAULT_ACTION_ITEM,
    add_action,
    add_default_item,
    complete_action,
    list_actions,
)
from opsbook.incidents.lifecycle import Status, allowed_moves, can_move
from opsbook.incidents.models import Incident, IncidentEvent
from opsbook.incidents.postmortem import (
    POSTMORTEM_FIELDS,
    PostmortemDocument,
    mark_postmortem,
    postmortem_state,
    set_postmortem_fields,
    write_postmortem,
)
from opsbook.incidents.queries import (
    DueClock,
    IncidentDetail,
    IncidentSummary,
    clocks_for,
    detail,
    due_clocks,
    list_incidents,
    report,
    summaries,
)
from opsbook.incidents.records import get, log_event, timeline, timelines
from opsbook.incidents.relapse import relapse

__all__ = [
    "DEFAULT_ACTION_ITEM",
    "POSTMORTEM_FIELDS",
    "UPDATE_STATUSES",
    "DueClock",
    "IllegalMove",
    "IncidentDetail",
    "IncidentError",
    "IncidentNotFound",
    "IncidentSummary",
    "PostmortemDocument",
    "Status",
    "acknowledge",
    "add_action",
    "change_severity",
    "clocks_for",
    "complete_action",
    "detail",
    "due_clocks",
    "get",
    "list_actions",
    "list_incidents",
    "log_event",
    "mark_postmortem",
    "move",
    "note",
    "open_incident",
    "parse_severity",
    "parse_status",
    "postmortem_state",
    "relapse",
    "report",
    "resolve",
    "set_postmortem_fields",
    "summaries",
    "timeline",
    "timelines",
    "update",
    "write_postmortem",
]


def open_incident(
    session: Session,
    *,
    title: str,
    severity: str,
    actor: str,
    clock: Clock,
    component: str | None = None,
    symptoms: Sequence[str] = (),
    message: str | None = None,
    public: bool = False,
) -> Incident:
    """Open an incident; its SLA clocks start now. `message` is the first update (the
    title when none), published when `public`."""
    # An incident's own fields are masked like its timeline: a pasted connection string
    # or a configured secret never reaches the store or a screen.
    incident = Incident(
        title=mask_text(required(title, "the title")),
        severity=parse_severity(severity),
        status=Status.OPEN.value,
        component=(component or "").strip() or None,
        symptoms=[mask_text(s.strip()) for s in symptoms if s.strip()],
        opened_at=clock.now(),
        opened_by=actor,
    )
    session.add(incident)
    session.flush()
    log_event(
        session,
        incident=incident,
        kind="opened",
        actor=actor,
        clock=clock,
        text=(message or "").strip() or incident.title,
        public=public,
        data={
            "severity": incident.severity,
            "component": incident.component,
            "symptoms": incident.symptoms,
        },
    )
    add_default_item(session, incident=incident, clock=clock)
    return incident


def move(
    session: Session,
    *,
    incident_id: int,
    status: Status,
    actor: str,
    clock: Clock,
    message: str | None = None,
    public: bool = False,
    data: dict[str, Any] | None = None,
) -> IncidentEvent:
    """Move to `status` if the lifecycle allows it from where the incident stands; the
    refusal names the moves that are allowed."""
    incident = get(session, incident_id=incident_id, lock=True)
    current = Status(incident.status)
    if not can_move(current, status):
        allowed = ", ".join(s.value for s in allowed_moves(current))
        raise IllegalMove(
            f"incident #{incident.id} is {current.value}; it cannot move to {status.value}"
            f" (allowed from {current.value}: {allowed})"
        )
    incident.status = status.value
    return log_event(
        session,
        incident=incident,
        kind="status",
        actor=actor,
        clock=clock,
        text=(message or "").strip(),
        public=public,
        data={"from": current.value, "to": status.value, **(data or {})},
    )


def acknowledge(
    session: Session,
    *,
    incident_id: int,
    actor: str,
    clock: Clock,
    message: str | None = None,
    only_if_open: bool = False,
    data: dict[str, Any] | None = None,
) -> IncidentEvent | None:
    """Acknowledge an open incident (the runbook asks for it within 5 minutes), or own a
    relapse (relapse.py) again.

    One already past open is refused, so a second responder learns someone took it; with
    `only_if_open` it is left as it is and None comes back, so a runbook's acknowledge step
    does not stop the procedure. Either way the status is read under the row lock: an
    acknowledgement landing in between is seen, never overwritten. `data` is kept on the
    timeline event (where a remote acknowledge came from)."""
    incident = get(session, incident_id=incident_id, lock=True)
    if incident.status != Status.OPEN.value:
        owned = relapses.acknowledge(
            session, incident_id=incident_id, actor=actor, clock=clock, message=message, data=data
        )
        if owned is not None:
            return owned
        if only_if_open:
            return None
        raise IllegalMove(f"incident #{incident.id} is already {incident.status}")
    return move(
        session,
        incident_id=incident_id,
        status=Status.ACKNOWLEDGED,
        actor=actor,
        clock=clock,
        message=message,
        data=data,
    )


def update(
    session: Session,
    *,
    incident_id: int,
    actor: str,
    clock: Clock,
    status: str | None = None,
    message: str | None = None,
    public: bool = False,
) -> IncidentEvent:
    """A status change, a message, or both; the same status again is a plain update.

    Resolving is refused here: resolve checks that the fix has held first. A resolved
    incident moved back to investigating is reopened."""
    if status is None:
        if message is None:
            raise IncidentError("give {status}, {message}, or both", names=("status", "message"))
        text = required(message, "the update message")
        incident = get(session, incident_id=incident_id, lock=True)
        return log_event(
            session,
            incident=incident,
            kind="update",
            actor=actor,
            clock=clock,
            text=text,
            public=public,
        )
    target = parse_status(status)
    if target is Status.RESOLVED:
        raise IncidentError(
            "to resolve, use {resolve}, which first checks that the fix has held",
            names=("resolve",),
        )
    incident = get(session, incident_id=incident_id, lock=True)
    if incident.status == target.value and target is not Status.OPEN:
        text = (message or "").strip()
        if not text:
            raise IncidentError(
                f"incident #{incident.id} is already {target.value}; give {{message}} to post"
                " an update",
                names=("message",),
            )
        return log_event(
            session,
            incident=incident,
            kind="update",
            actor=actor,
            clock=clock,
            text=text,
            public=public,
            data={"status": target.value},
        )
    return move(
        session,
        incident_id=incident_id,
        status=target,
        actor=actor,
        clock=clock,
        message=message,
        public=public,
    )


def note(
    session: Session,
    *,
    incident_id: int,
    actor: str,
    clock: Clock,
    text: str,
    data: dict[str, Any] | None = None,
) -> IncidentEvent:
    """A private line on the timeline ("document all actions taken")."""
    incident = get(session, incident_id=incident_id, lock=True)
    return log_event(
        session,
        incident=incident,
        kind="note",
        actor=actor,
        clock=clock,
        text=required(text, "the note"),
        data=data,
    )


def change_severity(
    session: Session, *, incident_id: int, severity: str, reason: str, actor: str, clock: Clock
) -> IncidentEvent:
    """Raise or lower the severity, with the reason on the timeline; the clocks that depend
    on severity restart from this moment."""
    target = parse_severity(severity)
    why = required(reason, "the reason")
    incident = get(session, incident_id=incident_id, lock=True)
    if incident.severity == target:
        raise IncidentError(f"incident #{incident.id} is already {target}")
    before = incident.severity
    incident.severity = target
    direction = "raised" if target < before else "lowered"
    return log_event(
        session,
        incident=incident,
        kind="severity",
        actor=actor,
        clock=clock,
        text=f"severity {direction} {before} -> {target}: {why}",
        data={"from": before, "to": target, "reason": why},
    )


def resolve(
    session: Session,
    *,
    incident_id: int,
    actor: str,
    clock: Clock,
    policy: IncidentPolicy,
    message: str | None = None,
    public: bool = True,
    force: bool = False,
    data: dict[str, Any] | None = None,
) -> IncidentEvent:
    """Resolve after the fix has held in monitoring for `monitor_for`, or sooner with force
    (said on the timeline); the post-mortem is then due. `data` is kept on the event."""
    incident = get(session, incident_id=incident_id, lock=True)
    current = Status(incident.status)
    if current is Status.RESOLVED:
        raise IllegalMove(f"incident #{incident.id} is already resolved")
    now = clock.now()
    monitored = monitoring.monitored_for(timeline(session, incident_id=incident_id), current, now)
    early = monitored < policy.monitor_for
    if early and not force:
        raise IllegalMove(
            f"incident #{incident.id} cannot be resolved yet: "
            f"{monitoring.too_early(current, monitored, policy, now)}."
            " Pass {force} to resolve now; that is noted on the timeline",
            names=("force",),
        )
    text = (message or "").strip() or "Resolved"
    data = {**(data or {}), "monitored_seconds": int(monitored.total_seconds())}
    if early:
        # The record post-mortems read, as a private note: customers reading the status
        # page get the message alone, never how the command was typed.
        note(
            session,
            incident_id=incident_id,
            actor=actor,
            clock=clock,
            text=(
                f"resolved early with --force after {monitoring.minutes(monitored)} of monitoring;"
                f" the runbook asks for {monitoring.minutes(policy.monitor_for)}"
            ),
        )
        data["forced"] = True
    return move(
        session,
        incident_id=incident_id,
        status=Status.RESOLVED,
        actor=actor,
        clock=clock,
        message=text,
        public=public,
        data=data,
    )
