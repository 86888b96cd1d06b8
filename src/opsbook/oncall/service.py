"""On-call operations: who is on call, the shifts ahead, and overrides.

Escalation and paging call `who_is_on_call` and `shifts`; the CLI is a door over the
same functions. Every function takes the session, the `oncall:` config and its instants
(or a clock) from the caller, so a test freezes time by handing them in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from opsbook.clock import Clock
from opsbook.config.durations import MAX_DURATION
from opsbook.config.errors import shown
from opsbook.config.explain import did_you_mean
from opsbook.config.oncall import OncallConfig, Person, Schedule
from opsbook.oncall.models import Override
from opsbook.oncall.schedules import Cover, Shift, resolve
from opsbook.store import audit

# How far ahead `on_call_now` looks for the next person, and for the end of a shift
# that has no end in sight (one person, no restrictions): then `until` is None.
LOOK_AHEAD = dt.timedelta(days=90)
_MOMENT = dt.timedelta(microseconds=1)
NO_SCHEDULES = "no schedules are configured (oncall.schedules in opsbook.yaml)"


class OncallError(ValueError):
    """A refusal in the domain's words; nothing was changed."""


@dataclass(frozen=True)
class OnCallNow:
    """One schedule at one moment: who holds it (None: nobody, a gap), until when (None:
    not within LOOK_AHEAD), and the shift after that (None: no change in sight)."""

    schedule: Schedule
    current: Shift
    until: dt.datetime | None
    next: Shift | None


@dataclass(frozen=True)
class OverrideAdded:
    override: Override
    overlaps: list[int]  # the ids of earlier overrides this one wins over where they meet


def find_schedule(oncall: OncallConfig, name: str) -> Schedule:
    found = oncall.schedule(name)
    if found is None:
        names = [s.name for s in oncall.schedules]
        if not names:
            raise OncallError(NO_SCHEDULES)
        raise OncallError(f"no schedule named {shown(name)}{did_you_mean(name, names)}")
    return found


def find_person(oncall: OncallConfig, name: str) -> Person:
    found = oncall.person(name)
    if found is None:
        names = [p.name for p in oncall.people]
        raise OncallError(f"no person named {shown(name)}{did_you_mean(name, names)}")
    return found


def shifts(
    *, session: Session, oncall: OncallConfig, schedule: str, start: dt.datetime, end: dt.datetime
) -> list[Shift]:
    """The schedule over [start, end), overrides applied; a gap is a Shift with no person."""
    found = find_schedule(oncall, schedule)
    if end <= start:
        return []
    covers = [_cover(oncall, row) for row in _in_force(session, found.name, start, end)]
    return resolve(found, {p.name: p for p in oncall.people}, covers, start, end)


def who_is_on_call(
    *, session: Session, oncall: OncallConfig, schedule: str, at: dt.datetime
) -> list[Person]:
    """The people on call at `at`, with their contacts; empty when nobody is."""
    [shift] = shifts(session=session, oncall=oncall, schedule=schedule, start=at, end=at + _MOMENT)
    return [shift.person] if shift.person is not None else []


def on_call_now(
    *, session: Session, oncall: OncallConfig, at: dt.datetime, schedule: str | None = None
) -> list[OnCallNow]:
    """Each schedule (or the one named): who is on call at `at`, until when, who is next."""
    chosen = [find_schedule(oncall, schedule)] if schedule is not None else oncall.schedules
    if not chosen:
        raise OncallError(NO_SCHEDULES)
    result = []
    for found in chosen:
        ahead = shifts(
            session=session, oncall=oncall, schedule=found.name, start=at, end=at + LOOK_AHEAD
        )
        current = ahead[0]
        later = [s for s in ahead[1:] if s.person != current.person]
        until = later[0].start if later else None
        result.append(OnCallNow(found, current, until, later[0] if later else None))
    return result


def add_override(
    *,
    session: Session,
    oncall: OncallConfig,
    schedule: str,
    person: str,
    start: dt.datetime,
    end: dt.datetime,
    actor: str,
    clock: Clock,
) -> OverrideAdded:
    """`person` covers `schedule` over [start, end); where it meets earlier overrides,
    it wins (the newest does). Audited in the same transaction."""
    found, who = find_schedule(oncall, schedule), find_person(oncall, person)
    now = clock.now()
    if end <= start:
        raise OncallError(
            f"the override must end after it starts ({_when(end)} is not after {_when(start)})"
        )
    if end <= now:
        raise OncallError(f"the override would end at {_when(end)}, before now")
    if max(abs(start - now), abs(end - now)) > MAX_DURATION:
        raise OncallError("the override reaches more than 100 years from now")
    overlaps = [row.id for row in _in_force(session, found.name, start, end)]
    row = Override(
        schedule=found.name,
        person=who.name,
        starts_at=start,
        ends_at=end,
        created_at=now,
        created_by=actor,
    )
    session.add(row)
    session.flush()
    _audit(session, "oncall.override", row, actor, clock, overlaps=overlaps)
    return OverrideAdded(row, overlaps)


def remove_override(*, session: Session, override_id: int, actor: str, clock: Clock) -> Override:
    """Take an override out of force; the row stays, marked removed, and it is audited."""
    row = session.get(Override, override_id)
    if row is None:
        raise OncallError(f"no override #{override_id}")
    if row.removed_at is not None:
        raise OncallError(
            f"override #{override_id} was already removed at {_when(row.removed_at)}"
            f" by {shown(row.removed_by)}"
        )
    row.removed_at, row.removed_by = clock.now(), actor
    _audit(session, "oncall.override.remove", row, actor, clock)
    return row


def overrides(
    *, session: Session, now: dt.datetime, schedule: str | None = None, past: bool = False
) -> Sequence[Override]:
    """Overrides in force now or later (with `past`, those that ended too), soonest first."""
    query = select(Override).where(Override.removed_at.is_(None))
    if schedule is not None:
        query = query.where(Override.schedule == schedule)
    if not past:
        query = query.where(Override.ends_at > now)
    return session.scalars(query.order_by(Override.starts_at, Override.id)).all()


def _in_force(
    session: Session, schedule: str, start: dt.datetime, end: dt.datetime
) -> Sequence[Override]:
    query = select(Override).where(
        Override.schedule == schedule,
        Override.removed_at.is_(None),
        Override.starts_at < end,
        Override.ends_at > start,
    )
    return session.scalars(query.order_by(Override.id)).all()


def _cover(oncall: OncallConfig, row: Override) -> Cover:
    # A person since dropped from opsbook.yaml still covers, by name, with no contacts.
    person = oncall.person(row.person) or Person(name=row.person)
    return Cover(row.id, person, row.starts_at, row.ends_at)


def _audit(
    session: Session, action: str, row: Override, actor: str, clock: Clock, **more: object
) -> None:
    """One audit row per change, in the change's own transaction."""
    details = {
        "id": row.id,
        "person": row.person,
        "from": row.starts_at.isoformat(),
        "to": row.ends_at.isoformat(),
        **more,
    }
    audit.record(
        session,
        action=action,
        target=row.schedule,
        outcome="ok",
        actor=actor,
        details=details,
        clock=clock,
    )


def _when(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="seconds")
