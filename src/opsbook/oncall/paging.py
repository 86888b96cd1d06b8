"""Escalation's hands: take the steps `oncall/escalation.py` says are due, as outbox
messages and a timeline line, in one short transaction per incident.

Exactly once, with two `opsbook serve` processes on one store or a restart between:

- Each incident's steps are taken under its row lock (incidents.get with lock=True), and
  the timeline is read again under it: the second process waits for the first to
  commit, then finds the step on the timeline and does nothing.
- Every outbox message carries a key naming its step, person and channel; a repeat of
  the decision enqueues nothing (notify/outbox.py), and a racing insert of the same key
  fails on the unique index, rolling the whole step back.
- A person's rate-limit window is a row locked (FOR UPDATE) before the decision to page
  them; rows are locked in name order, so two incidents paging the same people cannot
  deadlock.

Nothing here waits on the network: it only enqueues. PagerDuty is not paged person by
person: it gets the service-level trigger, acknowledge and resolve (notify/routing.py)
and runs its own escalation policy for its users; the policies here page through Slack,
email and webhook channels.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from opsbook.clock import Clock
from opsbook.config import Config
from opsbook.config.escalation import PAGING_CHANNELS, Policy
from opsbook.config.notify import Channel
from opsbook.config.oncall import Person
from opsbook.incidents import service as incidents
from opsbook.incidents.lifecycle import Status
from opsbook.incidents.models import Incident, IncidentEvent
from opsbook.notify import outbox, routing
from opsbook.notify.channels import sender_for
from opsbook.notify.events import snapshot
from opsbook.oncall import digest
from opsbook.oncall import service as oncall
from opsbook.oncall.escalation import EVENT_KIND, Escalation, Step, assess, lead
from opsbook.oncall.models import PagingWindow
from opsbook.store import Store

log = logging.getLogger("opsbook.oncall")
ACTOR = "opsbook"


@dataclass(frozen=True)
class Recipient:
    person: Person
    why: str  # "on call in primary", "level 2", "acknowledged it", "incident lead"


@dataclass
class Outcome:
    """What happened to one person in one step, for the timeline."""

    name: str
    why: str
    channels: list[str] = field(default_factory=list)
    paged: bool = False
    folded: bool = False
    missing: str | None = None


def tick(store: Store, config: Config, *, clock: Clock) -> int:
    """One round: every covered incident's due steps (each incident in its own
    transaction), then the digests whose window closed. Returns the steps taken."""
    with store.reading() as session:
        due = due_incidents(session, config, clock=clock)
    taken = 0
    for incident_id in due:
        try:
            with store.session() as session:
                taken += len(take_due(session, config, incident_id=incident_id, clock=clock))
        except IntegrityError:
            # Another process took this step at the same moment; its commit stands.
            log.info("incident #%d: its escalation step was taken by another process", incident_id)
        except Exception:
            # Its transaction is rolled back; one incident that cannot be worked must not
            # stop every other incident's pages (the next round tries it again).
            log.exception("incident #%d: its escalation round failed", incident_id)
    digest.close_windows(store, config, clock=clock)
    return taken


def due_incidents(session: Session, config: Config, *, clock: Clock) -> list[int]:
    """Unresolved incidents of a covered severity that have a step due now (a read)."""
    severities = list(config.escalation.severities)
    if not config.escalation.policies or not severities:
        return []
    found = session.scalars(
        select(Incident).where(
            Incident.status != Status.RESOLVED.value, Incident.severity.in_(severities)
        )
    ).all()
    events = incidents.timelines(session, incident_ids=[i.id for i in found])
    now = clock.now()
    return [i.id for i in found if assess(i, events[i.id], config=config, now=now).due]


def state(session: Session, config: Config, *, incident: Incident, now: dt.datetime) -> Escalation:
    """Where the incident's escalation stands at `now` (a read: `incident show`)."""
    events = incidents.timeline(session, incident_id=incident.id)
    return assess(incident, events, config=config, now=now)


