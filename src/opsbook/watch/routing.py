"""Routing: where a firing alert goes, kept apart from alert state as Alertmanager keeps
its dispatcher apart from its alert store.

A firing alert attaches to the open incident its Alertmanager group went to, else to the
open incident of its component; joining, it raises the incident's severity when it is more
urgent (the clocks of the new severity start then). Else, during an alert storm
(`alerts.grouping`: that many incidents opened by alerts within the window still open), it
joins the newest of them, raising it likewise, like PagerDuty's time-based grouping; else
it opens an incident of its own, linking the resolved incident its predecessor outlived
(`alerts.detach`). A warning that opens no incident (a degraded check) is only logged.
An alert that may open an incident, joining one in monitoring, is a relapse: the incident
goes back to investigating and is paged again (incidents/relapse.py).

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
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from opsbook.clock import Clock
from opsbook.config import Config, format_duration
from opsbook.incidents import service as incidents
from opsbook.incidents.models import Incident
from opsbook.runbooks.suggest import first_pick, suggest_for
from opsbook.store import Store
from opsbook.watch.models import Alert
from opsbook.watch.timeline import ACTOR, alert_event, suggested

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
    `relapsed`: the incident was monitoring, and this alert sent it back to investigating.
    """

    alert_id: int
    rule: str
    level: str
    action: Action
    incident_id: int | None = None
    severity: str | None = None
    raised_from: str | None = None
    suggest: RunbookQuery | None = None
    relapsed: bool = False


