"""Alert rules and the alert lifecycle: inactive -> pending -> firing -> resolved.

A rule turns a window of samples into a level (warn or crit); a level that holds for the
rule's `for` fires; a firing alert opens an incident with the severity the rule maps to,
or attaches to the open incident of the same component; it resolves after `keep_firing`
without its condition, noting that on the incident (which a human resolves).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from opsbook.clock import Clock
from opsbook.config import Config, format_duration
from opsbook.config.models import AlertRule
from opsbook.incidents import service as incidents
from opsbook.watch.models import Alert, Sample
from opsbook.watch.result import CheckResult

Level = Literal["warn", "crit"]
ACTOR = "opsbook-watch"
log = logging.getLogger("opsbook.watch")


@dataclass(frozen=True)
class Signal:
    """What one evaluation says about one (rule, labels) right now."""

    rule: str
    level: Level | None
    summary: str
    source: str = "rule"
    labels: dict[str, str] = field(default_factory=dict)
    value: float | None = None
    severity: str | None = None
    component: str | None = None
    runbook: str | None = None
    for_: dt.timedelta = dt.timedelta(0)
    keep_firing: dt.timedelta = dt.timedelta(0)
    opens_incident: bool = True


def fingerprint(rule: str, labels: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps([rule, labels], sort_keys=True).encode()).hexdigest()[:32]


# --- samples and rules ------------------------------------------------------------------


def record_samples(
    session: Session, results: Sequence[CheckResult], *, only: set[str] | None = None
) -> None:
    rows = [
        {"name": name, "source": result.name, "at": result.at, "value": value}
        for result in results
        for name, value in result.metrics.items()
        if math.isfinite(value) and (only is None or name in only)
    ]
    if rows:
        session.execute(insert(Sample), rows)


def prune_samples(session: Session, *, before: dt.datetime) -> int:
    deleted = session.execute(delete(Sample).where(Sample.at < before))
    return int(getattr(deleted, "rowcount", 0) or 0)


def aggregate(kind: str, values: Sequence[tuple[dt.datetime, float]]) -> float | None:
    if not values:
        return None
    numbers = [v for _, v in values]
    if kind == "avg":
        return sum(numbers) / len(numbers)
    if kind == "max":
        return max(numbers)
    if kind == "min":
        return min(numbers)
    if kind == "last":
        return numbers[-1]
    if kind == "p95":
        ordered = sorted(numbers)
        return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]
    if kind == "rate":
        (t0, v0), (t1, v1) = values[0], values[-1]
        seconds = (t1 - t0).total_seconds()
        return (v1 - v0) / seconds if seconds > 0 else None
    raise ValueError(f"unknown aggregation {kind!r}")


def level_of(rule: AlertRule, value: float | None) -> Level | None:
    if value is None:
        return None

    def beyond(limit: float | None) -> bool:
        if limit is None:
            return False
        return value > limit if rule.direction == "above" else value < limit

    if beyond(rule.crit):
        return "crit"
    if beyond(rule.warn):
        return "warn"
    return None


def _show(value: float) -> str:
    return f"{value:.2%}" if 0 <= abs(value) <= 1 and value != int(value) else f"{value:g}"


def evaluate_rules(session: Session, config: Config, *, now: dt.datetime) -> list[Signal]:
    signals = []
    for rule in config.alerts.rules:
        window = rule.window or config.alerts.window
        rows = session.execute(
            select(Sample.at, Sample.value)
            .where(Sample.name == rule.metric, Sample.at > now - window, Sample.at <= now)
            .order_by(Sample.at, Sample.id)
        ).all()
        value = aggregate(rule.aggregation, [(r[0], r[1]) for r in rows])
        level = level_of(rule, value)
        limit = rule.crit if level == "crit" else rule.warn
        summary = (
            f"{rule.metric} {rule.aggregation} over {window.total_seconds() / 60:g}m is "
            f"{_show(value)}"
            + (
                f", past the {level} threshold {_show(limit)}"
                if level and limit is not None
                else ""
            )
            if value is not None
            else f"{rule.metric}: no data"
        )
        signals.append(
            Signal(
                rule=rule.name,
                level=level,
                summary=summary,
                value=value,
                severity=rule.severity.crit if level == "crit" else rule.severity.warn,
                component=rule.component,
                runbook=rule.runbook,
                for_=rule.for_,
                keep_firing=rule.keep_firing,
            )
        )
    return signals


def check_rule(name: str) -> str:
    """The alert rule a check's own failures go under."""
    return f"check:{name}"


