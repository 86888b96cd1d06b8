"""The alert lifecycle: inactive -> pending -> firing -> resolved, one open alert per key.

A signal (from a rule, a check or Alertmanager) with a level opens a pending alert for its
rule and labels; a level that holds for the signal's `for` fires it, and firing hands the
alert to `routing`, which finds its incident. Without its condition for `keep_firing`, a
firing alert resolves, noting that on the incident (which a human resolves). The database
holds at most one open alert per key (a partial unique index), not just this code.
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
from sqlalchemy.orm import Session

from opsbook.clock import Clock
from opsbook.config import Config
from opsbook.watch import routing
from opsbook.watch.models import Alert

Level = Literal["warn", "crit"]
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

    def fire_due() -> None:
        session.flush()  # new alerts get their ids, in one statement
        with session.no_autoflush:  # timeline rows go out together at commit
            for alert, signal in due.values():
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
    return Moved(moved, routed)


def _step(
    session: Session,
    signal: Signal,
    key: str,
    alert: Alert | None,
    *,
    now: dt.datetime,
    clock: Clock,
) -> Alert | None:
    """One step for one signal's alert: opened pending, kept, escalated or resolved."""
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
            routing.note(
                session, alert, f"alert {alert.rule} is now critical: {alert.summary}", clock=clock
            )
        return alert
    if alert is None:
        return None
    if alert.state == "pending":
        alert.state, alert.resolved_at = "resolved", now  # never fired: nobody was told
    elif now - alert.last_active_at >= signal.keep_firing:
        alert.state, alert.resolved_at = "resolved", now
        log.info("RESOLVED %s: %s", alert.rule, signal.summary)
        if alert.incident_id:
            text = f"alert {alert.rule} resolved: {signal.summary}"
            routing.note(session, alert, text, clock=clock)
    return alert
