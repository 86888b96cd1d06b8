"""Who hears about an incident: routes by severity and component, and the messages one
timeline event makes.

A route is `notify.components[component][severity]`, else `notify.routing[severity]`,
else the seed's default for the severity's action: `page` and `alert` go to every
PagerDuty and Slack channel, `ticket` to every webhook and email channel, `backlog` to
none (recorded only). A channel that was sent a trigger stays engaged until it is sent
the resolve, so acknowledging, updating and resolving reach it even after a severity
change moved the route; a raise (or a reopen) triggers the channels the new route adds, a
relapse (incidents/relapse.py) triggers every routed channel again."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from opsbook.config import Config
from opsbook.config.notify import Channel
from opsbook.incidents.relapse import ACKNOWLEDGED
from opsbook.notify.models import Notification

DEFAULT_KINDS: dict[str, tuple[str, ...]] = {
    "page": ("pagerduty", "slack"),
    "alert": ("pagerduty", "slack"),
    "ticket": ("webhook", "email"),
    "backlog": (),
}


def route(config: Config, *, severity: str, component: str | None) -> list[str]:
    """The channels an incident of `severity` and `component` goes to, in config order."""
    notify = config.notify
    by_component = notify.components.get(component or "", {})
    if severity in by_component:
        return list(by_component[severity])
    if severity in notify.routing:
        return list(notify.routing[severity])
    kinds = DEFAULT_KINDS.get(config.severity(severity).action, ())
    return [c.name for c in notify.channels if c.kind in kinds]


def channels_on(config: Config) -> dict[str, Channel]:
    """The channels that are on by name: one whose secret is unset is off (`config check`
    says so), and nothing is queued for it, rather than messages that could only die."""
    return {
        c.name: c
        for c in config.notify.channels
        if config.off_reason("notify.channels", c.name) is None
    }


@dataclass(frozen=True)
class EventPlan:
    """What one timeline event asks of the channels: `kind` for engaged channels, and
    whether channels the route adds are triggered."""

    kind: str
    triggers: bool
    changes: tuple[str, ...] = ()


def plan_for(kind: str, data: dict[str, Any]) -> EventPlan | None:
    """None for events no one is told of (notes, alerts joining, runbook steps)."""
    if kind == "opened":
        return EventPlan("trigger", triggers=True)
    if kind == "severity":
        return EventPlan("update", True, (f"severity {data.get('from')} -> {data.get('to')}",))
    if kind == "update":
        return EventPlan("update", triggers=False)
    if kind == ACKNOWLEDGED:  # a relapse owned again
        return EventPlan("acknowledge", False, ("relapse acknowledged",))
    if kind != "status":
        return None
    before, after = data.get("from"), data.get("to")
    changes = (f"status {before} -> {after}",)
    if data.get("relapse"):  # the fix did not hold: every routed channel, as a new fire
        return EventPlan("trigger", True, (*changes, "relapse"))
    if after == "acknowledged":
        return EventPlan("acknowledge", False, changes)
    if after == "resolved":
        return EventPlan("resolve", False, changes)
    return EventPlan("update", triggers=before == "resolved", changes=changes)  # a reopen


def engaged(session: Session, *, incident_id: int) -> set[str]:
    """Channels whose latest trigger-or-resolve for this incident is a trigger."""
    rows = session.execute(
        select(Notification.channel, Notification.kind)
        .where(
            Notification.incident_id == incident_id,
            Notification.kind.in_(("trigger", "resolve")),
        )
        .order_by(Notification.id)
    )
    state: dict[str, bool] = {}
    for channel, kind in rows:
        state[channel] = kind == "trigger"
    return {channel for channel, on in state.items() if on}
