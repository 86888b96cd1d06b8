"""Reading incidents: lists, one incident whole, the clocks that run, the numbers.

Nothing here writes. Clocks and the post-mortem's phase are computed from the timeline on
every read (see clocks.py), so what a responder sees cannot drift from what happened.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from opsbook.config.models import Config
from opsbook.incidents.clocks import SlaClock, compute_clocks
from opsbook.incidents.errors import parse_severity
from opsbook.incidents.items import list_actions
from opsbook.incidents.lifecycle import Status
from opsbook.incidents.models import ActionItem, Incident, IncidentEvent
from opsbook.incidents.postmortem import PostmortemState, postmortem_state
from opsbook.incidents.records import get, timeline, timelines
from opsbook.incidents.stats import Report, build_report


def list_incidents(
    session: Session,
    *,
    open_only: bool = False,
    severity: str | None = None,
    since: dt.datetime | None = None,
) -> list[Incident]:
    """Incidents newest first, optionally only unresolved, of one severity, or opened since."""
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
    """The incident's SLA clocks under this config's policy and its severity's level."""
    return compute_clocks(
        incident, events, now=now, policy=config.incidents, level=config.severity(incident.severity)
    )


@dataclass(frozen=True)
class IncidentSummary:
    """One line of a list: the incident, its clocks and its post-mortem's phase."""

    incident: Incident
    clocks: list[SlaClock]
    postmortem: PostmortemState


@dataclass(frozen=True)
class IncidentDetail(IncidentSummary):
    """One incident whole: a summary plus its timeline and action items."""

    events: list[IncidentEvent]
    items: list[ActionItem]


def summaries(
    session: Session,
    *,
    config: Config,
    now: dt.datetime,
    open_only: bool = False,
    severity: str | None = None,
) -> list[IncidentSummary]:
    """`list_incidents` with each one's clocks and post-mortem phase, in two queries."""
    incidents = list_incidents(session, open_only=open_only, severity=severity)
    events = timelines(session, incident_ids=[i.id for i in incidents])
    return [
        IncidentSummary(
            incident,
            clocks_for(incident, events[incident.id], config=config, now=now),
            postmortem_state(events[incident.id]),
        )
        for incident in incidents
    ]


def detail(
    session: Session, *, incident_id: int, config: Config, now: dt.datetime
) -> IncidentDetail:
    """Everything about one incident as it stands at `now`."""
    incident = get(session, incident_id=incident_id)
    events = timeline(session, incident_id=incident_id)
    return IncidentDetail(
        incident,
        clocks_for(incident, events, config=config, now=now),
        postmortem_state(events),
        events,
        list_actions(session, incident_id=incident_id),
    )


@dataclass(frozen=True)
class DueClock:
    """A running clock and the incident it belongs to."""

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


def report(session: Session, *, config: Config, since: dt.datetime, now: dt.datetime) -> Report:
    """MTTA, MTTR and overdue post-mortems of the incidents opened since `since`."""
    incidents = list_incidents(session, since=since)
    events = timelines(session, incident_ids=[i.id for i in incidents])
    return build_report(
        incidents,
        events,
        since=since,
        now=now,
        postmortem_within=config.incidents.postmortem_within,
    )