def signal_from_check(result: CheckResult, *, failing: bool) -> Signal:
    """A check confirmed failing (after its debounce) is an alert of its own: critical when
    down, a warning when only degraded (which joins an open incident but opens none)."""
    degraded = result.state == "degraded"
    return Signal(
        rule=check_rule(result.name),
        source="check",
        level=("warn" if degraded else "crit") if failing else None,
        summary=result.summary,
        severity=result.severity or "P2",
        component=result.component,
        runbook=result.runbook,
        labels={"check": result.name},
        opens_incident=not degraded,
    )


# --- the lifecycle -------------------------------------------------------------------------


def apply(session: Session, signal: Signal, *, config: Config, clock: Clock) -> Alert | None:
    """Move the alert for this signal one step; returns it (None when nothing is open)."""
    return apply_many(session, [signal], config=config, clock=clock)[0]


def apply_many(
    session: Session, signals: Sequence[Signal], *, config: Config, clock: Clock
) -> list[Alert | None]:
    """Move the alerts for a batch of signals, each one step, in signal order.

    A storm is when this must be fast: the open alerts are read (and locked) in one query,
    new ones inserted in one flush, and only then do the due ones fire.
    """
    now = clock.now()
    keys = [fingerprint(s.rule, s.labels) for s in signals]
    current: dict[str, Alert] = {
        a.fingerprint: a
        for a in session.scalars(
            select(Alert)
            .where(Alert.fingerprint.in_(set(keys)), Alert.state != "resolved")
            .with_for_update()
        )
    }
    moved: list[Alert | None] = []
    due: dict[str, tuple[Alert, Signal]] = {}
    known = _OpenIncidents(session)

    def fire_due() -> None:
        session.flush()  # new alerts get their ids, in one statement
        with session.no_autoflush:  # timeline rows go out together at commit
            for alert, signal in due.values():
                _fire(session, alert, signal, config=config, clock=clock, known=known)
        due.clear()

    with session.no_autoflush:
        for signal, key in zip(signals, keys, strict=True):
            if key in due:
                fire_due()  # the same alert twice in a batch: its first step must land first
            alert = _step(session, signal, key, current.get(key), now=now, clock=clock)
            moved.append(alert)
            if alert is None or alert.state == "resolved":
                current.pop(key, None)
                continue
            current[key] = alert
            if alert.state == "pending" and now - alert.started_at >= signal.for_:
                due[key] = (alert, signal)
    if due:
        fire_due()
    return moved


def _step(
    session: Session,
    signal: Signal,
    key: str,
    alert: Alert | None,
    *,
    now: dt.datetime,
    clock: Clock,
) -> Alert | None:
    if signal.level is not None:
        if alert is None:
            alert = Alert(
                rule=signal.rule,
                fingerprint=key,
                labels=signal.labels,
                source=signal.source,
                state="pending",
                level=signal.level,
                value=signal.value,
                summary=signal.summary,
                component=signal.component,
                runbook=signal.runbook,
                started_at=now,
                last_active_at=now,
            )
            session.add(alert)
            return alert
        escalated = alert.state == "firing" and alert.level == "warn" and signal.level == "crit"
        alert.level, alert.value, alert.summary = signal.level, signal.value, signal.summary
        alert.last_active_at = now
        if escalated and alert.incident_id:
            _note(session, alert, f"alert {alert.rule} is now critical: {alert.summary}", clock)
        return alert
    if alert is None:
        return None
    if alert.state == "pending":
        alert.state, alert.resolved_at = "resolved", now  # never fired: nobody was told
    elif now - alert.last_active_at >= signal.keep_firing:
        alert.state, alert.resolved_at = "resolved", now
        log.info("RESOLVED %s: %s", alert.rule, signal.summary)
        if alert.incident_id:
            _note(session, alert, f"alert {alert.rule} resolved: {signal.summary}", clock)
    return alert


