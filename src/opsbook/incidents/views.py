"""How incidents read to a person (Rich) and to a program (JSON): the same facts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from opsbook.incidents.clocks import SlaClock, next_due
from opsbook.incidents.lifecycle import Status, public_status
from opsbook.incidents.models import ActionItem, Incident, IncidentEvent

STATE_STYLE = {"due": "yellow", "overdue": "bold red", "met": "green", "late": "red"}


def relative(moment: dt.datetime, now: dt.datetime) -> str:
    """`in 5m`, `2h03m ago`, `now`: a moment as a responder reads it at a glance."""
    seconds = int((moment - now).total_seconds())
    span = abs(seconds)
    if span < 60:
        text = f"{span}s"
    elif span < 3600:
        text = f"{span // 60}m"
    elif span < 86400:
        text = f"{span // 3600}h{(span % 3600) // 60:02d}m"
    else:
        text = f"{span // 86400}d{(span % 86400) // 3600}h"
    return f"in {text}" if seconds > 0 else f"{text} ago" if seconds < 0 else "now"


def local(moment: dt.datetime, timezone: str) -> str:
    """A moment in the configured time zone, to the minute."""
    return moment.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M %Z")


def clock_line(clock: SlaClock, now: dt.datetime, timezone: str) -> str:
    """One clock as a Rich line, styled by its state."""
    style = STATE_STYLE[clock.state]
    if clock.state in ("met", "late"):
        assert clock.met_at is not None
        detail = f"{clock.state} at {local(clock.met_at, timezone)}"
    elif clock.state == "overdue":
        detail = f"OVERDUE since {local(clock.due_at, timezone)} ({relative(clock.due_at, now)})"
    else:
        detail = f"due {local(clock.due_at, timezone)} ({relative(clock.due_at, now)})"
    return f"[{style}]{clock.label}: {detail}[/]"


def clock_json(clock: SlaClock) -> dict[str, Any]:
    """A clock as JSON."""
    return {
        "name": clock.name,
        "label": clock.label,
        "state": clock.state,
        "due_at": clock.due_at,
        "met_at": clock.met_at,
        "action": clock.action,
    }


def event_json(event: IncidentEvent) -> dict[str, Any]:
    """A timeline event as JSON."""
    return {
        "id": event.id,
        "at": event.at,
        "actor": event.actor,
        "kind": event.kind,
        "text": event.text,
        "public": event.public,
        "data": event.data,
    }


def item_json(item: ActionItem) -> dict[str, Any]:
    """An action item as JSON."""
    return {
        "id": item.id,
        "incident_id": item.incident_id,
        "title": item.title,
        "owner": item.owner,
        "due": item.due.isoformat() if item.due else None,
        "done": item.done_at is not None,
        "done_at": item.done_at,
    }


def incident_json(
    incident: Incident,
    clocks: Sequence[SlaClock],
    *,
    postmortem: str,
    events: Sequence[IncidentEvent] | None = None,
    items: Sequence[ActionItem] | None = None,
) -> dict[str, Any]:
    """An incident as JSON, with its timeline and items when given: what `--json` prints."""
    upcoming = next_due(clocks)
    data: dict[str, Any] = {
        "id": incident.id,
        "title": incident.title,
        "severity": incident.severity,
        "status": incident.status,
        "public_status": public_status(Status(incident.status)),
        "component": incident.component,
        "symptoms": incident.symptoms,
        "opened_at": incident.opened_at,
        "opened_by": incident.opened_by,
        "impact": incident.impact,
        "root_cause": incident.root_cause,
        "resolution": incident.resolution,
        "postmortem": postmortem,
        "clocks": [clock_json(c) for c in clocks],
        "next_due": clock_json(upcoming) if upcoming else None,
    }
    if events is not None:
        data["timeline"] = [event_json(e) for e in events]
    if items is not None:
        data["action_items"] = [item_json(i) for i in items]
    return data


def describe_event(event: IncidentEvent) -> str:
    """What an event is, in a few words: `investigating -> identified` for a move."""
    if event.kind == "status":
        return f"{event.data.get('from')} -> {event.data.get('to')}"
    if event.kind == "paging":  # escalation's steps: the text says who, how and why
        return {"page": "page", "renotify": "re-notify", "remind": "reminder"}.get(
            str((event.data or {}).get("what")), "paging"
        )
    return event.kind


def event_text(event: IncidentEvent) -> str:
    """The event's text as a timeline line shows it after `describe_event`: an alert's
    text begins "alert check:health firing", which after the label "alert:" says it twice."""
    label = describe_event(event)
    text = event.text
    if text.startswith(label + " ") or text.startswith(label + ":"):
        return text[len(label) :].lstrip(": ")
    return text


GROUPED_SHOWN = 5


def fold_grouped(
    events: Sequence[IncidentEvent], *, shown: int = GROUPED_SHOWN
) -> list[IncidentEvent | int]:
    """The timeline with an alert storm folded: the first `shown` grouped alerts, then one
    count of the rest in their place, so the human events stay on the screen."""
    folded: list[IncidentEvent | int] = []
    seen = 0
    for event in events:
        grouped = event.kind == "alert" and bool((event.data or {}).get("grouped"))
        if grouped:
            seen += 1
            if seen > shown:
                if folded and isinstance(folded[-1], int):
                    folded[-1] += 1
                else:
                    folded.append(1)
                continue
        folded.append(event)
    return folded
