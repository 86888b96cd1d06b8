"""The public status page as HTML and an Atom feed, rendered from a `PublicView` only.

The same templates serve `opsbook serve` (`Served` links: /status/...) and the static
export (`Static` links: relative, `.html`, so the copy works from any path, any host or
straight from disk). Autoescape is on everywhere, the feed included: a public update is
text, whatever it holds; its control characters are shown as escapes (`console.visible`),
both because a customer should see that something odd was pasted and because XML 1.0 has
no way to carry most of them at all.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from dataclasses import dataclass
from typing import Protocol
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from opsbook.console import visible
from opsbook.status.view import (
    HISTORY,
    UPTIME_DAYS,
    ComponentView,
    DayView,
    IncidentView,
    PublicView,
)

CSS = "status.css"

STATUS_WORDS = {
    "operational": "Operational",
    "degraded_performance": "Degraded performance",
    "partial_outage": "Partial outage",
    "major_outage": "Major outage",
    "under_maintenance": "Under maintenance",
}
UPDATE_WORDS = {
    "investigating": "Investigating",
    "identified": "Identified",
    "monitoring": "Monitoring",
    "resolved": "Resolved",
    "postmortem": "Postmortem",
    "scheduled": "Scheduled",
    "in_progress": "In progress",
    "verifying": "Verifying",
    "completed": "Completed",
}
IMPACT_WORDS = {
    "none": "No impact",
    "minor": "Minor impact",
    "major": "Major impact",
    "critical": "Critical impact",
    "maintenance": "Maintenance",
}


class Links(Protocol):
    """Where each page is, as seen from the page being rendered."""

    def home(self) -> str: ...
    def history(self, page: int) -> str: ...
    def incident(self, public_id: str) -> str: ...
    def feed(self) -> str: ...
    def css(self) -> str: ...
    def api(self, path: str) -> str: ...


@dataclass(frozen=True)
class Served:
    """Links of the pages `opsbook serve` answers."""

    def home(self) -> str:
        return "/status"

    def history(self, page: int) -> str:
        return "/status/history" if page == 1 else f"/status/history?page={page}"

    def incident(self, public_id: str) -> str:
        return f"/status/incidents/{public_id}"

    def feed(self) -> str:
        return "/status/history.atom"

    def css(self) -> str:
        return f"/status/{CSS}"

    def api(self, path: str) -> str:
        return f"/api/v2/{path}"


@dataclass(frozen=True)
class Static:
    """Relative links between exported files; `depth` is how deep the page sits."""

    depth: int = 0

    @property
    def up(self) -> str:
        return "../" * self.depth

    def home(self) -> str:
        return f"{self.up}index.html"

    def history(self, page: int) -> str:
        return f"{self.up}history/{page}.html"

    def incident(self, public_id: str) -> str:
        return f"{self.up}incidents/{public_id}.html"

    def feed(self) -> str:
        return f"{self.up}history.atom"

    def css(self) -> str:
        return f"{self.up}{CSS}"

    def api(self, path: str) -> str:
        return f"{self.up}api/v2/{path}"


# --- words ----------------------------------------------------------------------------------


def percent(share: float) -> str:
    """A share as a percentage, rounded down: 99.999% up is not 100%."""
    return f"{math.floor(share * 10000) / 100:g}%"


def day_level(day: DayView) -> str:
    """The cell's colour class; the words (`day_text`) say the same."""
    share = day.uptime
    if share is None:
        return "maint" if day.maintenance else "none"
    if share >= 0.999:
        return "up"
    if share >= 0.99:
        return "minor"
    return "partial" if share >= 0.95 else "major"


def day_text(day: DayView) -> str:
    """`12 Mar: 99.2% up, 1 incident: Major outage: Web app`."""
    share = day.uptime
    words = [f"{day.day.day} {day.day:%b}: "]
    if share is None:
        words.append("maintenance, no data outside it" if day.maintenance else "no data")
    else:
        words.append(f"{percent(share)} up")
        if day.maintenance:
            words.append(", maintenance (not counted as down)")
    if day.incidents:
        count = len(day.incidents)
        words.append(f", {count} incident{'s' if count > 1 else ''}: {'; '.join(day.incidents)}")
    return "".join(words)


