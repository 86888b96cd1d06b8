"""Rule evaluation: metric samples in, signals out.

A rule reads a window of one metric's samples, aggregates it (avg, max, min, p95, rate,
last) and compares the value with its thresholds: crit, warn or nothing. A check that
fails (after its debounce) is a rule of its own. What a signal then does to an alert is
`alerts`' business; where a firing alert goes is `routing`'s.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from opsbook.config import Config
from opsbook.watch.alerts import Signal

# Re-exported: alert rules and their tests read them here.
from opsbook.watch.levels import aggregate as aggregate
from opsbook.watch.levels import level_of as level_of
from opsbook.watch.models import Sample
from opsbook.watch.result import CheckResult

# --- samples -------------------------------------------------------------------------------


def record_samples(
    session: Session, results: Sequence[CheckResult], *, only: set[str] | None = None
) -> None:
    """Store the results' metrics as samples (only those named in `only`, when given);
    NaN and infinities are dropped, no window could aggregate them."""
    rows = [
        {"name": name, "source": result.name, "at": result.at, "value": value}
        for result in results
        for name, value in result.metrics.items()
        if math.isfinite(value) and (only is None or name in only)
    ]
    if rows:
        session.execute(insert(Sample), rows)


def prune_samples(session: Session, *, before: dt.datetime) -> int:
    """Delete the samples older than `before`; returns how many went."""
    deleted = session.execute(delete(Sample).where(Sample.at < before))
    return int(getattr(deleted, "rowcount", 0) or 0)


# --- windows and thresholds ------------------------------------------------------------------


def _show(value: float) -> str:
    return f"{value:.2%}" if 0 <= abs(value) <= 1 and value != int(value) else f"{value:g}"


def evaluate_rules(session: Session, config: Config, *, now: dt.datetime) -> list[Signal]:
    """Every configured rule's signal at `now`, a level of None where it holds."""
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


# --- a check's own rule ----------------------------------------------------------------------


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
