"""Routing: where a firing alert goes, kept apart from alert state as Alertmanager keeps
its dispatcher apart from its alert store.

A firing alert attaches to the open incident of its component; else, during an alert storm
(`alerts.grouping`: that many incidents opened by alerts within the window still open), it
joins the newest of them, raising its severity when it holds something more urgent, like
PagerDuty's time-based grouping; else it opens an incident of its own. A warning that
opens no incident (a degraded check) is only logged.

`Router.route` is the entry point, inside the alert transaction; it returns what it did
as a `Routed`, the data paging will act on. It only writes: ranking runbooks for an
incident it opened reads files, so `suggest_runbooks` does it once the alert transaction
has committed, and writes each pick in a short transaction of its own.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.orm import Session

from opsbook.clock import Clock
from opsbook.config import Config, format_duration
from opsbook.incidents import service as incidents
from opsbook.incidents.models import Incident
from opsbook.runbooks.suggest import first_pick, suggest_for
from opsbook.store import Store
from opsbook.watch.models import Alert

ACTOR = "opsbook-watch"
log = logging.getLogger("opsbook.watch")

Action = Literal["opened", "attached", "grouped", "none"]


@dataclass(frozen=True)
class RunbookQuery:
    """What an incident opened without a named runbook is matched by, as it opened."""

    title: str
    symptoms: tuple[str, ...]
    component: str | None
    severity: str


@dataclass(frozen=True)
class Routed:
    """What routing did with one firing alert.

    `action`: opened an incident, attached to its component's open one, grouped into a
    storm's, or none (a warning that opens no incident). `severity` is the incident's once
    routed; `raised_from` its severity before, when this alert raised it. `suggest` is set
    when the alert opened an incident and named no runbook: one is ranked after the commit.
    """

    alert_id: int
    rule: str
    level: str
    action: Action
    incident_id: int | None = None
    severity: str | None = None
    raised_from: str | None = None
    suggest: RunbookQuery | None = None


class Router:
    """Routes the alerts one batch fires, inside the batch's transaction.

    The open incidents are read once per batch and kept current as the batch opens more:
    in a storm every firing alert asks where it belongs.
    """

    def __init__(self, session: Session, *, config: Config, clock: Clock) -> None:
        self.session, self.config, self.clock = session, config, clock
        self._newest_first: list[Incident] | None = None

    def route(self, alert: Alert, *, severity: str, opens_incident: bool) -> Routed:
        """Send a firing alert to its incident (opening one if it may) and say what was done."""
        text = f"alert {alert.rule} firing ({alert.level}): {alert.summary}"
        incident = self._for_component(alert.component)
        if incident is not None:
            attached = text + " (attached to this open incident)"
            alert_event(self.session, incident, alert, attached, self.clock)
            return self._routed(alert, "attached", incident)
        if not opens_incident:
            log.info("FIRING %s (%s, no incident): %s", alert.rule, alert.level, alert.summary)
            return Routed(alert_id=alert.id, rule=alert.rule, level=alert.level, action="none")
        storm = self._storm(self.clock.now())
        if storm is not None:
            return self._group(storm, alert, severity, text)
        return self._open(alert, severity, text)

    # --- where it belongs --------------------------------------------------------------------

    def _open_incidents(self) -> list[Incident]:
        if self._newest_first is None:
            self._newest_first = incidents.list_incidents(self.session, open_only=True)
        return self._newest_first

    def _for_component(self, component: str | None) -> Incident | None:
        if component is None:
            return None
        return next((i for i in self._open_incidents() if i.component == component), None)

    def _storm(self, now: dt.datetime) -> Incident | None:
        """Where an alert storm gathers: the newest incident alerts opened, once the grouping
        limit of such incidents opened within its window are still open."""
        grouping = self.config.alerts.grouping
        if grouping is None:
            return None
        recent = [
            i
            for i in self._open_incidents()
            if i.opened_by == ACTOR and i.opened_at >= now - grouping.window
        ]
        return recent[0] if len(recent) >= grouping.max_incidents else None

    # --- what it does ------------------------------------------------------------------------

    def _open(self, alert: Alert, severity: str, text: str) -> Routed:
        incident = incidents.open_incident(
            self.session,
            title=_title(alert),
            severity=severity,
            actor=ACTOR,
            clock=self.clock,
            component=alert.component,
            symptoms=[alert.summary],
        )
        if self._newest_first is not None:
            self._newest_first.insert(0, incident)
        alert_event(self.session, incident, alert, text, self.clock)
        if alert.runbook:  # named by the rule, the check or the sender: nothing to rank
            suggested(self.session, incident, alert.runbook, self.clock)
            return self._routed(alert, "opened", incident)
        query = RunbookQuery(
            incident.title, tuple(incident.symptoms), incident.component, incident.severity
        )
        return self._routed(alert, "opened", incident, suggest=query)

    def _group(self, incident: Incident, alert: Alert, severity: str, text: str) -> Routed:
        grouping = self.config.alerts.grouping
        assert grouping is not None
        why = (
            f" (grouped here: {grouping.max_incidents} incidents opened by alerts in the last "
            f"{format_duration(grouping.window)} are still open)"
        )
        alert_event(self.session, incident, alert, text + why, self.clock, grouped=True)
        raised_from = None
        if severity < incident.severity:  # the storm holds something more urgent: say so
            raised_from = incident.severity
            incidents.change_severity(
                self.session,
                incident_id=incident.id,
                severity=severity,
                reason=f"grouped alert {alert.rule} is {severity}",
                actor=ACTOR,
                clock=self.clock,
            )
        return self._routed(alert, "grouped", incident, raised_from=raised_from)

    def _routed(
        self,
        alert: Alert,
        action: Action,
        incident: Incident,
        *,
        raised_from: str | None = None,
        suggest: RunbookQuery | None = None,
    ) -> Routed:
        alert.incident_id = incident.id
        how = {"opened": "opened", "attached": "attached to", "grouped": "grouped into"}[action]
        # One line per transition on serve's output: what a responder tails at 3 a.m.
        log.info(
            "FIRING %s (%s) -> %s incident #%s %s: %s",
            alert.rule,
            alert.level,
            how,
            incident.id,
            incident.severity,
            alert.summary,
        )
        return Routed(
            alert_id=alert.id,
            rule=alert.rule,
            level=alert.level,
            action=action,
            incident_id=incident.id,
            severity=incident.severity,
            raised_from=raised_from,
            suggest=suggest,
        )


def _title(alert: Alert) -> str:
    # A summary may begin with ";" (or be blank): an incident still needs a title.
    first = alert.summary.split(";")[0].strip() or alert.summary.strip() or alert.rule
    if alert.source == "check":
        first = f"{alert.rule.removeprefix('check:')} check failing: {first}"
    return first if len(first) <= 120 else first[:119] + "…"


# --- after the commit ------------------------------------------------------------------------


def suggest_runbooks(
    store: Store, config: Config, routed: Sequence[Routed], *, clock: Clock
) -> int:
    """Rank runbooks for the incidents routing opened without one and put each first pick on
    its incident's timeline; returns how many were written. Call it after the alert
    transaction has committed, never inside it.

    Ranking reads runbook files (those changed since the last time). Inside the alert
    transaction it would hold the store's write lock while it reads them: on SQLite every
    opsbook transaction takes that lock at BEGIN (IMMEDIATE), so checks, rules and the
    Alertmanager receiver would all wait. A failure here is logged, never raised: the
    alerts are committed, and a caller that saw an exception would store them again.
    """
    picks: dict[int, str] = {}
    for r in routed:
        if r.suggest is None or r.incident_id is None:
            continue
        try:
            ranked = suggest_for(
                config,
                title=r.suggest.title,
                symptoms=r.suggest.symptoms,
                component=r.suggest.component,
                severity=r.suggest.severity,
            )
        except Exception:
            log.exception("ranking runbooks for incident #%s failed", r.incident_id)
            continue
        if (best := first_pick(ranked)) is not None:
            picks[r.incident_id] = best.runbook
    if not picks:
        return 0
    try:
        with store.session() as session:
            for incident_id, runbook in picks.items():
                incident = incidents.get(session, incident_id=incident_id)
                suggested(session, incident, runbook, clock)
    except Exception:
        log.exception("recording suggested runbooks for incidents %s failed", sorted(picks))
        return 0
    return len(picks)


# --- the incident's timeline -----------------------------------------------------------------


def note(session: Session, alert: Alert, text: str, *, clock: Clock) -> None:
    """Later news of a routed alert (critical now, resolved) on its incident's timeline."""
    assert alert.incident_id is not None
    incident = incidents.get(session, incident_id=alert.incident_id)
    alert_event(session, incident, alert, text, clock)


def alert_event(
    session: Session,
    incident: Incident,
    alert: Alert,
    text: str,
    clock: Clock,
    *,
    grouped: bool = False,
) -> None:
    """An alert's line on an incident's timeline. Not flushed one by one: a storm writes
    thousands, and they go out together with the transaction."""
    data: dict[str, Any] = {"alert": alert.id, "rule": alert.rule}
    if grouped:
        data["grouped"] = True
    incidents.log_event(
        session,
        incident=incident,
        kind="alert",
        actor=ACTOR,
        clock=clock,
        text=text,
        data=data,
        flush=False,
    )


def suggested(session: Session, incident: Incident, runbook: str, clock: Clock) -> None:
    """The runbook to run, on the incident's timeline as a command a responder can paste."""
    incidents.log_event(
        session,
        incident=incident,
        kind="runbook.suggested",
        actor=ACTOR,
        clock=clock,
        text=f"suggested runbook: opsbook runbook run {runbook} --incident {incident.id}",
        data={"runbook": runbook},
    )
