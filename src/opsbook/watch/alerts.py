"""The alert lifecycle: inactive -> pending -> firing -> resolved, one open alert per key.

A signal (from a rule, a check or Alertmanager) with a level opens a pending alert for its
rule and labels; a level that holds for the signal's `for` fires it, and firing hands the
alert to `routing`, which finds its incident. Without its condition for `keep_firing`, a
firing alert resolves, noting that on the incident (which a human resolves). When a person
resolves the incident first, the alert still firing is detached (`detach`): it ends, and
its successor opens a new incident. The database holds at most one open alert per key (a
partial unique index), not just this code; one alert transaction decides at a time
(`exclusive`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from opsbook.clock import Clock
from opsbook.config import Config
from opsbook.watch import exclusive, routing, timeline
from opsbook.watch.models import Alert

Level = Literal["warn", "crit"]
# How the summary of an alert quieted by a maintenance begins (`service._quieted`).
IN_MAINTENANCE = "in maintenance #"
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
    group: str | None = None  # the Alertmanager group it came in: one group, one incident


def fingerprint(rule: str, labels: dict[str, str]) -> str:
    """The key an alert is unique by while open: its rule and labels."""
    return hashlib.sha256(json.dumps([rule, labels], sort_keys=True).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Moved:
    """What a batch of signals did: each signal's alert (None when none is open for it), and
    what routing did with each alert that fired, in the order they fired."""

    alerts: list[Alert | None]
    routed: list[routing.Routed]


def apply(session: Session, signal: Signal, *, config: Config, clock: Clock) -> Alert | None:
    """Move the alert for this signal one step; returns it (None when nothing is open).

    What routing did is dropped: a caller that owns its transaction uses `apply_many` and
    hands `Moved.routed` to `routing.suggest_runbooks` once it has committed."""
    return apply_many(session, [signal], config=config, clock=clock).alerts[0]


def apply_many(
    session: Session, signals: Sequence[Signal], *, config: Config, clock: Clock
) -> Moved:
    """Move the alerts for a batch of signals, each one step, in signal order.

    The batch holds the alert lock (`exclusive`) from before it reads until its transaction
    ends, so what it decides holds across processes. A unique violation on an open alert
    can then only come from a writer that does not take the lock (an older opsbook sharing
    the store): the batch goes back to its savepoint and runs once more, finding that alert
    already open, instead of failing (Alertmanager would get a 500 and retry forever).
    """
    if not signals:
        return Moved([], [])
    exclusive.hold_alert_lock(session)
    try:
        with session.begin_nested():
            return _apply(session, signals, config=config, clock=clock)
    except IntegrityError as exc:
        if not _already_open(exc):
            raise
        log.warning("an alert of this batch was opened meanwhile by another writer: now it is")
    with session.begin_nested():
        return _apply(session, signals, config=config, clock=clock)


def _already_open(exc: IntegrityError) -> bool:
    said = str(exc.orig)
    return "uq_alerts_open_fingerprint" in said or "alerts.fingerprint" in said


def _apply(session: Session, signals: Sequence[Signal], *, config: Config, clock: Clock) -> Moved:
    """`apply_many` inside its savepoint.

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
    routed: list[routing.Routed] = []
    due: dict[str, tuple[Alert, Signal]] = {}
    router = routing.Router(session, config=config, clock=clock)
    _detach_from_resolved(session, current, router, clock)

    def fire_due() -> None:
        session.flush()  # new alerts get their ids, in one statement
        with session.no_autoflush:  # timeline rows go out together at commit
            for alert, signal in due.values():
                if alert.state == "pending":
                    alert.state, alert.fired_at = "firing", clock.now()
                routed.append(
                    router.route(
                        alert,
                        severity=signal.severity or "P2",
                        opens_incident=signal.opens_incident,
                    )
                )
        due.clear()

    with session.no_autoflush:
        for signal, key in zip(signals, keys, strict=True):
            if key in due:
                fire_due()  # the same alert twice in a batch: its first step must land first
            alert, escalated = _step(session, signal, key, current.get(key), now=now, clock=clock)
            moved.append(alert)
            if alert is None or alert.state == "resolved":
                current.pop(key, None)
                continue
            current[key] = alert
            if alert.state == "pending" and now - alert.started_at >= signal.for_:
                due[key] = (alert, signal)
            elif escalated and alert.incident_id is not None:
                routed.append(router.escalate(alert, severity=signal.severity or "P2"))
            elif escalated and signal.opens_incident:
                due[key] = (alert, signal)  # a warning that opened nothing: now it may
    if due:
        fire_due()
    return Moved(moved, routed)


def _detach_from_resolved(
    session: Session, current: dict[str, Alert], router: routing.Router, clock: Clock
) -> None:
    """Detach the batch's firing alerts whose incident a person has resolved meanwhile, so
    that this very step starts their successor (`detach`)."""
    routed = [a for a in current.values() if a.incident_id is not None]
    if not routed:
        return
    still_open = router.open_ids()
    gone = [a for a in routed if a.incident_id not in still_open]
    for alert in gone:
        detach(session, alert, clock=clock)
        del current[alert.fingerprint]
    if gone:
        session.flush()  # ended before a successor with the same key is inserted


def detach(session: Session, alert: Alert, *, clock: Clock) -> None:
    """A person resolved the alert's incident while it still fired: the alert ends there,
    said on that incident. If its condition holds, the next evaluation starts a new alert
    which, once past its `for`, opens a new incident linking the resolved one (PagerDuty
    does the same with a trigger that arrives after its incident was resolved)."""
    alert.state, alert.resolved_at, alert.detached = "resolved", clock.now(), True
    log.info(
        "DETACHED %s from incident #%s, resolved while it still fired: %s",
        alert.rule,
        alert.incident_id,
        alert.summary,
    )
    text = (
        f"alert {alert.rule} still fired when this incident was resolved: detached from it"
        " (if it keeps firing, it opens a new incident)"
    )
    timeline.note(session, alert, text, clock=clock)


def _out_of_maintenance(alert: Alert, signal: Signal) -> bool:
    """A check's alert that fired during a maintenance (it opened nothing) and still fires
    once the maintenance is over: now it may open its incident, as if it had just fired."""
    return (
        alert.state == "firing"
        and alert.incident_id is None
        and alert.summary.startswith(IN_MAINTENANCE)
        and not signal.summary.startswith(IN_MAINTENANCE)
    )


def _step(
    session: Session,
    signal: Signal,
    key: str,
    alert: Alert | None,
    *,
    now: dt.datetime,
    clock: Clock,
) -> tuple[Alert | None, bool]:
    """One step for one signal's alert: opened pending, kept, escalated (True) or resolved."""
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
                group_key=signal.group,
                started_at=now,
                last_active_at=now,
            )
            session.add(alert)
            return alert, False
        escalated = alert.state == "firing" and alert.level == "warn" and signal.level == "crit"
        escalated = escalated or _out_of_maintenance(alert, signal)
        alert.level, alert.value, alert.summary = signal.level, signal.value, signal.summary
        alert.last_active_at = now
        return alert, escalated
    if alert is None:
        return None, False
    if alert.state == "pending":
        alert.state, alert.resolved_at = "resolved", now  # never fired: nobody was told
    elif now - alert.last_active_at >= signal.keep_firing:
        alert.state, alert.resolved_at = "resolved", now
        log.info("RESOLVED %s: %s", alert.rule, signal.summary)
        if alert.incident_id:
            text = f"alert {alert.rule} resolved: {signal.summary}"
            timeline.note(session, alert, text, clock=clock)
    return alert, False