def take_due(
    session: Session, config: Config, *, incident_id: int, clock: Clock
) -> list[IncidentEvent]:
    """Take the incident's due steps in the caller's transaction; the timeline lines
    written come back (none when another process took them first)."""
    incident = incidents.get(session, incident_id=incident_id, lock=True)
    events = incidents.timeline(session, incident_id=incident_id)
    now = clock.now()
    state = assess(incident, events, config=config, now=now)
    if not state.due or state.policy is None:
        return []
    planned = [(step, recipients(session, config, events, step, now)) for step in state.due]
    windows = digest.lock_windows(session, sorted({r.person.name for _, rs in planned for r in rs}))
    base = snapshot(session, incident, config, clock)
    page = Pager(session, config, incident, state.policy, windows, base, clock)
    return [page.take(step, found) for step, found in planned]


def recipients(
    session: Session, config: Config, events: Sequence[IncidentEvent], step: Step, now: Any
) -> list[Recipient]:
    """Who a step is for: a level's targets at the moment of paging (overrides and
    hand-offs honoured), or the incident lead."""
    if step.kind != "page":
        why = "acknowledged it" if step.kind == "renotify" else "incident lead"
        return [Recipient(digest.person(config, name), why) for name in lead(events)]
    found: list[Recipient] = []
    for target in step.targets:
        if target.schedule is not None:
            people = oncall.who_is_on_call(
                session=session, oncall=config.oncall, schedule=target.schedule, at=now
            )
            found += [Recipient(p, f"on call in {target.schedule}") for p in people]
        elif target.person is not None:
            found.append(Recipient(digest.person(config, target.person), "named"))
    unique = {r.person.name: r for r in reversed(found)}  # a person twice is paged once
    return [unique[name] for name in dict.fromkeys(r.person.name for r in found)]


