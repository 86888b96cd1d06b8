"""The incidents listener: each timeline event that people must hear of becomes outbox
messages, routed, in the event's own transaction (see incidents.hooks)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from opsbook.clock import Clock
from opsbook.config import Config
from opsbook.incidents import service as incidents
from opsbook.incidents.clocks import next_due
from opsbook.incidents.models import Incident, IncidentEvent
from opsbook.notify import outbox, routing
from opsbook.notify.channels import sender_for
from opsbook.notify.message import incident_key

# Timeline data naming the channels a remote acknowledge came through (notify/inbound.py).
CAME_FROM = "came_from"

CONFIG_KEY = "opsbook.notify_config"


def on_incident_event(
    session: Session, incident: Incident, event: IncidentEvent, clock: Clock
) -> None:
    config: Config | None = session.info.get(CONFIG_KEY)
    if config is None or not config.notify.channels:
        return
    plan = routing.plan_for(event.kind, event.data or {})
    if plan is None:
        return
    engaged = routing.engaged(session, incident_id=incident.id)
    wanted = (
        []
        if incident.status == "resolved"
        else routing.route(config, severity=incident.severity, component=incident.component)
    )
    channels = routing.channels_on(config)
    # An acknowledge made in PagerDuty or with a Slack button is not sent back where it came
    # from (PagerDuty would log a second acknowledge; Slack already shows the reply). A
    # resolve is: it keeps `engaged` true to what each channel was told, so a reopen pages.
    came_from = set(event.data.get(CAME_FROM) or ()) if plan.kind == "acknowledge" else set()
    payload: dict[str, Any] | None = None
    for name in dict.fromkeys([*wanted, *sorted(engaged)]):
        if name in engaged:
            kind = plan.kind
        elif plan.triggers:
            kind = "trigger"
        else:
            continue
        if (
            name not in channels
            or name in came_from
            or kind not in sender_for(channels[name]).kinds
        ):
            continue
        payload = payload or describe(session, incident, event, config, plan.changes, clock)
        outbox.enqueue(
            session, channel=name, kind=kind, incident_id=incident.id, payload=payload, clock=clock
        )


def describe(
    session: Session,
    incident: Incident,
    event: IncidentEvent,
    config: Config,
    changes: tuple[str, ...],
    clock: Clock,
) -> dict[str, Any]:
    """The message's snapshot of the incident as this event leaves it."""
    return {
        **snapshot(session, incident, config, clock),
        "changes": list(changes),
        "text": event.text if event.kind in ("update", "status", "opened") else "",
        "actor": event.actor,
        "at": event.at.isoformat(),
    }


def snapshot(session: Session, incident: Incident, config: Config, clock: Clock) -> dict[str, Any]:
    """The incident as it stands, with its most urgent clock: what every message about
    it carries (escalation's pages add what they ask of whom)."""
    now = clock.now()
    clocks = incidents.clocks_for(
        incident, incidents.timeline(session, incident_id=incident.id), config=config, now=now
    )
    due = next_due(clocks)
    return {
        "project": config.project,
        "incident": {
            "id": incident.id,
            "key": incident_key(config.project, incident.id),
            "title": incident.title,
            "severity": incident.severity,
            "label": config.severity(incident.severity).label,
            "status": incident.status,
            "component": incident.component,
            "opened_at": incident.opened_at.isoformat(),
            "url": incident_url(config, incident.id),
        },
        "due": None
        if due is None
        else {"label": due.label, "at": due.due_at.isoformat(), "state": due.state},
    }


def incident_url(config: Config, incident_id: int) -> str:
    template = config.notify.incident_url
    if template is None:
        template = f"http://{config.serve.host}:{config.serve.port}/incidents/{{id}}"
    return template.replace("{id}", str(incident_id))
