"""Incident operations. Every timeline entry goes through `log_event`; every state change
locks the incident row first, so two responders acting at once serialise, never clobber."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from opsbook.clock import Clock
from opsbook.config.models import SEVERITY_NAMES, Config, IncidentPolicy
from opsbook.config.secrets import mask_text, mask_value
from opsbook.incidents.clocks import SlaClock, compute_clocks
from opsbook.incidents.lifecycle import Status, allowed_moves, can_move
from opsbook.incidents.models import ActionItem, Incident, IncidentEvent

DEFAULT_ACTION_ITEM = "Update runbook"
UPDATE_STATUSES = ("acknowledged", "investigating", "identified", "monitoring")


class IncidentError(ValueError):
    """Bad input or a move the lifecycle forbids; nothing was changed."""


class IncidentNotFound(IncidentError):
    pass


class IllegalMove(IncidentError):
    pass


# --- the one way onto the timeline ----------------------------------------------------------


def log_event(
    session: Session,
    *,
    incident: Incident,
    kind: str,
    actor: str,
    clock: Clock,
    text: str = "",
    public: bool = False,
    data: dict[str, Any] | None = None,
    flush: bool = True,
) -> IncidentEvent:
    """Append one line to the timeline (flushed at once unless the caller writes many).

    Secrets are masked here, the one door to the timeline: those of the runbook being run
    (`config.secrets.masking`) and every password or credential by its shape."""
    event = IncidentEvent(
        incident_id=incident.id,
        at=clock.now(),
        actor=actor,
        kind=kind,
        text=mask_text(text),
        public=public,
        data=mask_value(data or {}),
    )
    session.add(event)
    if flush:
        session.flush()
    return event


# --- validation --------------------------------------------------------------------------------


def parse_severity(value: str) -> str:
    severity = value.strip().upper()
    if severity not in SEVERITY_NAMES:
        raise IncidentError(f"unknown severity {value!r} (use P0, P1, P2 or P3)")
    return severity


def parse_status(value: str) -> Status:
    try:
        return Status(value.strip().lower())
    except ValueError:
        raise IncidentError(
            f"{value!r} is not a status; use {', '.join(UPDATE_STATUSES)}"
        ) from None


def _text(value: str | None, what: str) -> str:
    text = (value or "").strip()
    if not text:
        raise IncidentError(f"{what} must not be empty")
    return text


# --- reading -----------------------------------------------------------------------------------


def get(session: Session, *, incident_id: int, lock: bool = False) -> Incident:
    query = select(Incident).where(Incident.id == incident_id)
    if lock:
        query = query.with_for_update()
    incident = session.scalars(query).first()
    if incident is None:
        raise IncidentNotFound(f"no incident #{incident_id}")
    return incident


def timeline(session: Session, *, incident_id: int) -> list[IncidentEvent]:
    return list(
        session.scalars(
            select(IncidentEvent)
            .where(IncidentEvent.incident_id == incident_id)
            .order_by(IncidentEvent.at, IncidentEvent.id)
        )
    )


def timelines(session: Session, *, incident_ids: Iterable[int]) -> dict[int, list[IncidentEvent]]:
    ids = list(incident_ids)
    found: dict[int, list[IncidentEvent]] = {i: [] for i in ids}
    if ids:
        for event in session.scalars(
            select(IncidentEvent)
            .where(IncidentEvent.incident_id.in_(ids))
            .order_by(IncidentEvent.at, IncidentEvent.id)
        ):
            found[event.incident_id].append(event)
    return found


def list_incidents(
    session: Session,
    *,
    open_only: bool = False,
    severity: str | None = None,
    since: dt.datetime | None = None,
) -> list[Incident]:
    query = select(Incident).order_by(Incident.id.desc())
    if open_only:
        query = query.where(Incident.status != Status.RESOLVED.value)
    if severity:
        query = query.where(Incident.severity == parse_severity(severity))
    if since:
        query = query.where(Incident.opened_at >= since)
    return list(session.scalars(query))


def clocks_for(
    incident: Incident, events: Sequence[IncidentEvent], *, config: Config, now: dt.datetime
) -> list[SlaClock]:
    return compute_clocks(
        incident, events, now=now, policy=config.incidents, level=config.severity(incident.severity)
    )


@dataclass(frozen=True)
class DueClock:
    incident: Incident
    clock: SlaClock


def due_clocks(session: Session, *, config: Config, now: dt.datetime) -> list[DueClock]:
    """Every running clock across incidents, most urgent first: what paging reminds about."""
    # Open incidents, and resolved ones whose post-mortem is not yet published.
    published = select(IncidentEvent.incident_id).where(
        IncidentEvent.kind == "postmortem.published"
    )
    incidents = list(session.scalars(select(Incident).where(Incident.id.not_in(published))))
    events = timelines(session, incident_ids=[i.id for i in incidents])
    due = [
        DueClock(incident, clock)
        for incident in incidents
        for clock in clocks_for(incident, events[incident.id], config=config, now=now)
        if clock.active
    ]
    return sorted(due, key=lambda d: d.clock.due_at)


# --- changing ----------------------------------------------------------------------------------


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
    incident = Incident(
        title=_text(title, "the title"),
        severity=parse_severity(severity),
        status=Status.OPEN.value,
        component=(component or "").strip() or None,
        symptoms=[s.strip() for s in symptoms if s.strip()],
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
    # The seed's post-mortem template always ends with "Update runbook".
    session.add(
        ActionItem(incident_id=incident.id, title=DEFAULT_ACTION_ITEM, created_at=clock.now())
    )
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
    session: Session, *, incident_id: int, actor: str, clock: Clock, message: str | None = None
) -> IncidentEvent:
    incident = get(session, incident_id=incident_id, lock=True)
    if incident.status != Status.OPEN.value:
        raise IllegalMove(f"incident #{incident.id} is already {incident.status}")
    return move(
        session,
        incident_id=incident_id,
        status=Status.ACKNOWLEDGED,
        actor=actor,
        clock=clock,
        message=message,
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
    """A status change, a message, or both; the same status again is a plain update."""
    if status is None:
        text = _text(message, "the update message (--message)")
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
        raise IncidentError(f"to resolve, use: opsbook incident resolve {incident_id}")
    incident = get(session, incident_id=incident_id, lock=True)
    if incident.status == target.value and target is not Status.OPEN:
        return log_event(
            session,
            incident=incident,
            kind="update",
            actor=actor,
            clock=clock,
            text=_text(message, "the update message (--message)"),
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
    session: Session, *, incident_id: int, actor: str, clock: Clock, text: str
) -> IncidentEvent:
    incident = get(session, incident_id=incident_id, lock=True)
    return log_event(
        session,
        incident=incident,
        kind="note",
        actor=actor,
        clock=clock,
        text=_text(text, "the note"),
    )


def change_severity(
    session: Session, *, incident_id: int, severity: str, reason: str, actor: str, clock: Clock
) -> IncidentEvent:
    target = parse_severity(severity)
    why = _text(reason, "the reason (--reason)")
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
) -> IncidentEvent:
    """Resolve after the fix has held in monitoring for `monitor_for`, or sooner with force."""
    incident = get(session, incident_id=incident_id, lock=True)
    current = Status(incident.status)
    if current is Status.RESOLVED:
        raise IllegalMove(f"incident #{incident.id} is already resolved")
    now = clock.now()
    monitored = _monitored_for(timeline(session, incident_id=incident_id), current, now)
    early = monitored < policy.monitor_for
    if early and not force:
        if current is Status.MONITORING:
            ready = (now + policy.monitor_for - monitored).strftime("%H:%M UTC")
            why = (
                f"it has been monitoring for {_minutes(monitored)} of the "
                f"{_minutes(policy.monitor_for)} the runbook asks for (ready at {ready})"
            )
        else:
            why = (
                f"it is {current.value}, not monitoring; the runbook asks for "
                f"{_minutes(policy.monitor_for)} of monitoring after the fix"
            )
        raise IllegalMove(
            f"incident #{incident.id} cannot be resolved yet: {why}."
            " Pass --force to resolve now; that is noted on the timeline"
        )
    text = (message or "").strip() or "Resolved"
    data: dict[str, Any] = {"monitored_seconds": int(monitored.total_seconds())}
    if early:
        text += (
            f" (resolved early with --force after {_minutes(monitored)} of monitoring;"
            f" the runbook asks for {_minutes(policy.monitor_for)})"
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


def _monitored_for(
    events: Sequence[IncidentEvent], current: Status, now: dt.datetime
) -> dt.timedelta:
    if current is not Status.MONITORING:
        return dt.timedelta(0)
    since = max(e.at for e in events if e.kind == "status" and e.data.get("to") == "monitoring")
    return now - since


def _minutes(delta: dt.timedelta) -> str:
    return f"{int(delta.total_seconds() // 60)} min"


# --- post-mortem -------------------------------------------------------------------------------

POSTMORTEM_FIELDS = ("impact", "root_cause", "resolution")


def set_postmortem_fields(
    session: Session,
    *,
    incident_id: int,
    actor: str,
    clock: Clock,
    impact: str | None = None,
    root_cause: str | None = None,
    resolution: str | None = None,
) -> list[IncidentEvent]:
    incident = get(session, incident_id=incident_id, lock=True)
    given = {"impact": impact, "root_cause": root_cause, "resolution": resolution}
    events = []
    for name, value in given.items():
        if value is None:
            continue
        text = _text(value, f"--{name.replace('_', '-')}")
        setattr(incident, name, text)
        events.append(
            log_event(
                session,
                incident=incident,
                kind="postmortem.field",
                actor=actor,
                clock=clock,
                text=f"{name.replace('_', ' ')}: {text}",
                data={"field": name},
            )
        )
    return events


def postmortem_state(events: Sequence[IncidentEvent]) -> str:
    """none (still open), due, drafted or published: the phase after resolve."""
    kinds = {e.kind for e in events}
    if "postmortem.published" in kinds:
        return "published"
    if "postmortem.drafted" in kinds:
        return "drafted"
    resolved = [e for e in events if e.kind == "status" and e.data.get("to") in ("resolved",)]
    reopened = [e for e in events if e.kind == "status" and e.data.get("from") == "resolved"]
    if resolved and (not reopened or resolved[-1].id > reopened[-1].id):
        return "due"
    return "none"


def mark_postmortem(
    session: Session, *, incident_id: int, state: str, actor: str, clock: Clock
) -> IncidentEvent | None:
    """Record `drafted` or `published`; publishing needs every field filled."""
    incident = get(session, incident_id=incident_id, lock=True)
    current = postmortem_state(timeline(session, incident_id=incident_id))
    if current == "none":
        raise IncidentError(f"incident #{incident.id} is not resolved: no post-mortem yet")
    if state == "drafted" and current != "due":
        return None
    if state == "published":
        missing = [
            f"--{f.replace('_', '-')}" for f in POSTMORTEM_FIELDS if not getattr(incident, f)
        ]
        if missing:
            raise IncidentError(f"fill {', '.join(missing)} before publishing the post-mortem")
        if current == "published":
            raise IncidentError(f"the post-mortem of #{incident.id} is already published")
    return log_event(
        session,
        incident=incident,
        kind=f"postmortem.{state}",
        actor=actor,
        clock=clock,
        text=f"post-mortem {state}",
    )


# --- action items ------------------------------------------------------------------------------


def add_action(
    session: Session,
    *,
    incident_id: int,
    title: str,
    clock: Clock,
    actor: str,
    owner: str | None = None,
    due: dt.date | None = None,
) -> ActionItem:
    incident = get(session, incident_id=incident_id, lock=True)
    item = ActionItem(
        incident_id=incident.id,
        title=_text(title, "the action item"),
        owner=(owner or "").strip() or None,
        due=due,
        created_at=clock.now(),
    )
    session.add(item)
    session.flush()
    log_event(
        session,
        incident=incident,
        kind="action.added",
        actor=actor,
        clock=clock,
        text=f"action item {item.id}: {item.title}",
        data={"item": item.id},
    )
    return item


def complete_action(
    session: Session, *, incident_id: int, item_id: int, clock: Clock, actor: str
) -> ActionItem:
    incident = get(session, incident_id=incident_id, lock=True)
    item = session.get(ActionItem, item_id)
    if item is None or item.incident_id != incident.id:
        raise IncidentNotFound(f"incident #{incident.id} has no action item {item_id}")
    if item.done_at is not None:
        raise IncidentError(f"action item {item_id} is already done")
    item.done_at = clock.now()
    log_event(
        session,
        incident=incident,
        kind="action.done",
        actor=actor,
        clock=clock,
        text=f"action item {item.id} done: {item.title}",
        data={"item": item.id},
    )
    return item


def list_actions(
    session: Session, *, incident_id: int | None = None, open_only: bool = False
) -> list[ActionItem]:
    query = select(ActionItem).order_by(ActionItem.incident_id, ActionItem.id)
    if incident_id is not None:
        get(session, incident_id=incident_id)
        query = query.where(ActionItem.incident_id == incident_id)
    if open_only:
        query = query.where(ActionItem.done_at.is_(None))
    return list(session.scalars(query))
