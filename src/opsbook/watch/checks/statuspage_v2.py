"""Atlassian Statuspage v2 pages: which components count, the worst of them, in words.

A page-wide answer misleads on pages with many components: Vercel lists each region as
its own component, and one region's major outage turns the page's indicator red for
every customer. So a check may select the components it depends on (`components:`) and
leave others out (`ignore:`); the worst selected component decides the state and the
summary names it. Groups are components too (`group: true`, their children point back
with `group_id`); a group's status is a blend of its children's, so only the children
are judged, and a group whose selected children all share the worst status is named once.

Everything on the page is the provider's text: names are shown with control characters
escaped and cut to a length, and only a few are listed before "and N more".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

from opsbook.console import visible
from opsbook.watch.result import State

# Worse is higher. Maintenance is planned work: it degrades, but less than a real fault.
_RANK = {
    "operational": 0,
    "under_maintenance": 1,
    "degraded_performance": 2,
    "partial_outage": 3,
    "major_outage": 4,
}
_UNKNOWN_RANK = 2  # a status the published API does not list: degraded, and said as is
_STATE: dict[int, State] = {0: "ok", 1: "degraded", 2: "degraded", 3: "degraded", 4: "down"}
_INDICATOR: dict[str, State] = {
    "none": "ok",
    "minor": "degraded",
    "major": "down",
    "critical": "down",
    "maintenance": "degraded",
}
_SEVERITY: dict[State, int] = {"ok": 0, "degraded": 1, "down": 2, "error": 3}
_ENDED = {"resolved", "postmortem", "completed"}
_UNDERWAY = {"in_progress", "verifying"}

SHOWN = 3  # names listed in a summary before "and N more"
LISTED = 10  # the page's names listed when a configured name is not among them
KEPT = 50  # entries kept in a result's details
NAME_LIMIT = 80  # characters of one name shown


def shown(value: object, limit: int = NAME_LIMIT) -> str:
    """A provider's text as a responder may see it: one line, no control sequences, short."""
    text = visible(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def listing(names: Sequence[str], limit: int = SHOWN) -> str:
    """`a, b, c and 4 more`: a bounded list of names already made `shown`."""
    if len(names) <= limit:
        return ", ".join(names)
    return f"{', '.join(names[:limit])} and {len(names) - limit} more"


@dataclass(frozen=True)
class Component:
    id: str
    name: str
    status: str
    group_id: str | None
    group: bool

    @property
    def rank(self) -> int:
        return _RANK.get(self.status, _UNKNOWN_RANK)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def parse_components(data: dict[str, Any]) -> list[Component]:
    """The page's components in page order; entries that are not objects are skipped."""
    found = []
    for item in _objects(data.get("components")):
        group_id = item.get("group_id")
        found.append(
            Component(
                id=_text(item.get("id")),
                name=_text(item.get("name")),
                status=_text(item.get("status")),
                group_id=None if group_id is None else str(group_id),
                group=item.get("group") is True,
            )
        )
    return found


class Page:
    """One page's components, indexed for selection by name."""

    def __init__(self, components: list[Component]) -> None:
        self.components = components
        self.groups = {c.id: c for c in components if c.group}
        self.children: dict[str, list[Component]] = {}
        for c in components:
            if not c.group and c.group_id in self.groups:
                self.children.setdefault(c.group_id, []).append(c)
        # A group without children is judged like any component.
        self.leaves = [c for c in components if not c.group or c.id not in self.children]
        self._by_name: dict[str, list[Component]] = {}
        for c in components:
            self._by_name.setdefault(c.name.casefold(), []).append(c)
            if c.group_id in self.groups:
                path = f"{self.groups[c.group_id].name}/{c.name}".casefold()
                self._by_name.setdefault(path, []).append(c)

    def resolve(self, name: str) -> list[Component] | None:
        """The leaves a configured name means (a group means its children); None if no
        component is called that. Matching is exact but ignores case; `Group/Child` names
        a child whose name repeats in other groups."""
        matched = self._by_name.get(name.strip().casefold())
        if not matched:
            return None
        leaves: list[Component] = []
        for c in matched:
            leaves.extend(self.children.get(c.id, [c]))
        return leaves

    def select(self, wanted: Sequence[str], ignore: Sequence[str]) -> list[Component]:
        """The selected leaves in page order: the wanted ones (all when none is named)
        minus the ignored. Call `unknown` first: unknown names select nothing here."""
        chosen = {c.id for name in wanted for c in self.resolve(name) or []}
        dropped = {c.id for name in ignore for c in self.resolve(name) or []}
        return [c for c in self.leaves if (not wanted or c.id in chosen) and c.id not in dropped]

    def unknown(self, names: Iterable[str]) -> list[str]:
        return [name for name in names if self.resolve(name) is None]

    def label(self, c: Component) -> str:
        """A component's name, with its group's where the name alone is ambiguous."""
        if len(self._by_name.get(c.name.casefold(), [])) > 1 and c.group_id in self.groups:
            return f"{shown(self.groups[c.group_id].name, 40)}/{shown(c.name)}"
        return shown(c.name)

    def names(self, affected: list[Component], selected: list[Component]) -> list[str]:
        """Names for the affected leaves: a group once when every selected child of it
        is affected (never the group and its child), otherwise the children."""
        hit = {c.id for c in affected}
        chosen = {c.id for c in selected}
        whole = {
            group_id
            for group_id, children in self.children.items()
            if len(mine := [c for c in children if c.id in chosen]) > 1
            and all(c.id in hit for c in mine)
        }
        out: list[str] = []
        for c in affected:
            name = shown(self.groups[c.group_id].name) if c.group_id in whole else self.label(c)
            if name not in out:
                out.append(name)
        return out


def _touches(item: dict[str, Any], ids: set[str]) -> bool | None:
    """Whether an incident or maintenance names one of `ids` among its components (the
    summary lists them per item, and per update as `affected_components[].code`); None
    when it names no component at all."""
    named = {_text(c.get("id")) for c in _objects(item.get("components"))}
    for update in _objects(item.get("incident_updates")):
        named |= {_text(c.get("code")) for c in _objects(update.get("affected_components"))}
    named.discard("")
    return bool(named & ids) if named else None


def _objects(raw: Any) -> list[dict[str, Any]]:
    """The objects of a list the provider sent; anything else is no list at all."""
    return [i for i in raw if isinstance(i, dict)] if isinstance(raw, list) else []


def _relevant(items: list[dict[str, Any]], ids: set[str], filtered: bool) -> list[dict[str, Any]]:
    # Filtered, an item counts only when it names a selected component: a page-wide
    # incident about another region is not ours.
    return [i for i in items if _touches(i, ids) or (_touches(i, ids) is None and not filtered)]


def _label(status: str) -> str:
    return status.replace("_", " ") if status in _RANK else f"status {shown(status, 40)}"


def _incident(item: dict[str, Any]) -> str:
    return (
        f"{shown(item.get('name'))} ({shown(item.get('status'), 20)},"
        f" impact {shown(item.get('impact'), 20)})"
    )


@dataclass(frozen=True)
class Unknown:
    """Configured names the page does not have: a config error, said with the page's names."""

    field: str
    names: list[str]
    page_names: list[str]


def interpret(
    provider: str, data: dict[str, Any], *, wanted: Sequence[str], ignore: Sequence[str]
) -> tuple[State, str, dict[str, Any]] | Unknown:
    """State, summary and details of a v2 summary.json for the selected components."""
    page = Page(parse_components(data))
    for field, names in (("components", wanted), ("ignore", ignore)):
        if missing := page.unknown(names):
            return Unknown(field, missing, [shown(c.name) for c in page.components])
    filtered = bool(wanted or ignore)
    selected = page.select(wanted, ignore)
    worst = max((c.rank for c in selected), default=0)
    affected = [c for c in selected if c.rank == worst] if worst else []
    state = _STATE[worst]
    status = data["status"]
    indicator = _text(status.get("indicator") or "none")
    if not filtered:
        # Unfiltered, the page's own indicator counts too: an incident may name no component.
        state = max(state, _INDICATOR.get(indicator, "degraded"), key=_SEVERITY.__getitem__)
    news = _News(data, {c.id for c in selected}, filtered)
    names = page.names(affected, selected)
    maintenance = news.maintenance(under=worst == _RANK["under_maintenance"])
    if affected:
        words = f"{_label(affected[0].status)}: {listing(names)}"
        if maintenance is not None and worst == _RANK["under_maintenance"]:
            words += f" ({maintenance})"
    elif state != "ok" or not filtered:
        words = shown(status.get("description") or indicator)
    else:
        words = f"{len(selected)} selected component{'' if len(selected) == 1 else 's'} operational"
    words += news.words(affected=bool(affected))
    details = {
        "format": "statuspage",
        "indicator": shown(indicator, 40),
        "selected": len(selected),
        "worst": shown(affected[0].status, 40) if affected else "operational",
        "affected": names[:KEPT],
        "components": dict(
            islice(((page.label(c), shown(c.status, 40)) for c in selected if c.rank), KEPT)
        ),
        "incidents": [shown(i.get("name")) for i in news.incidents[:KEPT]],
        "maintenance": maintenance,
    }
    return state, f"{provider}: {words}", details


class _News:
    """The unresolved incidents and the maintenances under way that concern the selection."""

    def __init__(self, data: dict[str, Any], ids: set[str], filtered: bool) -> None:
        open_ = [i for i in _objects(data.get("incidents")) if i.get("status") not in _ENDED]
        self.incidents = _relevant(open_, ids, filtered)
        underway = [
            m for m in _objects(data.get("scheduled_maintenances")) if m.get("status") in _UNDERWAY
        ]
        self.maintenances = _relevant(underway, ids, filtered)
        self._unnamed = [m for m in underway if _touches(m, ids) is None]

    def maintenance(self, *, under: bool) -> str | None:
        """The name of the maintenance under way on the selection. With a selected
        component under maintenance and no maintenance naming it, the one that names no
        component at all is the best guess."""
        found = self.maintenances or (self._unnamed if under else [])
        return shown(found[0].get("name")) if found else None

    def words(self, *, affected: bool) -> str:
        if self.incidents:
            return f"; {_incident(self.incidents[0])}"
        if self.maintenances and not affected:
            return f"; maintenance in progress: {shown(self.maintenances[0].get('name'))}"
        return ""
