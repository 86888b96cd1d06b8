"""MTTA and MTTR per severity: how fast we acknowledge and how fast we recover."""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from opsbook.config.models import SEVERITY_NAMES
from opsbook.incidents.clocks import Facts
from opsbook.incidents.models import Incident, IncidentEvent


@dataclass
class SeverityStats:
    severity: str
    incidents: int = 0
    open: int = 0
    ack_seconds: list[float] = field(default_factory=list)
    resolve_seconds: list[float] = field(default_factory=list)

    @property
    def mtta(self) -> float | None:
        """Mean time to acknowledge, in seconds; None without any."""
        return statistics.fmean(self.ack_seconds) if self.ack_seconds else None

    @property
    def mttr(self) -> float | None:
        """Mean time to resolve, in seconds; None without any."""
        return statistics.fmean(self.resolve_seconds) if self.resolve_seconds else None


@dataclass(frozen=True)
class Report:
    since: dt.datetime
    until: dt.datetime
    by_severity: list[SeverityStats]
    overdue_postmortems: list[int]

    @property
    def total(self) -> int:
        """Incidents in the window, all severities."""
        return sum(s.incidents for s in self.by_severity)


def build_report(
    incidents: Sequence[Incident],
    timelines: dict[int, list[IncidentEvent]],
    *,
    since: dt.datetime,
    now: dt.datetime,
    postmortem_within: dt.timedelta,
) -> Report:
    """Numbers per severity from the timelines, and the resolved incidents whose post-mortem
    is overdue at `now`."""
    stats: dict[str, SeverityStats] = {name: SeverityStats(name) for name in SEVERITY_NAMES}
    overdue: list[int] = []
    for incident in incidents:
        facts = Facts.from_timeline(incident, timelines[incident.id])
        entry = stats[incident.severity]
        entry.incidents += 1
        if facts.acknowledged_at:
            entry.ack_seconds.append((facts.acknowledged_at - incident.opened_at).total_seconds())
        if facts.resolved_at:
            entry.resolve_seconds.append((facts.resolved_at - incident.opened_at).total_seconds())
            if (
                facts.postmortem_published_at is None
                and now > facts.resolved_at + postmortem_within
            ):
                overdue.append(incident.id)
        else:
            entry.open += 1
    return Report(since, now, list(stats.values()), sorted(overdue))
