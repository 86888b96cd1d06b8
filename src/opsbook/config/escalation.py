"""The `escalation:` section: who is paged, in which order, and how often they are reminded.

A policy is PagerDuty's and GoAlert's shape: ordered levels, each a list of targets (a
schedule: whoever is on call at the moment of paging; or a person by name) and a delay
before the next level; after the last level the whole policy runs again `repeat` times.
Which incidents a policy covers is by severity (the seed pages P0 and alerts the on-call
for P1) and, above that, by component.

Every bound below is there so that a typo cannot page someone forever or every second:
a level waits 1 minute to 1 day, a policy repeats at most 10 times.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from opsbook.config.base import SEVERITY_NAMES, Model, SeverityName
from opsbook.config.durations import Duration, format_duration
from opsbook.config.errors import ConfigIssue, shown
from opsbook.config.explain import did_you_mean, duplicate_names
from opsbook.config.notify import ChannelName, NotifyConfig, is_plain_address
from opsbook.config.oncall import Name, OncallConfig
from opsbook.config.source import Located

DAY = dt.timedelta(days=1)
MAX_REPEAT = 10
# The seed: "Acknowledge alert within 5 minutes"; "Keep team updated every 30 minutes".
ACK_WAIT = dt.timedelta(minutes=5)
RENOTIFY_EVERY = dt.timedelta(minutes=30)
# Kinds a person can be paged through; PagerDuty runs its own escalation policy on the
# service-level trigger opsbook sends, so paging people one by one through it is left out.
PAGING_CHANNELS = ("slack", "email", "webhook")


def between(minimum: dt.timedelta, maximum: dt.timedelta) -> AfterValidator:
    """Annotated metadata for a wait: shorter than `minimum` means nothing, longer than
    `maximum` is a typo that would silence paging for months."""

    def check(value: dt.timedelta) -> dt.timedelta:
        if value < minimum:
            raise ValueError(f"{format_duration(value)} is shorter than {format_duration(minimum)}")
        if value > maximum:
            raise ValueError(
                f"{format_duration(value)} is longer than {format_duration(maximum)},"
                " the longest wait opsbook takes here"
            )
        return value

    return AfterValidator(check)


Wait = Annotated[Duration, between(dt.timedelta(minutes=1), DAY)]


class Target(Model):
    """One target of a level: `schedule` (whoever is on call then) or `person`."""

    schedule: Name | None = None
    person: Name | None = None

    @model_validator(mode="after")
    def _one(self) -> Target:
        if (self.schedule is None) == (self.person is None):
            raise ValueError("give one of schedule or person (like {schedule: primary})")
        return self

    def __str__(self) -> str:
        return f"on call in {self.schedule}" if self.schedule else str(self.person)


class Level(Model):
    targets: list[Target] = Field(min_length=1, max_length=20)
    # How long this level has to acknowledge before the next level is paged.
    delay: Wait = ACK_WAIT


class Policy(Model):
    name: Name
    levels: list[Level] = Field(min_length=1, max_length=20)
    # How many more times the whole policy runs after its last level went unanswered.
    repeat: int = Field(default=0, ge=0, le=MAX_REPEAT)
    # Channels a person is paged through; unset: the Slack and email channels the
    # incident's route names.
    channels: list[ChannelName] | None = Field(default=None, max_length=20)

    @property
    def cycle(self) -> dt.timedelta:
        """One run of every level, delays included."""
        return sum((level.delay for level in self.levels), dt.timedelta(0))


class EscalationConfig(Model):
    policies: list[Policy] = Field(default=[], max_length=100)
    # The policy for every covered severity; unset: the one named `default`, else the first.
    default: Name | None = None
    severities: list[SeverityName] = Field(default=["P0", "P1"], max_length=len(SEVERITY_NAMES))
    # Per component: the policy for its incidents of a covered severity.
    components: dict[str, Name] = Field(default={}, max_length=1000)
    # Acknowledged but no team or public update for this long: tell everyone again.
    renotify_every: Wait = RENOTIFY_EVERY
    # Remind the incident lead when a team or customer update falls due.
    remind: bool = True
    # A person paged again within this window gets one digest when it closes.
    rate_limit: Annotated[Duration, between(dt.timedelta(0), dt.timedelta(hours=1))] = dt.timedelta(
        minutes=1
    )
    # How often `opsbook serve` looks for what is due.
    tick: Annotated[Duration, between(dt.timedelta(seconds=1), dt.timedelta(minutes=1))] = (
        dt.timedelta(seconds=5)
    )

    def policy(self, name: str) -> Policy | None:
        return next((p for p in self.policies if p.name == name), None)

    def default_policy(self) -> Policy | None:
        if self.default is not None:
            return self.policy(self.default)
        return self.policy("default") or (self.policies[0] if self.policies else None)

    def policy_for(self, *, severity: str, component: str | None) -> Policy | None:
        """The policy covering an incident of `severity` and `component`, or None."""
        if severity not in self.severities:
            return None
        named = self.components.get(component or "")
        return self.policy(named) if named else self.default_policy()


def escalation_issues(
    doc: Located, escalation: EscalationConfig, oncall: OncallConfig, notify: NotifyConfig
) -> list[ConfigIssue]:
    """References across sections, each issue at the very name: policies, schedules,
    people and channels that do not exist, and PagerDuty named as a paging channel."""
    names = [p.name for p in escalation.policies]
    issues = duplicate_names(doc, ("escalation", "policies"), names)
    if escalation.default is not None and escalation.default not in names:
        issues.append(_unknown(doc, ("escalation", "default"), "policy", escalation.default, names))
    for component, name in escalation.components.items():
        if name not in names:
            issues.append(
                _unknown(doc, ("escalation", "components", component), "policy", name, names)
            )
    people = [p.name for p in oncall.people]
    schedules = [s.name for s in oncall.schedules]
    for p, policy in enumerate(escalation.policies):
        where = ("escalation", "policies", p)
        for i, level in enumerate(policy.levels):
            for t, target in enumerate(level.targets):
                at = (*where, "levels", i, "targets", t)
                if target.schedule is not None and target.schedule not in schedules:
                    issues.append(
                        _unknown(doc, (*at, "schedule"), "schedule", target.schedule, schedules)
                    )
                if target.person is not None and target.person not in people:
                    issues.append(_unknown(doc, (*at, "person"), "person", target.person, people))
        issues += _channel_issues(doc, (*where, "channels"), policy.channels or [], notify)
    if escalation.policies:
        issues += _address_issues(doc, oncall)
    return issues


def _address_issues(doc: Located, oncall: OncallConfig) -> list[ConfigIssue]:
    """A paged person's address goes into a To header: one plain address only (a comma
    or a display name there would add recipients)."""
    return [
        doc.issue(
            ("oncall", "people", i, "contacts", "email"),
            f"{shown(p.contacts.email)} cannot be paged by email: write one plain address"
            " (user@example.com)",
        )
        for i, p in enumerate(oncall.people)
        if p.contacts.email and not is_plain_address(p.contacts.email)
    ]


def _channel_issues(
    doc: Located, where: tuple[str | int, ...], wanted: list[str], notify: NotifyConfig
) -> list[ConfigIssue]:
    kinds = {c.name: c.kind for c in notify.channels}
    issues = []
    for index, name in enumerate(wanted):
        if name not in kinds:
            issues.append(_unknown(doc, (*where, index), "channel", name, list(kinds)))
        elif kinds[name] not in PAGING_CHANNELS:
            issues.append(
                doc.issue(
                    (*where, index),
                    f"{name!r} is a {kinds[name]} channel: PagerDuty pages people by its own"
                    " escalation policy from the incident's trigger; page through slack,"
                    " email or webhook channels here",
                )
            )
    return issues


def _unknown(
    doc: Located, where: tuple[str | int, ...], what: str, name: str, known: list[str]
) -> ConfigIssue:
    return doc.issue(where, f"no {what} named {shown(name)}{did_you_mean(name, known)}")