class Router:
    """Routes the alerts one batch fires, inside the batch's transaction (which holds the
    alert lock, `exclusive`, so no other process decides meanwhile).

    The open incidents are read once per batch and kept current as the batch opens more:
    in a storm every firing alert asks where it belongs.
    """

    def __init__(self, session: Session, *, config: Config, clock: Clock) -> None:
        self.session, self.config, self.clock = session, config, clock
        self._newest_first: list[Incident] | None = None
        self._groups: dict[str, Incident | None] = {}

    def route(self, alert: Alert, *, severity: str, opens_incident: bool) -> Routed:
        """Send a firing alert to its incident (opening one if it may) and say what was done."""
        text = f"alert {alert.rule} firing ({alert.level}): {alert.summary}"
        incident = self._for_group(alert.group_key) or self._for_component(alert.component)
        if incident is not None:
            attached = text + " (attached to this open incident)"
            alert_event(self.session, incident, alert, attached, self.clock)
            # Only an alert that may open an incident may raise one or relapse it: a
            # degraded check's warning joins, and leaves the severity to what is down.
            if not opens_incident:
                return self._routed(alert, "attached", incident)
            relapsed = self._relapse(incident, alert, "firing again")
            why = f"attached alert {alert.rule} is {severity}"
            raised_from = self._raise(incident, severity, why)
            return self._routed(
                alert, "attached", incident, raised_from=raised_from, relapsed=relapsed
            )
        if not opens_incident:
            log.info("FIRING %s (%s, no incident): %s", alert.rule, alert.level, alert.summary)
            return Routed(alert_id=alert.id, rule=alert.rule, level=alert.level, action="none")
        storm = self._storm(self.clock.now())
        if storm is not None:
            return self._group(storm, alert, severity, text)
        return self._open(alert, severity, text)

    def escalate(self, alert: Alert, *, severity: str) -> Routed:
        """A routed alert turned critical: said on its incident, whose severity it raises
        when it is now the most urgent alert there."""
        assert alert.incident_id is not None
        incident = incidents.get(self.session, incident_id=alert.incident_id)
        text = f"alert {alert.rule} is now critical: {alert.summary}"
        alert_event(self.session, incident, alert, text, self.clock)
        relapsed = self._relapse(incident, alert, "now critical")
        why = f"alert {alert.rule} is now critical ({severity})"
        raised_from = self._raise(incident, severity, why)
        return self._routed(alert, "attached", incident, raised_from=raised_from, relapsed=relapsed)

    def open_ids(self) -> set[int]:
        """The ids of the incidents open now (as this batch sees them)."""
        return {i.id for i in self._open_incidents()}

    # --- where it belongs --------------------------------------------------------------------

    def _open_incidents(self) -> list[Incident]:
        if self._newest_first is None:
            self._newest_first = incidents.list_incidents(self.session, open_only=True)
        return self._newest_first

    def _for_group(self, key: str | None) -> Incident | None:
        """The open incident an alert of this Alertmanager group went to (the newest), so a
        group stays one incident whichever labels its later alerts carry."""
        if key is None:
            return None
        if key not in self._groups:
            by_id = {i.id: i for i in self._open_incidents()}
            found = (
                self.session.scalar(
                    select(Alert.incident_id)
                    .where(Alert.group_key == key, Alert.incident_id.in_(by_id))
                    .order_by(Alert.incident_id.desc())
                    .limit(1)
                )
                if by_id
                else None
            )
            self._groups[key] = by_id.get(found) if found is not None else None
        return self._groups[key]

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

    def _follows(self, alert: Alert) -> int | None:
        """The incident this alert's predecessor was detached from: a person resolved it
        while the alert still fired (see `alerts.detach`)."""
        before = self.session.execute(
            select(Alert.incident_id, Alert.detached)
            .where(Alert.fingerprint == alert.fingerprint, Alert.id < alert.id)
            .order_by(Alert.id.desc())
            .limit(1)
        ).first()
        return before.incident_id if before is not None and before.detached else None

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
        follows = self._follows(alert)
        if follows is None:
            alert_event(self.session, incident, alert, text, self.clock)
        else:
            self._link(incident, follows, alert, text)
        if alert.runbook:  # named by the rule, the check or the sender: nothing to rank
            suggested(self.session, incident, alert.runbook, self.clock)
            return self._routed(alert, "opened", incident)
        query = RunbookQuery(
            incident.title, tuple(incident.symptoms), incident.component, incident.severity
        )
        return self._routed(alert, "opened", incident, suggest=query)

    def _link(self, incident: Incident, resolved_id: int, alert: Alert, text: str) -> None:
        """Both timelines point at each other: the new incident says which resolved one
        its alert outlived, the resolved one where its alert went."""
        still = f" (still firing after incident #{resolved_id} was resolved)"
        alert_event(self.session, incident, alert, text + still, self.clock, follows=resolved_id)
        resolved = incidents.get(self.session, incident_id=resolved_id)
        went = f"alert {alert.rule} still fires: it opened incident #{incident.id}"
        alert_event(self.session, resolved, alert, went, self.clock, followed_by=incident.id)

    def _group(self, incident: Incident, alert: Alert, severity: str, text: str) -> Routed:
        grouping = self.config.alerts.grouping
        assert grouping is not None
        why = (
            f" (grouped here: {grouping.max_incidents} incidents opened by alerts in the last "
            f"{format_duration(grouping.window)} are still open)"
        )
        alert_event(self.session, incident, alert, text + why, self.clock, grouped=True)
        relapsed = self._relapse(incident, alert, "firing")
        why = f"grouped alert {alert.rule} is {severity}"
        raised_from = self._raise(incident, severity, why)
        return self._routed(alert, "grouped", incident, raised_from=raised_from, relapsed=relapsed)

    def _relapse(self, incident: Incident, alert: Alert, how: str) -> bool:
        """An alert firing on a monitoring incident says the fix did not hold: back to
        investigating, paged again as a new fire (incidents/relapse.py)."""
        if incident.status != "monitoring":
            return False
        reason = f"relapse: {alert.rule} {how} while monitoring"
        moved = incidents.relapse(
            self.session,
            incident_id=incident.id,
            reason=reason,
            actor=ACTOR,
            clock=self.clock,
            data={"alert": alert.id, "rule": alert.rule},
        )
        return moved is not None

    def _raise(self, incident: Incident, severity: str, reason: str) -> str | None:
        """Raise the incident to this alert's severity when it is more urgent (P0 < P1);
        returns the severity it had. `change_severity` writes it on the timeline, and the
        clocks of the new severity run from that line."""
        if severity >= incident.severity:
            return None
        before = incident.severity
        incidents.change_severity(
            self.session,
            incident_id=incident.id,
            severity=severity,
            reason=reason,
            actor=ACTOR,
            clock=self.clock,
        )
        return before

    def _routed(
        self,
        alert: Alert,
        action: Action,
        incident: Incident,
        *,
        raised_from: str | None = None,
        suggest: RunbookQuery | None = None,
        relapsed: bool = False,
    ) -> Routed:
        alert.incident_id = incident.id
        if alert.group_key is not None:
            self._groups[alert.group_key] = incident
        how = {"opened": "opened", "attached": "attached to", "grouped": "grouped into"}[action]
        raised = f" (raised from {raised_from})" if raised_from else ""
        raised += " (relapse: back to investigating)" if relapsed else ""
        # One line per transition on serve's output: what a responder tails at 3 a.m.
        log.info(
            "FIRING %s (%s) -> %s incident #%s %s%s: %s",
            alert.rule,
            alert.level,
            how,
            incident.id,
            incident.severity,
            raised,
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
            relapsed=relapsed,
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