class _OpenIncidents:
    """The open incidents, read once per batch and kept current as alerts open more: in a
    storm every firing alert asks where it belongs."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._newest_first: list[Any] | None = None

    def all(self) -> list[Any]:
        if self._newest_first is None:
            self._newest_first = incidents.list_incidents(self.session, open_only=True)
        return self._newest_first

    def opened(self, incident: Any) -> None:
        if self._newest_first is not None:
            self._newest_first.insert(0, incident)

    def for_component(self, component: str | None) -> Any:
        if component is None:
            return None
        return next((i for i in self.all() if i.component == component), None)

    def storm(self, config: Config, now: dt.datetime) -> Any:
        """Where an alert storm gathers: the newest incident alerts opened, once the grouping
        limit of such incidents opened within its window are still open."""
        grouping = config.alerts.grouping
        if grouping is None:
            return None
        recent = [
            i for i in self.all() if i.opened_by == ACTOR and i.opened_at >= now - grouping.window
        ]
        return recent[0] if len(recent) >= grouping.max_incidents else None


def _fire(
    session: Session,
    alert: Alert,
    signal: Signal,
    *,
    config: Config,
    clock: Clock,
    known: _OpenIncidents,
) -> None:
    alert.state, alert.fired_at = "firing", clock.now()
    severity = signal.severity or "P2"
    incident = known.for_component(alert.component)
    text = f"alert {alert.rule} firing ({alert.level}): {alert.summary}"
    if incident is None and not signal.opens_incident:
        log.info("FIRING %s (%s, no incident): %s", alert.rule, alert.level, alert.summary)
        return
    if incident is None:
        incident = known.storm(config, clock.now())
        if incident is not None:
            _group_into(session, incident, alert, severity, text, config=config, clock=clock)
            _log_firing(alert, incident, "grouped into")
            return
    attached = incident is not None
    if incident is None:
        incident = incidents.open_incident(
            session,
            title=_title(alert),
            severity=severity,
            actor=ACTOR,
            clock=clock,
            component=alert.component,
            symptoms=[alert.summary],
        )
        known.opened(incident)
        _alert_event(session, incident, alert, text, clock)
        runbook = alert.runbook or _suggested(config, incident)
        if runbook:
            incidents.log_event(
                session,
                incident=incident,
                kind="runbook.suggested",
                actor=ACTOR,
                clock=clock,
                text=f"suggested runbook: opsbook runbook run {runbook} --incident {incident.id}",
                data={"runbook": runbook},
            )
    else:
        _alert_event(session, incident, alert, text + " (attached to this open incident)", clock)
    _log_firing(alert, incident, "attached to" if attached else "opened")
    alert.incident_id = incident.id


def _log_firing(alert: Alert, incident: Any, how: str) -> None:
    """One line per transition on serve's output: what a responder tails at 3 a.m."""
    log.info(
        "FIRING %s (%s) -> %s incident #%s %s: %s",
        alert.rule,
        alert.level,
        how,
        incident.id,
        incident.severity,
        alert.summary,
    )


def _group_into(
    session: Session,
    incident: Any,
    alert: Alert,
    severity: str,
    text: str,
    *,
    config: Config,
    clock: Clock,
) -> None:
    grouping = config.alerts.grouping
    assert grouping is not None
    why = (
        f" (grouped here: {grouping.max_incidents} incidents opened by alerts in the last "
        f"{format_duration(grouping.window)} are still open)"
    )
    _alert_event(session, incident, alert, text + why, clock, grouped=True)
    if severity < incident.severity:  # the storm holds something more urgent: say so
        incidents.change_severity(
            session,
            incident_id=incident.id,
            severity=severity,
            reason=f"grouped alert {alert.rule} is {severity}",
            actor=ACTOR,
            clock=clock,
        )
    alert.incident_id = incident.id


def _title(alert: Alert) -> str:
    first = alert.summary.split(";")[0]
    if alert.source == "check":
        first = f"{alert.rule.removeprefix('check:')} check failing: {first}"
    return first if len(first) <= 120 else first[:119] + "…"


def _suggested(config: Config, incident: Any) -> str | None:
    from opsbook.runbooks.suggest import suggest_for

    ranked = suggest_for(
        config,
        title=incident.title,
        symptoms=incident.symptoms,
        component=incident.component,
        severity=incident.severity,
    )
    return ranked[0].runbook if ranked else None


def _note(session: Session, alert: Alert, text: str, clock: Clock) -> None:
    assert alert.incident_id is not None
    _alert_event(session, incidents.get(session, incident_id=alert.incident_id), alert, text, clock)


def _alert_event(
    session: Session, incident: Any, alert: Alert, text: str, clock: Clock, *, grouped: bool = False
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
