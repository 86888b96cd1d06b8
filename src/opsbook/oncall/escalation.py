"""What escalation owes an incident at a moment, worked out from its timeline alone.

Like the SLA clocks (incidents/clocks.py), nothing is stored beside the timeline: the
run's start, the levels already paged, the re-notifications and reminders already sent
are all timeline events (kind `paging`, each naming its `step`), so two processes, a
restart, or a reader (`incident show`) reach the same answer from the same rows.

The rules, after PagerDuty's and GoAlert's escalation policies and the seed's clocks:

- A run starts when an incident of a covered severity opens, or when a raise makes it
  covered while it is still open (a P2 raised to P0 pages: it is the same emergency as
  one opened at P0). Level 1 is due at once; each later level after the previous
  level's delay; after the last level the whole policy again, `repeat` times.
- A relapse (an alert firing while monitoring, incidents/relapse.py) starts a run as a
  new fire does; owning it again (`acknowledged`) or any later status move ends it.
- Acknowledging (any move off `open`) ends the run; so do resolving and a lowering out
  of the covered severities. A raise after acknowledgement does not ask for a new
  acknowledgement: someone already owns the incident, and the raise reaches every
  engaged channel as an update (notify/routing.py); the re-notify clock keeps running.
- Acknowledged but with no team or public update for `renotify_every`: tell every
  engaged channel and the acknowledger again, every `renotify_every` until an update.
- When the team or customer update clock (incidents/clocks.py) falls due, remind the
  incident lead (the acknowledger, else whoever level 1 paged), once per due moment.

Every instant here is UTC arithmetic: a daylight-saving change moves no step, and who
is on call at a step is asked of the schedule at the moment of paging.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from opsbook.config.durations import format_duration
from opsbook.config.escalation import EscalationConfig, Policy, Target
from opsbook.config.models import Config
from opsbook.incidents.clocks import Facts, SlaClock, compute_clocks
from opsbook.incidents.models import Incident, IncidentEvent
from opsbook.incidents.relapse import ACKNOWLEDGED, is_relapse

EVENT_KIND = "paging"
StepKind = Literal["page", "renotify", "remind"]
REMINDED_CLOCKS = ("team_update", "customer_update")


@dataclass(frozen=True)
class Step:
    """One thing escalation owes: `key` names it for good (the same in every process)."""

    kind: StepKind
    key: str
    due_at: dt.datetime
    level: int | None = None  # 1-based, for pages
    cycle: int | None = None  # 0 for the first run of the levels
    targets: tuple[Target, ...] = ()
    clock: str | None = None  # for reminders: the clock that fell due
    label: str | None = None


@dataclass(frozen=True)
class Escalation:
    """An incident's escalation at `now`: the policy covering it (None: not covered),
    whether a run is going, the steps due and not yet taken, and the next one ahead."""

    policy: Policy | None
    state: str  # not covered | paging | acknowledged | finished | resolved
    due: list[Step] = field(default_factory=list)
    next: Step | None = None
    level: int | None = None  # the last level paged in this run
    started_at: dt.datetime | None = None


def done_steps(events: Sequence[IncidentEvent]) -> set[str]:
    return {str(e.data.get("step")) for e in events if e.kind == EVENT_KIND and e.data}


def run_start(
    incident: Incident, events: Sequence[IncidentEvent], escalation: EscalationConfig
) -> IncidentEvent | None:
    """The event that started the current run: the opening, a raise into a covered
    severity while open, or a relapse; None when no run is going (acknowledged, resolved,
    lowered)."""
    start: IncidentEvent | None = None
    severity, status = None, "open"
    for event in events:
        data = event.data or {}
        if event.kind == "opened":
            severity = str(data.get("severity") or incident.severity)
            start = event if _covers(escalation, severity, incident) else None
        elif event.kind == "severity":
            before, severity = _covers(escalation, severity, incident), str(data.get("to"))
            now_covered = _covers(escalation, severity, incident)
            if not now_covered:
                start = None
            elif not before and status == "open":
                start = event
        elif event.kind == "status":
            status = str(data.get("to"))
            paged = status == "open" or is_relapse(event)
            start = event if paged and _covers(escalation, severity, incident) else None
        elif event.kind == ACKNOWLEDGED:
            start = None
    return start


def _covers(escalation: EscalationConfig, severity: str | None, incident: Incident) -> bool:
    if severity is None:
        return False
    return escalation.policy_for(severity=severity, component=incident.component) is not None


def page_steps(incident: Incident, start: IncidentEvent, policy: Policy) -> list[Step]:
    """Every page of the run started by `start`, in order."""
    steps = []
    for cycle in range(policy.repeat + 1):
        at = start.at + policy.cycle * cycle
        for index, level in enumerate(policy.levels):
            key = f"page:{incident.id}:{start.id}:{cycle}:{index + 1}"
            steps.append(Step("page", key, at, index + 1, cycle, tuple(level.targets)))
            at += level.delay
    return steps


def plan(
    incident: Incident,
    events: Sequence[IncidentEvent],
    clocks: Sequence[SlaClock],
    *,
    escalation: EscalationConfig,
    last_update_at: dt.datetime,
    now: dt.datetime,
) -> Escalation:
    """What is due at `now` and what comes next. `clocks` are the incident's SLA clocks
    and `last_update_at` its last team or public update (incidents/clocks.py's Facts)."""
    policy = escalation.policy_for(severity=incident.severity, component=incident.component)
    if policy is None:
        return Escalation(None, "not covered")
    if incident.status == "resolved":
        return Escalation(policy, "resolved")
    done = done_steps(events)
    start = run_start(incident, events, escalation)
    due: list[Step] = []
    ahead: list[Step] = []
    level = None
    if start is not None:
        pages = page_steps(incident, start, policy)
        due += [s for s in pages if s.due_at <= now and s.key not in done]
        ahead += [s for s in pages if s.due_at > now]
        paged = [s.level for s in pages if s.key in done]
        level = paged[-1] if paged else None
    elif incident.status != "open":
        renotify = _renotify(incident, escalation, last_update_at, now)
        due += [renotify[0]] if renotify[0] and renotify[0].key not in done else []
        ahead.append(renotify[1])
    if escalation.remind:
        due += [s for s in _reminders(incident, clocks) if s.due_at <= now and s.key not in done]
        ahead += [
            Step("remind", "", c.due_at, clock=c.name, label=c.label)
            for c in clocks
            if c.name in REMINDED_CLOCKS and c.active and c.due_at > now
        ]
    state = "paging" if start is not None and ahead and ahead[0].kind == "page" else "finished"
    if start is None:
        state = "acknowledged" if incident.status != "open" else "finished"
    # What comes first: a step due now (serve not running?) before one ahead.
    upcoming = min([*due, *ahead], key=lambda s: s.due_at, default=None)
    return Escalation(policy, state, due, upcoming, level, start.at if start is not None else None)


def assess(
    incident: Incident, events: Sequence[IncidentEvent], *, config: Config, now: dt.datetime
) -> Escalation:
    """`plan` with the incident's clocks and last update read from its timeline."""
    clocks = compute_clocks(
        incident, events, now=now, policy=config.incidents, level=config.severity(incident.severity)
    )
    last_update = Facts.from_timeline(incident, events).last_update_at
    return plan(
        incident, events, clocks, escalation=config.escalation, last_update_at=last_update, now=now
    )


def _renotify(
    incident: Incident, escalation: EscalationConfig, last_update_at: dt.datetime, now: dt.datetime
) -> tuple[Step | None, Step]:
    """The re-notification due now (the latest only: one missed while serve was down is
    not sent late on top of it), and the next one."""
    every = escalation.renotify_every
    rounds = int((now - last_update_at) / every)
    since = last_update_at.isoformat()
    upcoming = Step(
        "renotify",
        f"renotify:{incident.id}:{since}:{rounds + 1}",
        last_update_at + every * (rounds + 1),
    )
    if rounds < 1:
        return None, upcoming
    key = f"renotify:{incident.id}:{since}:{rounds}"
    return Step("renotify", key, last_update_at + every * rounds), upcoming


def _reminders(incident: Incident, clocks: Sequence[SlaClock]) -> list[Step]:
    return [
        Step(
            "remind",
            f"remind:{incident.id}:{c.name}:{c.due_at.isoformat()}",
            c.due_at,
            clock=c.name,
            label=c.label,
        )
        for c in clocks
        if c.name in REMINDED_CLOCKS and c.active
    ]


def lead(events: Sequence[IncidentEvent]) -> list[str]:
    """The incident lead: whoever acknowledged it, else the people level 1 paged."""
    for event in events:
        if event.kind == "status" and (event.data or {}).get("from") == "open":
            return [event.actor]
    for event in events:
        data = event.data or {}
        if event.kind == EVENT_KIND and data.get("what") == "page" and data.get("level") == 1:
            return [str(p["name"]) for p in data.get("people", []) if p.get("paged")]
    return []


def describe_policy(policy: Policy) -> list[str]:
    """A policy in words, one line per level, for `opsbook oncall escalation`."""
    lines = []
    for index, level in enumerate(policy.levels):
        who = ", ".join(str(t) for t in level.targets)
        last = index == len(policy.levels) - 1
        then = "then repeat" if last and policy.repeat else "then the next level"
        if last and not policy.repeat:
            then = "then stop"
        lines.append(
            f"level {index + 1}: page {who}; unacknowledged after {_minutes(level.delay)}, {then}"
        )
    if policy.repeat:
        lines.append(f"the whole policy runs {policy.repeat + 1} times in all")
    return lines


def _minutes(delta: dt.timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60}h{minutes % 60:02d}"


def state_json(escalation: Escalation) -> dict[str, Any]:
    """An incident's escalation as `incident show --json` prints it."""
    upcoming = escalation.next
    return {
        "policy": escalation.policy.name if escalation.policy else None,
        "state": escalation.state,
        "level": escalation.level,
        "started_at": escalation.started_at,
        "next": None
        if upcoming is None
        else {
            "what": upcoming.kind,
            "level": upcoming.level,
            "cycle": upcoming.cycle,
            "clock": upcoming.clock,
            "due_at": upcoming.due_at,
        },
    }


def state_words(escalation: Escalation) -> str:
    """`paging (policy default): level 1 paged; next: level 2 ...` without the time."""
    if escalation.policy is None:
        return "not covered by an escalation policy"
    head = f"{escalation.state} (policy {escalation.policy.name})"
    if escalation.level is not None:
        head += f": level {escalation.level} paged"
    upcoming = escalation.next
    if upcoming is None:
        return head
    what = {
        "page": f"page level {upcoming.level}",
        "renotify": "re-notify (no update since the acknowledgement)",
        "remind": f"remind the lead: {upcoming.label}",
    }[upcoming.kind]
    return f"{head}; next: {what}"


def policies_view(escalation: EscalationConfig) -> dict[str, Any]:
    """The policies in words and as data: what `opsbook oncall escalation` shows."""
    default = escalation.default_policy()
    severities = ", ".join(escalation.severities) or "no severity"
    policies = []
    for policy in escalation.policies:
        covers = [severities] if default is not None and policy.name == default.name else []
        covers += [f"component {c}" for c, n in escalation.components.items() if n == policy.name]
        policies.append(
            {
                "name": policy.name,
                "covers": "; ".join(c for c in covers if c) or "nothing (not the default)",
                "repeat": policy.repeat,
                "channels": policy.channels,
                "levels": [
                    {
                        "targets": [str(t) for t in level.targets],
                        "delay": format_duration(level.delay),
                    }
                    for level in policy.levels
                ],
                "words": describe_policy(policy),
            }
        )
    return {
        "policies": policies,
        "settings": [
            f"covered severities: {severities}",
            f"re-notify every {_minutes(escalation.renotify_every)}"
            " while acknowledged with no update",
            "remind the incident lead when updates fall due: "
            + ("yes" if escalation.remind else "no"),
            f"a person paged again within {int(escalation.rate_limit.total_seconds())}s"
            " gets one digest",
        ],
    }