class Pager:
    """The steps of one incident in one transaction."""

    def __init__(
        self,
        session: Session,
        config: Config,
        incident: Incident,
        policy: Policy,
        windows: dict[str, PagingWindow],
        base: dict[str, Any],
        clock: Clock,
    ) -> None:
        self.session, self.config, self.incident, self.policy = session, config, incident, policy
        self.windows, self.base, self.clock = windows, base, clock
        self.on = routing.channels_on(config)

    def take(self, step: Step, people: Sequence[Recipient]) -> IncidentEvent:
        outcomes = [self.reach(step, r) for r in people]
        told = self.renotify_channels(step) if step.kind == "renotify" else []
        text = words(step, outcomes, told)
        data = {
            "step": step.key,
            "what": step.kind,
            "level": step.level,
            "cycle": step.cycle,
            "clock": step.clock,
            "people": [vars(o) for o in outcomes],
            "channels": told,
        }
        return incidents.log_event(
            self.session,
            incident=self.incident,
            kind=EVENT_KIND,
            actor=ACTOR,
            clock=self.clock,
            text=text,
            data=data,
        )

    def channels_for(self, person: Person) -> list[Channel]:
        """The channels that can reach `person`: the policy's, else the Slack and email
        channels on the incident's route; email only when they have an address."""
        names = self.policy.channels
        if names is None:
            route = routing.route(
                self.config, severity=self.incident.severity, component=self.incident.component
            )
            names = [n for n in route if n in self.on and self.on[n].kind in ("slack", "email")]
        found = [self.on[n] for n in names if n in self.on and self.on[n].kind in PAGING_CHANNELS]
        return [c for c in found if c.kind != "email" or person.contacts.email]

    def reach(self, step: Step, recipient: Recipient) -> Outcome:
        person = recipient.person
        why = f"{recipient.why}, level {step.level}" if step.kind == "page" else recipient.why
        outcome = Outcome(person.name, why)
        channels = self.channels_for(person)
        if not channels:
            outcome.missing = "no channel reaches them (no contacts, or no channel is on)"
            return outcome
        outcome.channels = [c.name for c in channels]
        window = self.windows[person.name]
        if not digest.admit(window, self.clock.now(), self.config, self._folded(step, outcome)):
            outcome.folded = True
            return outcome
        for channel in channels:
            payload = {
                **self.base,
                "page": digest.contact(person)
                | {"why": why, "level": step.level, "what": step.kind},
                "changes": [],
                "text": ask(step, person, why, self.incident.id),
                "actor": ACTOR,
                "at": self.clock.now().isoformat(),
            }
            outbox.enqueue(
                self.session,
                channel=channel.name,
                kind=step.kind,
                incident_id=self.incident.id,
                payload=payload,
                clock=self.clock,
                key=digest.outbox_key(step.key, person.name, channel.name),
            )
        outcome.paged = True
        return outcome

    def _folded(self, step: Step, outcome: Outcome) -> dict[str, Any]:
        return {
            "incident": self.incident.id,
            "title": self.incident.title,
            "severity": self.incident.severity,
            "what": step.kind,
            "level": step.level,
            "label": step.label,
            "channels": outcome.channels,
            "at": self.clock.now().isoformat(),
        }

    def renotify_channels(self, step: Step) -> list[str]:
        """Every channel the incident is engaged on hears it again (PagerDuty has no such
        event: its own re-notification rules apply)."""
        told = []
        for name in sorted(routing.engaged(self.session, incident_id=self.incident.id)):
            channel = self.on.get(name)
            if channel is None or "renotify" not in sender_for(channel).kinds:
                continue
            payload = {
                **self.base,
                "changes": [],
                "text": ask(step, None, "", self.incident.id),
                "actor": ACTOR,
                "at": self.clock.now().isoformat(),
            }
            outbox.enqueue(
                self.session,
                channel=name,
                kind="renotify",
                incident_id=self.incident.id,
                payload=payload,
                clock=self.clock,
                key=digest.outbox_key(step.key, name),
            )
            told.append(name)
        return told


def ask(step: Step, person: Person | None, why: str, incident_id: int) -> str:
    """What the message asks of its reader, in words."""
    if step.kind == "page":
        assert person is not None
        return (
            f"{person.name}: you are paged ({why}). Acknowledge within the level's delay,"
            f" or the next level is paged: opsbook incident ack {incident_id}"
        )
    if step.kind == "renotify":
        return (
            "Acknowledged, but no team or public update since. Post one:"
            f" opsbook incident update {incident_id} --message ..."
        )
    return f"{step.label} is due: opsbook incident update {incident_id} --message ..."


def words(step: Step, outcomes: Sequence[Outcome], told: Sequence[str]) -> str:
    """The timeline line: `paged Alice (on call in primary, level 1) by email, slack`."""
    verb = {"page": "paged", "renotify": "re-notified", "remind": "reminded"}[step.kind]
    parts = [f"{verb} {_one(o)}" for o in outcomes]
    if told:
        parts.insert(0, f"re-notified {', '.join(told)} (acknowledged, no update since)")
    if step.kind == "remind":
        parts = [f"{p}: {step.label} due" for p in parts]
    if not parts:
        parts = [_nobody(step)]
    return "; ".join(parts)


def _one(outcome: Outcome) -> str:
    head = f"{outcome.name} ({outcome.why})"
    if outcome.missing:
        return f"{head}: not reached, {outcome.missing}"
    if outcome.folded:
        return f"{head}: folded into their digest (paged within the rate limit)"
    return f"{head} by {', '.join(outcome.channels)}"


def _nobody(step: Step) -> str:
    if step.kind == "page":
        targets = ", ".join(str(t) for t in step.targets)
        return f"level {step.level}: nobody to page ({targets}: nobody on call)"
    return f"{step.kind}: no incident lead to reach"
