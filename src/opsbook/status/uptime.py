"""A component's uptime bar: one cell per UTC day for the last UPTIME_DAYS days, made from
the downsampled check history (`watch.history`), since raw results are kept for days only.

A day's uptime pools the runs of the component's checks: the runs that saw the service up
(degraded counts as up, as in `history.Uptime`) over all runs. Runs during a maintenance of
the component are left out rather than counted as down: customers were told in advance. A
bucket that overlaps a maintenance window is left out whole, since its runs cannot be split
by minute (a few minutes of real data lost beat a planned restart shown as an outage). A
day without runs has no data, and the page says so rather than show 100%.

Days are UTC days: the buckets are aligned on the epoch in UTC, and a local day in a zone
with daylight saving would be 23 or 25 hours long.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from opsbook.config.models import DownsampleTier
from opsbook.config.status import StatusConfig
from opsbook.status.view import UPTIME_DAYS, ComponentView, DayView, IncidentView
from opsbook.watch import history
from opsbook.watch.models import CheckHistory

Window = tuple[dt.datetime, dt.datetime]
DAY = dt.timedelta(days=1)
Counts = dict[dt.date, tuple[int, int]]  # day -> (runs, down)


def first_day(now: dt.datetime) -> dt.date:
    """The oldest day a bar shows: today (UTC) is the last of UPTIME_DAYS."""
    return now.astimezone(dt.UTC).date() - dt.timedelta(days=UPTIME_DAYS - 1)


def midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), dt.UTC)


def bars(
    session: Session,
    *,
    status: StatusConfig,
    tiers: Sequence[DownsampleTier],
    components: Sequence[ComponentView],
    incidents: Sequence[IncidentView],
    windows: Mapping[str, Sequence[Window]],
    now: dt.datetime,
) -> dict[str, list[DayView]]:
    """Each leaf component's bar by component id; `windows` are the maintenance windows
    by public component name, as they were under way (never beyond `now`)."""
    first = first_day(now)
    since = midnight(first)
    tier = history.tier_for(tiers, since, now)
    checks = {c.name: list(c.checks) for c in status.components}
    leaves = [c for c in components if not c.group]
    names = sorted({name for c in leaves for name in checks.get(c.name, [])})
    sums = _day_sums(session, tier, names, since) if tier is not None and names else {}
    found: dict[str, list[DayView]] = {}
    for component in leaves:
        own = checks.get(component.name, [])
        quiet = [w for w in windows.get(component.name, ()) if w[1] > since]
        left_out = _in_windows(session, tier, own, quiet) if tier is not None and own else {}
        touched = _incident_days(component, incidents, first, now)
        found[component.id] = [
            _day(day, _pooled(sums, own, day), left_out.get(day, (0, 0)), quiet, touched)
            for day in (first + dt.timedelta(days=n) for n in range(UPTIME_DAYS))
        ]
    return found


def _day(
    day: dt.date,
    counted: tuple[int, int],
    left_out: tuple[int, int],
    windows: Sequence[Window],
    touched: Mapping[dt.date, list[str]],
) -> DayView:
    start = midnight(day)
    maintenance = any(a < start + DAY and b > start for a, b in windows)
    runs, down = counted[0] - left_out[0], counted[1] - left_out[1]
    return DayView(day, max(runs, 0), max(down, 0), maintenance, tuple(touched.get(day, [])))


def _pooled(
    sums: Mapping[tuple[str, dt.date], tuple[int, int]], checks: Iterable[str], day: dt.date
) -> tuple[int, int]:
    runs = down = 0
    for name in checks:
        r, d = sums.get((name, day), (0, 0))
        runs, down = runs + r, down + d
    return runs, down


def _day_of(session: Session, column: Any) -> ColumnElement[str]:
    """The UTC day of a stored time as `YYYY-MM-DD`, counted by the database (SQLite keeps
    UTC times as naive text, PostgreSQL as timestamptz)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return func.substr(column, 1, 10)


def _day_sums(
    session: Session, tier: DownsampleTier, names: Sequence[str], since: dt.datetime
) -> dict[tuple[str, dt.date], tuple[int, int]]:
    """Runs and downs per check and UTC day, summed by the database: 90 days of 5-minute
    buckets are 25,920 rows a check, which Python need not see."""
    h = CheckHistory
    day = _day_of(session, h.bucket)
    query = (
        select(h.name, day, func.sum(h.runs), func.sum(h.down))
        .where(h.every == int(tier.every.total_seconds()), h.bucket >= since)
        .where(h.name.in_(names))
        .group_by(h.name, day)
    )
    return {
        (name, dt.date.fromisoformat(text)): (int(runs), int(down))
        for name, text, runs, down in session.execute(query)
    }


def _in_windows(
    session: Session, tier: DownsampleTier, checks: Sequence[str], windows: Sequence[Window]
) -> Counts:
    """The runs and downs of buckets overlapping a maintenance window, per day; a bucket
    in two windows is left out once."""
    h = CheckHistory
    every = tier.every
    seen: dict[tuple[str, dt.datetime], tuple[int, int]] = {}
    for start, end in windows:
        query = (
            select(h.name, h.bucket, h.runs, h.down)
            .where(h.every == int(every.total_seconds()), h.name.in_(checks))
            .where(h.bucket >= history.bucket_of(start, every), h.bucket < end)
        )
        for name, bucket, runs, down in session.execute(query):
            seen[(name, bucket)] = (runs, down)
    counts: Counts = {}
    for (_, bucket), (runs, down) in seen.items():
        day = bucket.astimezone(dt.UTC).date()
        r, d = counts.get(day, (0, 0))
        counts[day] = (r + runs, d + down)
    return counts


def _incident_days(
    component: ComponentView, incidents: Sequence[IncidentView], first: dt.date, now: dt.datetime
) -> dict[dt.date, list[str]]:
    """The public names of the incidents that touched the component, per UTC day they
    were open (from opening to resolution, or to now)."""
    touched: dict[dt.date, list[str]] = {}
    for incident in incidents:
        if component.id not in {c.id for c in incident.components}:
            continue
        day = max(incident.created_at.astimezone(dt.UTC).date(), first)
        last = (incident.resolved_at or now).astimezone(dt.UTC).date()
        while day <= last:
            touched.setdefault(day, []).append(incident.name)
            day += DAY
    return touched
