"""The seed's post-mortem template, filled from the timeline with real times."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from opsbook.config.models import SeverityLevel
from opsbook.incidents.models import ActionItem, Incident, IncidentEvent
from opsbook.incidents.views import describe_event


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
        text = f": {event.text}" if event.text else ""
        lines.append(f"- {when(event.at)} {event.actor} {describe_event(event)}{public}{text}")
    return "\n".join(lines) + "\n"