def overall_uptime(days: list[DayView]) -> str:
    runs = sum(d.runs for d in days)
    if not runs:
        return "no data yet"
    return f"{percent((runs - sum(d.down for d in days)) / runs)} uptime"


class Renderer:
    """Pages of one view; `links` says where the page being rendered sits."""

    def __init__(self, view: PublicView) -> None:
        self.view = view
        self.zone = ZoneInfo(view.page.time_zone)

    def when(self, moment: dt.datetime | None) -> str:
        if moment is None:
            return ""
        local = moment.astimezone(self.zone)
        return f"{local.day} {local:%b %Y, %H:%M} {local.tzname()}"

    def shown(self) -> list[tuple[ComponentView, list[ComponentView]]]:
        """Top-level components with the members of each group, as the page lists them;
        one shown only when degraded is left out while it is operational."""
        view = self.view
        visible_ = [
            c
            for c in view.components
            if not (c.only_show_if_degraded and c.status == "operational")
        ]
        return [
            (c, [m for m in visible_ if m.group_id == c.id] if c.group else [])
            for c in visible_
            if c.group_id is None
        ]

    def _render(self, template: str, links: Links, **context: object) -> str:
        return (
            _env()
            .get_template(template)
            .render(
                view=self.view,
                page=self.view.page,
                links=links,
                r=self,
                STATUS_WORDS=STATUS_WORDS,
                UPDATE_WORDS=UPDATE_WORDS,
                IMPACT_WORDS=IMPACT_WORDS,
                UPTIME_DAYS=UPTIME_DAYS,
                **context,
            )
        )

    def index(self, links: Links, *, pages: int) -> str:
        view = self.view
        past = [i for i in view.incidents if not i.unresolved]
        return self._render(
            "index.html.j2",
            links,
            active=view.unresolved,
            in_progress=view.maintenances_in("in_progress", "verifying"),
            upcoming=view.maintenances_in("scheduled"),
            past=past,
            pages=pages,
        )

    def incident(self, links: Links, incident: IncidentView) -> str:
        return self._render("incident.html.j2", links, incident=incident)

    def history(self, links: Links, *, incidents: list[IncidentView], page: int, pages: int) -> str:
        end = self.view.built_at - (page - 1) * HISTORY
        return self._render(
            "history.html.j2",
            links,
            incidents=incidents,
            number=page,
            pages=pages,
            start=end - HISTORY,
            end=end,
        )

    def feed(self, links: Links) -> str:
        view = self.view
        entries = sorted(
            [*view.incidents, *view.maintenances], key=lambda i: i.updated_at, reverse=True
        )
        return self._render("history.atom.j2", links, entries=entries)


# What XML 1.0 cannot carry beyond the control characters `visible` shows: U+FFFE, U+FFFF
# and lone surrogates (which UTF-8 cannot encode either: the page would be a 500).
_NOT_XML = {c: f"\\u{c:04x}" for c in (*range(0xD800, 0xE000), 0xFFFE, 0xFFFF)}


def _text(value: object) -> str:
    """A public text shown as typed: control characters become visible escapes."""
    return visible(value, newlines=True).translate(_NOT_XML)


def _finalize(value: object) -> object:
    """Every `{{ }}` of plain text (a config name, a title), made safe for XML and UTF-8
    the same way; markup the templates built from filtered text is left as it is."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return value.translate(_NOT_XML)
    return value


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@functools.cache
def _env() -> Environment:
    # Autoescape for every template, the Atom one too: its escaping is XML's as well.
    env = Environment(
        loader=PackageLoader("opsbook.status", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_finalize,
    )
    env.filters["text"] = _text
    env.filters["iso"] = _iso
    env.globals.update(day_level=day_level, day_text=day_text, overall_uptime=overall_uptime)
    return env


def stylesheet() -> bytes:
    """The page's CSS, shipped as package data (no build step)."""
    loader = _env().loader
    assert loader is not None
    source, _, _ = loader.get_source(_env(), CSS)
    return source.encode()
