"""Check results and metric samples downsampled into buckets, kept for months.

Every stored batch adds itself to the bucket of each configured tier (5 minutes for 90
days and 1 hour for two years by default) in the same transaction as the check states, so
a crash can neither lose a bucket's share nor count it twice, and no later roll-up job has
to catch up. Buckets keep sums, counts and extremes: averages, uptime and worst cases
survive downsampling; percentiles do not (they need the raw samples of the rule window).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Table, case, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from opsbook.config.models import DownsampleTier
from opsbook.watch.models import CheckHistory, MetricHistory
from opsbook.watch.result import CheckResult

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
FEW = 500


def bucket_of(at: dt.datetime, every: dt.timedelta) -> dt.datetime:
    """The start of the bucket holding `at`: buckets are aligned on the epoch, in UTC."""
    step = int(every.total_seconds())
    return EPOCH + dt.timedelta(seconds=int((at - EPOCH).total_seconds()) // step * step)


# --- writing ----------------------------------------------------------------------------


# What an http-like check measures is already in its own history (runs, down, latency).
IN_CHECK_HISTORY = frozenset({"up", "status", "http_latency_seconds"})


def record(
    session: Session, tiers: Sequence[DownsampleTier], results: Sequence[CheckResult]
) -> None:
    """Add a batch of results, and the metrics they measured, to every tier."""
    checks: dict[tuple[str, int, dt.datetime], dict[str, Any]] = {}
    metrics: dict[tuple[str, str, int, dt.datetime], dict[str, Any]] = {}
    samples = [
        (name, result.name, result.at, value)
        for result in results
        for name, value in result.metrics.items()
        if name not in IN_CHECK_HISTORY and math.isfinite(value)
    ]
    for tier in tiers:
        every = int(tier.every.total_seconds())
        for result in results:
            _add_result(checks, result, every, bucket_of(result.at, tier.every))
        for name, source, at, value in samples:
            _add_sample(metrics, name, source, every, bucket_of(at, tier.every), value)
    # One row per key: PostgreSQL refuses to upsert the same row twice in one statement.
    _upsert(
        session,
        CheckHistory.__table__,  # type: ignore[arg-type]
        list(checks.values()),
        keys=("name", "every", "bucket"),
        add=("runs", "ok", "degraded", "down", "timed", "latency_sum"),
        high=("latency_max",),
    )
    _upsert(
        session,
        MetricHistory.__table__,  # type: ignore[arg-type]
        list(metrics.values()),
        keys=("name", "source", "every", "bucket"),
        add=("count", "total"),
        low=("low",),
        high=("high",),
    )


def _add_result(
    rows: dict[tuple[str, int, dt.datetime], dict[str, Any]],
    result: CheckResult,
    every: int,
    bucket: dt.datetime,
) -> None:
    row = rows.setdefault(
        (result.name, every, bucket),
        {
            "name": result.name,
            "every": every,
            "bucket": bucket,
            "runs": 0,
            "ok": 0,
            "degraded": 0,
            "down": 0,
            "timed": 0,
            "latency_sum": 0.0,
            "latency_max": None,
        },
    )
    row["runs"] += 1
    # A check that could not run ("error") counts as down: nobody saw the service up.
    row[result.state if result.state in ("ok", "degraded") else "down"] += 1
    if result.latency_ms is not None:
        row["timed"] += 1
        row["latency_sum"] += result.latency_ms
        row["latency_max"] = max(row["latency_max"] or 0.0, result.latency_ms)


def _add_sample(
    rows: dict[tuple[str, str, int, dt.datetime], dict[str, Any]],
    name: str,
    source: str,
    every: int,
    bucket: dt.datetime,
    value: float,
) -> None:
    key = (name, source, every, bucket)
    row = rows.get(key)
    if row is None:
        rows[key] = {
            "name": name,
            "source": source,
            "every": every,
            "bucket": bucket,
            "count": 1,
            "total": value,
            "low": value,
            "high": value,
        }
        return
    row["count"] += 1
    row["total"] += value
    row["low"] = min(row["low"], value)
    row["high"] = max(row["high"], value)


def _upsert(
    session: Session,
    table: Table,
    rows: list[dict[str, Any]],
    *,
    keys: Sequence[str],
    add: Sequence[str] = (),
    low: Sequence[str] = (),
    high: Sequence[str] = (),
) -> None:
    """Insert each row or fold it into the existing one: sums add, extremes widen."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    new, old = statement.excluded, table.c
    folded: dict[str, Any] = {c: old[c] + new[c] for c in add}
    # NULL on either side keeps the other (a bucket whose runs measured no latency yet).
    folded |= {
        c: case((old[c].is_(None), new[c]), (new[c] < old[c], new[c]), else_=old[c]) for c in low
    }
    folded |= {
        c: case((old[c].is_(None), new[c]), (new[c] > old[c], new[c]), else_=old[c]) for c in high
    }
    session.execute(statement.on_conflict_do_update(index_elements=keys, set_=folded), rows)


def prune(session: Session, tiers: Sequence[DownsampleTier], *, now: dt.datetime) -> int:
    """Drop buckets older than their tier keeps; tiers no longer configured go entirely."""
    removed = 0
    kept = [int(t.every.total_seconds()) for t in tiers]
    for model in (CheckHistory, MetricHistory):
        for tier in tiers:
            every = int(tier.every.total_seconds())
            removed += _rowcount(
                session.execute(
                    delete(model).where(model.every == every, model.bucket < now - tier.keep)
                )
            )
        removed += _rowcount(session.execute(delete(model).where(model.every.not_in(kept))))
    return removed


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


