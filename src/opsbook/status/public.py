"""The public view: what customers may see, built once from the store and the config.

Everything rendered for the public (the Statuspage v2 JSON, the HTML pages, the feed and the
static export) reads a `PublicView` (or, for older history, `history` and `incident` here),
never the store: so "only public data" is
decided here, once. What goes in:

- components from `status.components`, by their public names and descriptions; a check's
  name, URL or summary never does. A component shows the worst debounced state of its
  checks: down on every evaluated check is `major_outage`, on some `partial_outage`;
  degraded is `degraded_performance`; under a maintenance in progress `under_maintenance`.
  A check opsbook could not evaluate (`error`) or that has not run yet says nothing about
  the service, so it does not count: the component shows what the other checks say, and
  `operational` when none says anything. (The page never claims an outage opsbook did not
  see; the responders' `opsbook status` shows the unevaluated checks loudly.)
- incidents that have at least one public update, with only those updates. Their name is
  made from the impact and the public components they affect, never the incident's title
  (a responder's title often names a host or a check).
- maintenances, with the title and message written for the public when scheduled.
- each component's 90-day uptime bar (`uptime`), from the downsampled history of its checks,
  maintenance windows left out.

Text is masked once more with the config's secrets, in case a secret was pasted into a
public update before it was configured as one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from opsbook.config import Config
from opsbook.config.secrets import masker_with, secrets_of
from opsbook.config.status import StatusConfig
from opsbook.incidents.lifecycle import Status, public_status
from opsbook.incidents.models import Incident, IncidentEvent
from opsbook.incidents.queries import list_incidents
from opsbook.incidents.records import timelines
from opsbook.status import maintenance, uptime
from opsbook.status.components import components as public_components
from opsbook.status.components import indicator as blend
from opsbook.status.models import Maintenance
from opsbook.status.view import (
    DESCRIPTION,
    HISTORY,
    IMPACT,
    ComponentView,
    Impact,
    IncidentView,
    Page,
    PublicView,
    UpdateView,
    stable_id,
)
from opsbook.watch.models import Alert

Mask = Callable[[str], str]
_NAME: dict[Impact, str] = {
    "critical": "Major outage",
    "major": "Partial outage",
    "minor": "Degraded service",
    "none": "Service notice",
}


def build(session: Session, *, config: Config, now: dt.datetime) -> PublicView:
    """The public view at `now` (see the module's note for what may go in)."""
    status = config.status
    page_id, mask, under, components = _setting(session, config, now)
    by_name = {c.name: c for c in components if not c.group}
    incidents = _incidents(session, status, by_name, mask, now)
    rows = [
        row
        for row in maintenance.maintenances(session, now=now, ended=True)
        if row.state != "cancelled" and (row.ended_at or row.ends_at) > now - HISTORY
    ]
    maintenances = [_maintenance(row, status, by_name, mask, now) for row in rows]
    indicator = blend(components, incidents, bool(under))
    bars = uptime.bars(
        session,
        status=status,
        tiers=config.watch.downsample,
        components=components,
        incidents=incidents,
        windows=_windows(rows, now),
        now=now,
    )
    changes = [
        now - HISTORY,
        *(i.updated_at for i in incidents),
        *(m.updated_at for m in maintenances),
    ]
    page = Page(page_id, status.name, status.url, status.time_zone, max(changes))
    return PublicView(
        page, indicator, DESCRIPTION[indicator], components, incidents, maintenances, now, bars
    )


def history(session: Session, *, config: Config, view: PublicView, page: int) -> list[IncidentView]:
    """The incidents of history page `page` (1: the last HISTORY, as `view` has them; 2:
    the HISTORY before that; ...), newest first. Open incidents are always on page 1."""
    if page == 1:
        return view.incidents
    now = view.built_at
    start, end = now - HISTORY * page, now - HISTORY * (page - 1)
    query = (
        select(Incident)
        .where(Incident.opened_at >= start, Incident.opened_at < end)
        .where(Incident.status == Status.RESOLVED.value)
        .order_by(Incident.id.desc())
    )
    return _views(session, config, view, list(session.scalars(query)))


def history_pages(session: Session, *, view: PublicView) -> int:
    """How many history pages there are: down to the oldest incident with a public update."""
    oldest = session.scalar(
        select(func.min(Incident.opened_at))
        .join(IncidentEvent, IncidentEvent.incident_id == Incident.id)
        .where(IncidentEvent.public)
    )
    if oldest is None:
        return 1
    if oldest.tzinfo is None:  # an aggregate bypasses the column type on SQLite
        oldest = oldest.replace(tzinfo=dt.UTC)
    return max(1, -((oldest - view.built_at) // HISTORY))


def incident(
    session: Session, *, config: Config, view: PublicView, incident_id: int
) -> IncidentView | None:
    """One incident's public view, however old; None when it has no public update."""
    found = next((i for i in view.incidents if i.id == f"i{incident_id}"), None)
    if found is not None:
        return found
    return incident_view(session, config=config, incident_id=incident_id, now=view.built_at)


def _views(
    session: Session, config: Config, view: PublicView, rows: list[Incident]
) -> list[IncidentView]:
    """Public views of these incidents (those with a public update), in their order."""
    status = config.status
    mask = masker_with(secrets_of(config)).text
    by_name = {c.name: c for c in view.components if not c.group}
    events = timelines(session, incident_ids=[i.id for i in rows])
    published = [i for i in rows if any(e.public for e in events[i.id])]
    checks = _alert_checks(session, [i.id for i in published])
    return [
        _incident(
            i, events[i.id], _affected(i, checks.get(i.id, set()), status, by_name), status, mask
        )
        for i in published
    ]


def _windows(rows: list[Maintenance], now: dt.datetime) -> dict[str, list[uptime.Window]]:
    """The windows maintenances were under way, by public component (none in the future)."""
    found: dict[str, list[uptime.Window]] = {}
    for row in rows:
        if maintenance.phase(row, now) not in ("in_progress", "completed"):
            continue
        start = row.started_at or row.starts_at
        end = min(row.ended_at or row.ends_at, now)
        for name in row.components:
            found.setdefault(name, []).append((start, end))
    return found


def incident_view(
    session: Session, *, config: Config, incident_id: int, now: dt.datetime
) -> IncidentView | None:
    """One incident as the public page shows it (its public name, status and public
    updates only), or None while it has no public update: customer email reads this."""
    incident = session.get(Incident, incident_id)
    if incident is None:
        return None
    events = timelines(session, incident_ids=[incident_id])[incident_id]
    if not any(e.public for e in events):
        return None
    _page, mask, _under, components = _setting(session, config, now)
    by_name = {c.name: c for c in components if not c.group}
    checks = _alert_checks(session, [incident_id]).get(incident_id, set())
    affected = _affected(incident, checks, config.status, by_name)
    return _incident(incident, events, affected, config.status, mask)


def _setting(
    session: Session, config: Config, now: dt.datetime
) -> tuple[str, Mask, list[Maintenance], list[ComponentView]]:
    """The page's id, its masker, the maintenances under way and the components' states."""
    status = config.status
    page_id = stable_id("page", status.url or status.name)
    mask = masker_with(secrets_of(config)).text
    under = maintenance.in_progress(session, now=now)
    components = public_components(
        session, status, page_id, {n for m in under for n in m.components}, now
    )
    return page_id, mask, under, components


# --- incidents ----------------------------------------------------------------------------


def _incidents(
    session: Session,
    status: StatusConfig,
    components: dict[str, ComponentView],
    mask: Mask,
    now: dt.datetime,
) -> list[IncidentView]:
    """Incidents with a public update, open or from the last HISTORY, newest first."""
    recent = list_incidents(session, since=now - HISTORY)
    still_open = list_incidents(session, open_only=True)
    found = {i.id: i for i in [*recent, *still_open]}
    events = timelines(session, incident_ids=list(found))
    published = [
        i
        for i in sorted(found.values(), key=lambda i: -i.id)
        if any(e.public for e in events[i.id])
    ]
    checks = _alert_checks(session, [i.id for i in published])
    views = [
        _incident(
            i, events[i.id], _affected(i, checks.get(i.id, set()), status, components), status, mask
        )
        for i in published[: status.history]
    ]
    return views


def _alert_checks(session: Session, incident_ids: list[int]) -> dict[int, set[str]]:
    """The checks whose alerts went to each incident: which public components it touches."""
    found: dict[int, set[str]] = {}
    if incident_ids:
        query = select(Alert.incident_id, Alert.labels).where(Alert.incident_id.in_(incident_ids))
        for incident_id, labels in session.execute(query):
            check = (labels or {}).get("check")
            if incident_id is not None and check:
                found.setdefault(incident_id, set()).add(str(check))
    return found


def _affected(
    incident: Incident,
    checks: set[str],
    status: StatusConfig,
    components: dict[str, ComponentView],
) -> list[ComponentView]:
    """Public components named by the incident's component or made of its alerts' checks."""
    named = (incident.component or "").casefold()
    hits = [
        c
        for c in status.components
        if c.name.casefold() == named or named in c.checks or checks & set(c.checks)
    ]
    return [components[c.name] for c in hits if c.name in components]


def _incident(
    incident: Incident,
    events: list[IncidentEvent],
    affected: list[ComponentView],
    status: StatusConfig,
    mask: Mask,
) -> IncidentView:
    current = Status(incident.status)
    updates: list[UpdateView] = []
    monitoring_at = resolved_at = None
    moment = Status.OPEN
    for event in events:
        if event.kind == "status":
            moment = Status(event.data.get("to", moment.value))
            if moment is Status.MONITORING and monitoring_at is None:
                monitoring_at = event.at
            if moment is Status.RESOLVED:
                resolved_at = event.at
        if event.public:
            body = mask(event.text or "")
            updates.append(UpdateView(f"u{event.id}", public_status(moment), body, event.at))
    impact = IMPACT.get(incident.severity, "minor")
    words = ", ".join(c.name for c in affected)
    name = f"{_NAME[impact]}: {words}" if words else _NAME[impact]
    updates.reverse()
    return IncidentView(
        id=f"i{incident.id}",
        name=name,
        status=public_status(current),
        impact=impact,
        created_at=incident.opened_at,
        updated_at=max([u.at for u in updates] + ([resolved_at] if resolved_at else [])),
        monitoring_at=monitoring_at,
        resolved_at=resolved_at if current is Status.RESOLVED else None,
        shortlink=_link(status, f"incidents/i{incident.id}"),
        updates=updates,
        components=affected,
    )


def _link(status: StatusConfig, path: str) -> str:
    return f"{(status.url or '').rstrip('/')}/status/{path}"


# --- maintenances -------------------------------------------------------------------------

_MAINTENANCE_STATUS = {
    "scheduled": "scheduled",
    "in_progress": "in_progress",
    "completed": "completed",
    "cancelled": "completed",
}


def _maintenance(
    row: Maintenance,
    status: StatusConfig,
    components: dict[str, ComponentView],
    mask: Mask,
    now: dt.datetime,
) -> IncidentView:
    phase = maintenance.phase(row, now)
    shown = _MAINTENANCE_STATUS[phase]
    body = mask(row.message or row.title)
    updates = [UpdateView(f"m{row.id}-0", "scheduled", body, row.created_at)]
    if row.started_at is not None or phase in ("in_progress", "completed"):
        begun = row.started_at or row.starts_at
        updates.append(
            UpdateView(f"m{row.id}-1", "in_progress", "Maintenance is in progress.", begun)
        )
    if phase == "completed":
        ended = row.ended_at or row.ends_at
        updates.append(UpdateView(f"m{row.id}-2", "completed", "Maintenance is complete.", ended))
    updates = [u for u in updates if u.at <= now or u.status == "scheduled"]
    updates.reverse()
    return IncidentView(
        id=f"m{row.id}",
        name=mask(row.title),
        status=shown,
        impact="maintenance",
        created_at=row.created_at,
        updated_at=max(u.at for u in updates),
        monitoring_at=None,
        resolved_at=(row.ended_at or row.ends_at) if phase == "completed" else None,
        shortlink=_link(status, f"incidents/m{row.id}"),
        updates=updates,
        components=[components[n] for n in row.components if n in components],
        scheduled_for=row.starts_at,
        scheduled_until=row.ends_at,
    )
