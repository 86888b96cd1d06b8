"""SLA clocks, computed from the timeline every time: nothing to keep in sync, nothing to lose.

The seed's rules: acknowledge within 5 minutes; first response within the severity's
SLA; a team update every 30 minutes while open; for P0, customers told once it passes
15 minutes and updated every 30; escalate if not mitigated after 30 minutes; 15 minutes
of monitoring before resolve; a post-mortem within 24 hours of resolve.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from opsbook.config.models import IncidentPolicy, SeverityLevel
from opsbook.incidents.lifecycle import Status
from opsbook.incidents.models import Incident, IncidentEvent
from opsbook.incidents.relapse import ACKNOWLEDGED, is_relapse

ClockState = Literal["due", "overdue", "met", "late"]
ACTIVE: tuple[ClockState, ...] = ("due", "overdue")
_RESPONSE_MOVES = {"investigating", "identified", "monitoring", "resolved"}


@dataclass(frozen=True)
class SlaClock:
    name: str
    label: str
    due_at: dt.datetime
    met_at: dt.datetime | None
    state: ClockState
    action: str

    @property
    def active(self) -> bool:
        """Still running: due or overdue."""
        return self.state in ACTIVE


@dataclass(frozen=True)
class Facts:
    """What the timeline says happened, reduced to the moments the clocks need."""

    opened_at: dt.datetime
    severity_since: dt.datetime
    status: Status
    acknowledged_at: dt.datetime | None
    responded_at: dt.datetime | None
    last_update_at: dt.datetime
    last_public_update_at: dt.datetime | None
    mitigated_at: dt.datetime | None
    escalated_at: dt.datetime | None
    monitoring_since: dt.datetime | None
    resolved_at: dt.datetime | None
    postmortem_published_at: dt.datetime | None
    relapsed_at: dt.datetime | None = None

    @property
    def ack_from(self) -> dt.datetime:
        """A relapse must be owned again, as a new fire is (relapse.py)."""
        return max(self.severity_since, self.relapsed_at or self.severity_since)

    @property
    def unmitigated_since(self) -> dt.datetime:
        """A fix that did not hold mitigated nothing: the escalate clock runs again."""
        return self.relapsed_at or self.opened_at

    @classmethod
    def from_timeline(cls, incident: Incident, events: Sequence[IncidentEvent]) -> Facts:
        """Walk the timeline once, oldest first."""
        opened = incident.opened_at
        facts: dict[str, dt.datetime | None] = dict.fromkeys(
            (
                "acknowledged_at",
                "responded_at",
                "last_public_update_at",
                "mitigated_at",
                "escalated_at",
                "monitoring_since",
                "resolved_at",
                "postmortem_published_at",
                "relapsed_at",
            ),
        )
        severity_since, last_update = opened, opened
        for event in sorted(events, key=lambda e: (e.at, e.id)):
            moved_to = event.data.get("to") if event.kind == "status" else None
            if event.kind == "severity":
                severity_since = event.at
            if event.kind in ("status", "update"):
                last_update = event.at
                if event.public:
                    facts["last_public_update_at"] = event.at
            if (moved_to or event.kind == ACKNOWLEDGED) and facts["acknowledged_at"] is None:
                facts["acknowledged_at"] = event.at
            if is_relapse(event):
                facts.update(relapsed_at=event.at, acknowledged_at=None, mitigated_at=None)
            if facts["responded_at"] is None and (
                event.kind in ("update", "note") or moved_to in _RESPONSE_MOVES
            ):
                facts["responded_at"] = event.at
            if moved_to in ("monitoring", "resolved") and facts["mitigated_at"] is None:
                facts["mitigated_at"] = event.at
            if moved_to:
                facts["monitoring_since"] = event.at if moved_to == "monitoring" else None
                facts["resolved_at"] = event.at if moved_to == "resolved" else None
            if event.kind == "escalated" and facts["escalated_at"] is None:
                facts["escalated_at"] = event.at
            if event.kind == "postmortem.published":
                facts["postmortem_published_at"] = event.at
        return cls(
            opened_at=opened,
            severity_since=severity_since,
            status=Status(incident.status),
            last_update_at=last_update,
            **facts,
        )


def _state(due: dt.datetime, met: dt.datetime | None, now: dt.datetime) -> ClockState:
    if met is not None:
        return "met" if met <= due else "late"
    return "overdue" if now > due else "due"


def _clock(
    name: str, label: str, due: dt.datetime, met: dt.datetime | None, now: dt.datetime, action: str
) -> SlaClock:
    return SlaClock(name, label, due, met, _state(due, met, now), action)


def compute_clocks(
    incident: Incident,
    events: Sequence[IncidentEvent],
    *,
    now: dt.datetime,
    policy: IncidentPolicy,
    level: SeverityLevel,
) -> list[SlaClock]:
    """Every clock that applies to this incident now, in the order a responder meets them."""
    f = Facts.from_timeline(incident, events)
    ref = f"#{incident.id}"
    resolved = f.status is Status.RESOLVED
    clocks: list[SlaClock] = []
    if level.action in ("page", "alert"):
        due = f.ack_from + policy.ack_within
        label = "Acknowledge" + (" (response: immediate)" if not level.response_sla else "")
        clocks.append(
            _clock(
                "ack",
                label,
                due,
                f.acknowledged_at,
                now,
                f"acknowledge it: opsbook incident ack {incident.id}",
            )
        )
    if level.response_sla:
        clocks.append(
            _clock(
                "response",
                f"First response (within {_human(level.response_sla)})",
                f.severity_since + level.response_sla,
                f.responded_at,
                now,
                f"post what is being done: opsbook incident update {incident.id} --message ...",
            )
        )
    if not resolved:
        clocks.append(
            _clock(
                "team_update",
                f"Team update (every {_human(policy.team_update_every)})",
                f.last_update_at + policy.team_update_every,
                None,
                now,
                f"update the team on {ref}: opsbook incident update {incident.id} --message ...",
            )
        )
        if incident.severity in policy.customer_update_severities:
            if f.last_public_update_at is None:
                due = f.opened_at + policy.customer_update_after
                label = f"Tell customers (after {_human(policy.customer_update_after)})"
            else:
                due = f.last_public_update_at + policy.customer_update_every
                label = f"Customer update (every {_human(policy.customer_update_every)})"
            clocks.append(
                _clock(
                    "customer_update",
                    label,
                    due,
                    None,
                    now,
                    f"post a public update: opsbook incident update {incident.id} --public "
                    "--message ...",
                )
            )
    if not resolved or f.mitigated_at or f.escalated_at:
        met = min((t for t in (f.mitigated_at, f.escalated_at) if t), default=None)
        clocks.append(
            _clock(
                "escalate",
                f"Mitigate or escalate (within {_human(policy.escalate_after)})",
                f.unmitigated_since + policy.escalate_after,
                met,
                now,
                "escalate: no mitigation yet (Slack #incidents, the escalation contacts)",
            )
        )
    if f.status is Status.MONITORING and f.monitoring_since is not None:
        due = f.monitoring_since + policy.monitor_for
        clocks.append(
            SlaClock(
                "monitor",
                f"Monitor before resolve ({_human(policy.monitor_for)})",
                due,
                due if now >= due else None,
                "met" if now >= due else "due",
                f"watch the fix hold, then: opsbook incident resolve {incident.id}",
            )
        )
    if resolved and f.resolved_at is not None:
        clocks.append(
            _clock(
                "postmortem",
                f"Post-mortem (within {_human(policy.postmortem_within)})",
                f.resolved_at + policy.postmortem_within,
                f.postmortem_published_at,
                now,
                f"write it: opsbook incident postmortem {incident.id} --out postmortem.md",
            )
        )
    return clocks


def next_due(clocks: Sequence[SlaClock]) -> SlaClock | None:
    """The clock to act on first: the most overdue, else the soonest due."""
    active = [c for c in clocks if c.active and c.name != "monitor"]
    return min(active, key=lambda c: c.due_at) if active else None


def _human(delta: dt.timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes and minutes % 1440 == 0:
        return f"{minutes // 60}h" if minutes < 2880 else f"{minutes // 1440}d"
    if minutes and minutes % 60 == 0:
        return f"{minutes // 60}h"
    return f"{minutes} min"
