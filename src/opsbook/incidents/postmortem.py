"""The post-mortem: its fields, its phase after resolve (due, drafted, published) and the
seed's template, filled from the timeline with real times."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from opsbook.clock import Clock
from opsbook.config.models import Config, SeverityLevel
from opsbook.incidents.errors import IncidentError, required
from opsbook.incidents.items import list_actions
from opsbook.incidents.models import ActionItem, Incident, IncidentEvent
from opsbook.incidents.records import get, log_event, timeline
from opsbook.incidents.views import describe_event, event_text

POSTMORTEM_FIELDS = ("impact", "root_cause", "resolution")
PostmortemState = Literal["none", "due", "drafted", "published"]


@dataclass(frozen=True)
class PostmortemDocument:
    """What `write_postmortem` made: the phase it is now in and the Markdown."""

    incident_id: int
    state: PostmortemState
    markdown: str


def write_postmortem(
    session: Session,
    *,
    incident_id: int,
    actor: str,
    clock: Clock,
    config: Config,
    impact: str | None = None,
    root_cause: str | None = None,
    resolution: str | None = None,
    draft: bool = False,
    publish: bool = False,
) -> PostmortemDocument:
    """The post-mortem in one operation: fill the fields given, record it drafted (`draft`:
    the caller keeps the document) or published, and render it from the timeline."""
    set_postmortem_fields(
        session,
        incident_id=incident_id,
        actor=actor,
        clock=clock,
        impact=impact,
        root_cause=root_cause,
        resolution=resolution,
    )
    # Drafting is only recorded once there is something due; an open incident's document
    # is a preview, not a draft.
    if draft and postmortem_state(timeline(session, incident_id=incident_id)) != "none":
        mark_postmortem(session, incident_id=incident_id, state="drafted", actor=actor, clock=clock)
    if publish:
        mark_postmortem(
            session, incident_id=incident_id, state="published", actor=actor, clock=clock
        )
    incident = get(session, incident_id=incident_id)
    events = timeline(session, incident_id=incident_id)
    markdown = render(
        incident,
        events,
        list_actions(session, incident_id=incident_id),
        level=config.severity(incident.severity),
        timezone=config.timezone,
        now=clock.now(),
    )
    return PostmortemDocument(incident.id, postmortem_state(events), markdown)


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
    """Fill the fields given (None leaves one as it is); each lands on the timeline."""
    incident = get(session, incident_id=incident_id, lock=True)
    given = {"impact": impact, "root_cause": root_cause, "resolution": resolution}
    events = []
    for name, value in given.items():
        if value is None:
            continue
        text = required(value, "{" + name + "}", names=[name])
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


def postmortem_state(events: Sequence[IncidentEvent]) -> PostmortemState:
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
    session: Session,
    *,
    incident_id: int,
    state: Literal["drafted", "published"],
    actor: str,
    clock: Clock,
) -> IncidentEvent | None:
    """Record `drafted` or `published`; publishing needs every field filled.

    Drafting again, or after publishing, records nothing and returns None."""
    incident = get(session, incident_id=incident_id, lock=True)
    current = postmortem_state(timeline(session, incident_id=incident_id))
    if current == "none":
        raise IncidentError(f"incident #{incident.id} is not resolved: no post-mortem yet")
    if state == "drafted" and current != "due":
        return None
    if state == "published":
        missing = [f for f in POSTMORTEM_FIELDS if not getattr(incident, f)]
        if missing:
            listed = ", ".join("{" + f + "}" for f in missing)
            raise IncidentError(f"fill {listed} before publishing the post-mortem", names=missing)
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


# --- the document ------------------------------------------------------------------------


def _first(events: Sequence[IncidentEvent], kind: str, to: str | None = None) -> dt.datetime | None:
    for event in events:
        if event.kind == kind and (to is None or event.data.get("to") == to):
            return event.at
    return None


def _last_move(events: Sequence[IncidentEvent], to: str) -> dt.datetime | None:
    found = [e.at for e in events if e.kind == "status" and e.data.get("to") == to]
    return found[-1] if found else None


def _duration(delta: dt.timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    days, minutes = divmod(minutes, 1440)
    hours, minutes = divmod(minutes, 60)
    parts = [f"{days}d"] if days else []
    if hours:
        parts.append(f"{hours}h")
    parts.append(f"{minutes}m")
    return " ".join(parts)


def render(
    incident: Incident,
    events: Sequence[IncidentEvent],
    items: Sequence[ActionItem],
    *,
    level: SeverityLevel,
    timezone: str = "UTC",
    now: dt.datetime,
) -> str:
    """The seed's template in Markdown, with the times the timeline holds and a hint for
    each field still to fill."""
    zone = ZoneInfo(timezone)
    opened = incident.opened_at.astimezone(zone)

    def when(moment: dt.datetime | None) -> str:
        if moment is None:
            return "(not recorded)"
        local = moment.astimezone(zone)
        if local.date() == opened.date():
            return local.strftime("%H:%M %Z")
        return local.strftime("%Y-%m-%d %H:%M %Z")

    paged = _first(events, "paged")
    acked = _first(events, "status")
    resolved = _last_move(events, "resolved") if incident.status == "resolved" else None
    duration = (
        _duration(resolved - incident.opened_at)
        if resolved
        else f"ongoing ({_duration(now - incident.opened_at)} so far)"
    )
    todo = f"opsbook incident postmortem {incident.id}"
    lines = [
        f"# Post-mortem: {incident.title}",
        "",
        f"**Incident**: {incident.title} (#{incident.id})",
        f"**Date/Time**: {opened.strftime('%Y-%m-%d %H:%M %Z')}",
        f"**Duration**: {duration}",
        f"**Severity**: {incident.severity} ({level.label})",
        f"**Impact**: {incident.impact or f'_to fill in: {todo} --impact ..._'}",
        "",
        "**Timeline**:",
        f"- {when(incident.opened_at)} - Incident detected",
        f"- {when(paged or acked)} - On-call paged"
        + ("" if paged or not acked else " (acknowledged; no page recorded)"),
        f"- {when(_first(events, 'status', 'identified'))} - Root cause identified",
        f"- {when(_first(events, 'status', 'monitoring'))} - Fix deployed",
        f"- {when(resolved)} - Incident resolved",
        "",
        "**Root Cause**:",
        incident.root_cause or f"_to fill in: {todo} --root-cause ..._",
        "",
        "**Resolution**:",
        incident.resolution or f"_to fill in: {todo} --resolution ..._",
        "",
        "**Action Items**:",
    ]
    for item in items:
        extra = [f"owner: {item.owner}"] if item.owner else []
        if item.due:
            extra.append(f"due {item.due.isoformat()}")
        suffix = f" ({', '.join(extra)})" if extra else ""
        lines.append(f"- [{'x' if item.done_at else ' '}] {item.title}{suffix}")
    lines += ["", "---", "", "Full timeline:", ""]
    for event in events:
        public = " (public)" if event.public else ""
        text = f": {event_text(event)}" if event.text else ""
        lines.append(f"- {when(event.at)} {event.actor} {describe_event(event)}{public}{text}")
    return "\n".join(lines) + "\n"
