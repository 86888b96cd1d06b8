"""The figures one /metrics scrape reports, read from the store in one short transaction.

Every query is an aggregate or bounded by the config (one row per configured check), so a
scrape costs the same with ten incidents or ten million delivered messages: totals that
only grow (resolved alerts, delivered messages) are left out, since counting them would
walk ever more rows every 15 seconds and Prometheus learns nothing from a number that
only says how old the store is.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from opsbook.config import Config
from opsbook.incidents.lifecycle import Status
from opsbook.incidents.models import Incident
from opsbook.notify.models import DEAD, PENDING, SENDING, Notification
from opsbook.runbooks.records import RunRecord
from opsbook.watch.models import Alert, CheckState

CHECK_STATES = ("ok", "degraded", "down", "error", "unknown")  # unknown: not run yet
ALERT_STATES = ("pending", "firing")
OUTBOX_STATES = (PENDING, SENDING, DEAD)
RUN_STATUSES = ("running", "waiting", "succeeded", "failed", "refused", "interrupted")


@dataclass(frozen=True)
class CheckFigure:
    name: str
    state: str
    latency_seconds: float | None


@dataclass(frozen=True)
class Figures:
    checks: list[CheckFigure]
    alerts: dict[str, int]
    incidents: dict[str, int]  # open ones, by severity
    outbox: dict[str, int]
    oldest_pending_seconds: float
    runs: dict[str, int]


def figures(session: Session, *, config: Config, now: dt.datetime) -> Figures:
    """The store's figures now: every scheduled check, and every known state, severity and
    status present (zero when none), so a dashboard's series never vanish."""
    names = [c.name for c in config.checks if config.off_reason("checks", c.name) is None]
    rows = session.execute(
        select(CheckState.name, CheckState.state, CheckState.latency_ms).where(
            CheckState.name.in_(names)
        )
    )
    stored = {name: (state, latency) for name, state, latency in rows}
    checks = [_check(name, *stored.get(name, ("unknown", None))) for name in names]
    alerts = _counted(session, Alert.state, Alert.state != "resolved", ALERT_STATES)
    open_incidents = Incident.status != Status.RESOLVED.value
    incidents = _counted(session, Incident.severity, open_incidents, tuple(config.severities))
    outbox = _counted(
        session, Notification.status, Notification.status.in_(OUTBOX_STATES), OUTBOX_STATES
    )
    oldest = session.scalar(
        select(func.min(Notification.created_at)).where(Notification.status == PENDING)
    )
    age = max((now - oldest).total_seconds(), 0.0) if oldest is not None else 0.0
    runs = _counted(session, RunRecord.status, None, RUN_STATUSES)
    return Figures(checks, alerts, incidents, outbox, age, runs)


def _check(name: str, state: str, latency_ms: float | None) -> CheckFigure:
    return CheckFigure(name, state, None if latency_ms is None else latency_ms / 1000)


def _counted(
    session: Session,
    column: InstrumentedAttribute[str],
    where: ColumnElement[bool] | None,
    known: tuple[str, ...],
) -> dict[str, int]:
    """Rows per value of `column`: the known values first (zero when none), then any other
    value the store holds (a state a later version wrote)."""
    query = select(column, func.count()).group_by(column)
    if where is not None:
        query = query.where(where)
    found = {str(value): int(count) for value, count in session.execute(query)}
    return {value: found.pop(value, 0) for value in known} | found