# --- reading ----------------------------------------------------------------------------


def tier_for(
    tiers: Sequence[DownsampleTier], since: dt.datetime, now: dt.datetime
) -> DownsampleTier | None:
    """The finest tier that still holds `since`, else the one that reaches furthest back."""
    if not tiers:
        return None
    for tier in tiers:
        if now - tier.keep <= since:
            return tier
    return max(tiers, key=lambda t: t.keep)


@dataclass(frozen=True)
class Uptime:
    """One check's runs summed over a period: counts, latency, and where counting began."""

    name: str
    runs: int
    ok: int
    degraded: int
    down: int
    latency_avg_ms: float | None
    latency_max_ms: float | None
    since: dt.datetime  # the first bucket counted: a check added later starts later

    @property
    def uptime(self) -> float | None:
        """Share of runs that saw the service up (degraded counts as up, like Statuspage)."""
        return (self.runs - self.down) / self.runs if self.runs else None

    def as_dict(self) -> dict[str, Any]:
        """The fields and the uptime share, for --json."""
        return {**asdict(self), "uptime": self.uptime}


def uptime(
    session: Session,
    tiers: Sequence[DownsampleTier],
    *,
    since: dt.datetime,
    now: dt.datetime,
    names: Sequence[str] | None = None,
) -> dict[str, Uptime]:
    """Each check's (or the named checks') runs since `since`, from the finest tier that
    still covers it."""
    tier = tier_for(tiers, since, now)
    if tier is None:
        return {}
    h = CheckHistory
    query = (
        select(
            h.name,
            func.sum(h.runs),
            func.sum(h.ok),
            func.sum(h.degraded),
            func.sum(h.down),
            func.sum(h.timed),
            func.sum(h.latency_sum),
            func.max(h.latency_max),
            func.min(h.bucket),
        )
        .where(h.every == int(tier.every.total_seconds()))
        .where(h.bucket >= bucket_of(since, tier.every))
        .group_by(h.name)
    )
    if names:
        query = query.where(h.name.in_(names))
    found = {}
    for name, runs, ok, degraded, down, timed, total, worst, first in session.execute(query):
        found[name] = Uptime(
            name=name,
            runs=int(runs),
            ok=int(ok),
            degraded=int(degraded),
            down=int(down),
            latency_avg_ms=float(total) / int(timed) if timed else None,
            latency_max_ms=None if worst is None else float(worst),
            since=_aware(first),
        )
    return found


@dataclass(frozen=True)
class Bucket:
    """One bucket of a metric's series: its sample count, mean, low and high."""

    start: dt.datetime
    count: int
    avg: float
    low: float
    high: float

    def as_dict(self) -> dict[str, Any]:
        """The fields, for --json."""
        return asdict(self)


def check_series(
    session: Session,
    tiers: Sequence[DownsampleTier],
    names: Sequence[str],
    *,
    since: dt.datetime,
    now: dt.datetime,
) -> dict[str, list[tuple[dt.datetime, Uptime]]]:
    """Each named check bucket by bucket (what an uptime bar draws), in one query."""
    series: dict[str, list[tuple[dt.datetime, Uptime]]] = {name: [] for name in names}
    tier = tier_for(tiers, since, now)
    if tier is None or not names:
        return series
    h = CheckHistory
    query = (
        select(h)
        .where(h.every == int(tier.every.total_seconds()))
        .where(h.bucket >= bucket_of(since, tier.every))
        .order_by(h.name, h.bucket)
    )
    if len(names) <= FEW:  # a handful by name; thousands read faster as one scan
        query = query.where(h.name.in_(names))
    for row in session.scalars(query):
        if row.name not in series:
            continue  # a check no longer asked about (or no longer configured)
        series[row.name].append(
            (
                row.bucket,
                Uptime(
                    name=row.name,
                    runs=row.runs,
                    ok=row.ok,
                    degraded=row.degraded,
                    down=row.down,
                    latency_avg_ms=row.latency_sum / row.timed if row.timed else None,
                    latency_max_ms=row.latency_max,
                    since=row.bucket,
                ),
            )
        )
    return series


def metric_series(
    session: Session,
    tiers: Sequence[DownsampleTier],
    name: str,
    *,
    since: dt.datetime,
    now: dt.datetime,
) -> list[Bucket]:
    """One metric bucket by bucket, all its sources folded together."""
    tier = tier_for(tiers, since, now)
    if tier is None:
        return []
    m = MetricHistory
    rows = session.execute(
        select(m.bucket, func.sum(m.count), func.sum(m.total), func.min(m.low), func.max(m.high))
        .where(m.name == name, m.every == int(tier.every.total_seconds()))
        .where(m.bucket >= bucket_of(since, tier.every))
        .group_by(m.bucket)
        .order_by(m.bucket)
    )
    return [
        Bucket(_aware(start), int(count), float(total) / int(count), float(low), float(high))
        for start, count, total, low, high in rows
    ]


def metric_names(session: Session) -> list[str]:
    """Every metric with downsampled history, by name."""
    return list(session.scalars(select(MetricHistory.name).distinct().order_by(MetricHistory.name)))


def _aware(value: Any) -> dt.datetime:
    """Aggregates bypass the column type: SQLite hands min(bucket) back as naive text."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    assert isinstance(value, dt.datetime)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
