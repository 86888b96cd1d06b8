"""API key rotation reminders: when each configured key was last rotated, and which are due.

Dates, not instants: a key is rotated on a day, in the file's time zone (`timezone`), and
is due once `every` has passed since that day. A key never recorded is due, and says so.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from opsbook.clock import Clock
from opsbook.config import Config
from opsbook.config.durations import MAX_DURATION
from opsbook.config.explain import did_you_mean
from opsbook.routines.models import KeyRotation
from opsbook.store.audit import record


class RotationError(ValueError):
    """A key that is not configured, or a rotation date that cannot be."""


@dataclass(frozen=True)
class KeyState:
    key: str
    every_days: int
    last_rotated: dt.date | None
    days_ago: int | None
    due: bool

    @property
    def sentence(self) -> str:
        every = f"every {self.every_days} days"
        if self.last_rotated is None:
            return f"{self.key}: never rotated ({every})"
        return (
            f"{self.key}: last rotated {self.last_rotated.isoformat()}, "
            f"{self.days_ago} day{'s' if self.days_ago != 1 else ''} ago ({every})"
        )


def today(config: Config, clock: Clock) -> dt.date:
    """The date on the file's clock (`timezone`): what a person means by "today"."""
    return clock.now().astimezone(ZoneInfo(config.timezone)).date()


def record_rotation(
    session: Session,
    config: Config,
    *,
    key: str,
    on: dt.date | None,
    actor: str,
    clock: Clock,
) -> dt.date:
    """Record that `key` was rotated `on` (today by default), with an audit entry."""
    keys = config.maintenance.keys
    if key not in keys:
        hint = did_you_mean(key, sorted(keys))
        known = ", ".join(sorted(keys)) or "none (maintenance.keys is empty)"
        raise RotationError(f"no key {key!r} in maintenance.keys{hint}; configured: {known}")
    current = today(config, clock)
    day = on or current
    if day > current:
        raise RotationError(f"{day.isoformat()} is after today ({current.isoformat()})")
    if current - day > MAX_DURATION:
        raise RotationError(f"{day.isoformat()} is more than 100 years ago")
    session.add(KeyRotation(key=key, rotated_on=day, actor=actor, recorded_at=clock.now()))
    record(
        session,
        action="maintenance.rotated",
        target=f"key {key}",
        outcome="ok",
        actor=actor,
        details={"rotated_on": day.isoformat()},
        clock=clock,
    )
    return day


def key_states(session: Session, config: Config, *, clock: Clock) -> list[KeyState]:
    """Every configured key, the due ones first (never rotated before the longest ago)."""
    newest = select(KeyRotation.key, func.max(KeyRotation.rotated_on)).group_by(KeyRotation.key)
    last = {key: day for key, day in session.execute(newest)}
    current = today(config, clock)
    states = []
    for key, policy in config.maintenance.keys.items():
        every = max(1, policy.every.days)
        rotated = last.get(key)
        ago = None if rotated is None else (current - rotated).days
        states.append(KeyState(key, every, rotated, ago, ago is None or ago >= every))
    return sorted(states, key=lambda s: (not s.due, -(s.days_ago or 10**9), s.key))
