"""The public view's shapes: what a renderer (the Statuspage JSON, the HTML pages, the
feed and the static export) may read. Nothing here reads the store."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from typing import Literal

ComponentStatus = Literal[
    "operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance"
]
Impact = Literal["none", "minor", "major", "critical"]
Indicator = Literal["none", "minor", "major", "critical", "maintenance"]

IMPACT: dict[str, Impact] = {"P0": "critical", "P1": "major", "P2": "minor", "P3": "none"}
# Statuspage's own words for its indicator.
DESCRIPTION: dict[Indicator, str] = {
    "none": "All Systems Operational",
    "minor": "Minor Service Outage",
    "major": "Partial System Outage",
    "critical": "Major System Outage",
    "maintenance": "Service Under Maintenance",
}
# Incidents resolved longer ago than this are not read: incidents.json lists the latest.
HISTORY = dt.timedelta(days=90)
UPTIME_DAYS = 90  # cells in a component's uptime bar, one per UTC day, today last


def stable_id(*parts: str) -> str:
    """A short id that stays the same for the same name (Statuspage ids are 12 characters
    of lowercase letters and digits)."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Page:
    id: str
    name: str
    url: str | None
    time_zone: str
    updated_at: dt.datetime


@dataclass(frozen=True)
class ComponentView:
    id: str
    name: str
    description: str | None
    status: ComponentStatus
    position: int
    group_id: str | None
    group: bool
    only_show_if_degraded: bool
    created_at: dt.datetime
    updated_at: dt.datetime


@dataclass(frozen=True)
class UpdateView:
    id: str
    status: str
    body: str
    at: dt.datetime


@dataclass(frozen=True)
class IncidentView:
    id: str
    name: str
    status: str
    impact: str
    created_at: dt.datetime
    updated_at: dt.datetime
    monitoring_at: dt.datetime | None
    resolved_at: dt.datetime | None
    shortlink: str
    updates: list[UpdateView]  # newest first
    components: list[ComponentView]
    scheduled_for: dt.datetime | None = None
    scheduled_until: dt.datetime | None = None

    @property
    def unresolved(self) -> bool:
        return self.status not in ("resolved", "postmortem", "completed")


@dataclass(frozen=True)
class DayView:
    """One UTC day of a component's uptime bar. `runs` and `down` count its checks' runs
    outside maintenance; a day without runs has no data (never shown as 100%)."""

    day: dt.date
    runs: int
    down: int
    maintenance: bool  # some of the day was under maintenance (not counted as down)
    incidents: tuple[str, ...]  # public names of the incidents that touched the component

    @property
    def uptime(self) -> float | None:
        return (self.runs - self.down) / self.runs if self.runs else None


@dataclass(frozen=True)
class PublicView:
    page: Page
    indicator: Indicator
    description: str
    components: list[ComponentView]
    incidents: list[IncidentView]  # newest first
    maintenances: list[IncidentView]  # soonest first
    built_at: dt.datetime
    # Each leaf component's last UPTIME_DAYS days, oldest first, by component id.
    uptime: dict[str, list[DayView]] = field(default_factory=dict)

    @property
    def unresolved(self) -> list[IncidentView]:
        return [i for i in self.incidents if i.unresolved]

    def maintenances_in(self, *statuses: str) -> list[IncidentView]:
        return [m for m in self.maintenances if m.status in statuses]
