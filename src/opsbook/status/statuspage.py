"""The public view as Atlassian Statuspage's public API v2 documents, field for field
(`../shared/FORMATS.md`), so existing widgets, scripts and opsbook's own `statuspage`
check read opsbook's page as they read any hosted one.

Times are written in the page's time zone with milliseconds, as Statuspage writes them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from opsbook.jsonout import dumps
from opsbook.status.view import ComponentView, IncidentView, PublicView, UpdateView

Document = dict[str, Any]


class Writer:
    """One view's documents; each is built from the same view, so they agree."""

    def __init__(self, view: PublicView) -> None:
        self.view = view
        self.zone = ZoneInfo(view.page.time_zone)

    def when(self, moment: dt.datetime | None) -> str | None:
        return (
            None
            if moment is None
            else moment.astimezone(self.zone).isoformat(timespec="milliseconds")
        )

    def page(self) -> Document:
        page = self.view.page
        return {
            "id": page.id,
            "name": page.name,
            "url": page.url,
            "time_zone": page.time_zone,
            "updated_at": self.when(page.updated_at),
        }

    def status(self) -> Document:
        return {"indicator": self.view.indicator, "description": self.view.description}

    def component(self, c: ComponentView) -> Document:
        found: Document = {
            "id": c.id,
            "name": c.name,
            "status": c.status,
            "created_at": self.when(c.created_at),
            "updated_at": self.when(c.updated_at),
            "position": c.position,
            "description": c.description,
            "showcase": not c.group,
            "start_date": None,
            "group_id": c.group_id,
            "page_id": self.view.page.id,
            "group": c.group,
            "only_show_if_degraded": c.only_show_if_degraded,
        }
        if c.group:
            found["components"] = [m.id for m in self.view.components if m.group_id == c.id]
        return found

    def update(self, u: UpdateView, incident: IncidentView) -> Document:
        return {
            "id": u.id,
            "status": u.status,
            "body": u.body,
            "incident_id": incident.id,
            "created_at": self.when(u.at),
            "updated_at": self.when(u.at),
            "display_at": self.when(u.at),
            "affected_components": None,
            "deliver_notifications": True,
            "custom_tweet": None,
            "tweet_id": None,
        }

    def incident(self, i: IncidentView) -> Document:
        return {
            "id": i.id,
            "name": i.name,
            "status": i.status,
            "created_at": self.when(i.created_at),
            "updated_at": self.when(i.updated_at),
            "monitoring_at": self.when(i.monitoring_at),
            "resolved_at": self.when(i.resolved_at),
            "impact": i.impact,
            "shortlink": i.shortlink,
            "started_at": self.when(i.scheduled_for or i.created_at),
            "page_id": self.view.page.id,
            "incident_updates": [self.update(u, i) for u in i.updates],
            "components": [self.component(c) for c in i.components],
        }

    def maintenance(self, m: IncidentView) -> Document:
        return self.incident(m) | {
            "scheduled_for": self.when(m.scheduled_for),
            "scheduled_until": self.when(m.scheduled_until),
        }

    def components(self) -> list[Document]:
        return [self.component(c) for c in self.view.components]

    def incidents(self, items: list[IncidentView]) -> list[Document]:
        return [self.incident(i) for i in items]

    def maintenances(self, *statuses: str) -> list[Document]:
        return [self.maintenance(m) for m in self.view.maintenances_in(*statuses)]


_ALL = ("scheduled", "in_progress", "verifying", "completed")
_UPCOMING = ("scheduled",)
_ACTIVE = ("in_progress", "verifying")


def _status(w: Writer) -> Document:
    return {"page": w.page(), "status": w.status()}


def _summary(w: Writer) -> Document:
    return {
        "page": w.page(),
        "components": w.components(),
        "incidents": w.incidents(w.view.unresolved),
        "scheduled_maintenances": w.maintenances(*_UPCOMING, *_ACTIVE),
        "status": w.status(),
    }


DOCUMENTS: dict[str, Callable[[Writer], Document]] = {
    "status.json": _status,
    "summary.json": _summary,
    "components.json": lambda w: {"page": w.page(), "components": w.components()},
    "incidents.json": lambda w: {"page": w.page(), "incidents": w.incidents(w.view.incidents)},
    "incidents/unresolved.json": lambda w: {
        "page": w.page(),
        "incidents": w.incidents(w.view.unresolved),
    },
    "scheduled-maintenances.json": lambda w: {
        "page": w.page(),
        "scheduled_maintenances": w.maintenances(*_ALL),
    },
    "scheduled-maintenances/upcoming.json": lambda w: {
        "page": w.page(),
        "scheduled_maintenances": w.maintenances(*_UPCOMING),
    },
    "scheduled-maintenances/active.json": lambda w: {
        "page": w.page(),
        "scheduled_maintenances": w.maintenances(*_ACTIVE),
    },
}


def documents(view: PublicView) -> dict[str, Document]:
    """Every v2 document of one view, by its path under /api/v2/."""
    writer = Writer(view)
    return {path: build(writer) for path, build in DOCUMENTS.items()}


def encoded(view: PublicView) -> dict[str, bytes]:
    """Every v2 document of one view as the bytes served and exported (compact UTF-8)."""
    return {
        path: dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
        for path, doc in documents(view).items()
    }
