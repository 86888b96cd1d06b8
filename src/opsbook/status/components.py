"""Public components: the worst debounced state of each component's checks, groups as
Statuspage shows them, and the page's indicator (see `public` for what counts)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from opsbook.config.status import PublicComponent, StatusConfig
from opsbook.status.view import (
    HISTORY,
    ComponentStatus,
    ComponentView,
    IncidentView,
    Indicator,
    stable_id,
)
from opsbook.watch.models import CheckState

_IMPACT_RANK = {"none": 0, "minor": 1, "major": 2, "critical": 3}


def components(
    session: Session, status: StatusConfig, page_id: str, under: set[str], now: dt.datetime
) -> list[ComponentView]:
    """Each group (a component of its own, Statuspage's way) followed by its members."""
    names = sorted({c for comp in status.components for c in comp.checks})
    states = {
        row.name: row
        for row in session.scalars(select(CheckState).where(CheckState.name.in_(names)))
    }
    views: list[ComponentView] = []
    groups: dict[str, list[ComponentView]] = {}
    for comp in status.components:
        group_id = stable_id(page_id, "group", comp.group) if comp.group else None
        view = _component(comp, states, comp.name in under, page_id, group_id, now)
        if comp.group and comp.group not in groups:
            groups[comp.group] = []
            views.append(_group(comp.group, group_id, now))
        (groups[comp.group] if comp.group else views).append(view)
    ordered: list[ComponentView] = []
    for view in views:
        ordered.append(view)
        if view.group:
            members = groups[view.name]
            ordered[-1] = _blend(view, members)
            ordered.extend(members)
    return [_at(view, position) for position, view in enumerate(ordered, start=1)]


def _component(
    comp: PublicComponent,
    states: dict[str, CheckState],
    in_maintenance: bool,
    page_id: str,
    group_id: str | None,
    now: dt.datetime,
) -> ComponentView:
    seen = [_judged(states[name]) for name in comp.checks if name in states]
    judged = [state for state in seen if state is not None]
    status: ComponentStatus = "operational"
    if in_maintenance:
        status = "under_maintenance"
    elif judged and all(s == "down" for s in judged):
        status = "major_outage"
    elif "down" in judged:
        status = "partial_outage"
    elif "degraded" in judged:
        status = "degraded_performance"
    changed = [states[n].at for n in comp.checks if n in states]
    return ComponentView(
        id=stable_id(page_id, "component", comp.name),
        name=comp.name,
        description=comp.description,
        status=status,
        position=0,
        group_id=group_id,
        group=False,
        only_show_if_degraded=comp.only_show_if_degraded,
        created_at=now - HISTORY,
        updated_at=max(changed, default=now),
    )


def _judged(row: CheckState) -> str | None:
    """What one check says of the service: its state once its debounce confirmed a failure,
    ok otherwise; None when opsbook could not evaluate it."""
    if row.state == "error":
        return None
    return row.state if row.failing and row.state in ("down", "degraded") else "ok"


_WORST: list[ComponentStatus] = [
    "major_outage",
    "partial_outage",
    "degraded_performance",
    "under_maintenance",
    "operational",
]


def _group(name: str, group_id: str | None, now: dt.datetime) -> ComponentView:
    return ComponentView(
        id=group_id or "",
        name=name,
        description=None,
        status="operational",
        position=0,
        group_id=None,
        group=True,
        only_show_if_degraded=False,
        created_at=now - HISTORY,
        updated_at=now,
    )


def _blend(group: ComponentView, members: Sequence[ComponentView]) -> ComponentView:
    """A group shows its worst member, as Statuspage's groups do."""
    worst: ComponentStatus = min(
        (m.status for m in members), key=_WORST.index, default="operational"
    )
    updated = max((m.updated_at for m in members), default=group.updated_at)
    return replace(group, status=worst, updated_at=updated)


def _at(view: ComponentView, position: int) -> ComponentView:
    return replace(view, position=position)


def indicator(
    components: list[ComponentView], incidents: list[IncidentView], maintenance_now: bool
) -> Indicator:
    """Statuspage's blend: the worse of what components show and the impact of unresolved
    incidents; maintenance only when nothing is wrong."""
    leaves = [c.status for c in components if not c.group]
    rank = 0
    if leaves and all(s == "major_outage" for s in leaves):
        rank = 3
    elif "major_outage" in leaves:
        rank = 2
    elif "partial_outage" in leaves or "degraded_performance" in leaves:
        rank = 1
    for incident in incidents:
        if incident.unresolved:
            rank = max(rank, _IMPACT_RANK[incident.impact])
    if rank == 0 and maintenance_now:
        return "maintenance"
    ranked: tuple[Indicator, ...] = ("none", "minor", "major", "critical")
    return ranked[rank]
