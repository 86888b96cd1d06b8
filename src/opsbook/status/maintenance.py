"""Scheduled maintenance: planned work on public components, shown on the status page, and
while it is under way the components' checks open no incidents (`checks_in_maintenance`).

A maintenance is under way from its window's start (or from `start`, by hand, if earlier)
until `complete` or its window's end, whichever comes first: an overrun is a fault again,
and pages as one. Nothing wakes up to start or end one; its phase is read at the moment.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from opsbook.clock import Clock
from opsbook.config.durations import format_duration
from opsbook.config.errors import shown
from opsbook.config.explain import did_you_mean
from opsbook.config.secrets import mask_text
from opsbook.config.status import StatusConfig
from opsbook.status.models import Maintenance
from opsbook.store import audit

Phase = Literal["scheduled", "in_progress", "completed", "cancelled"]
# A maintenance window is work someone watches: a week covers any real one, and a typo
# of `--to 2027-...` would otherwise silence a component's checks for a year.
LONGEST = dt.timedelta(days=7)
AHEAD = dt.timedelta(days=366)  # how far ahead one may be scheduled
TITLE_LIMIT = 200
MESSAGE_LIMIT = 5000
# Customers read these words: no control characters (an ANSI escape, a NUL), newlines
# only in the message.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_CONTROL_BUT_NEWLINE = re.compile(
    r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)


class MaintenanceError(ValueError):
    """A refusal in the domain's words; nothing was changed."""


def phase(row: Maintenance, now: dt.datetime) -> Phase:
    """Where a maintenance stands at `now` (see the module's note)."""
    if row.state in ("completed", "cancelled"):
        return "completed" if row.state == "completed" else "cancelled"
    if now >= row.ends_at:
        return "completed"
    if row.state == "in_progress" or now >= row.starts_at:
        return "in_progress"
    return "scheduled"


def schedule(
    *,
    session: Session,
    status: StatusConfig,
    title: str,
    components: Sequence[str],
    start: dt.datetime,
    end: dt.datetime,
    actor: str,
    clock: Clock,
    message: str = "",
) -> Maintenance:
    """Plan work on public components over [start, end); audited in its transaction."""
    now = clock.now()
    names = _components(status, components)
    _window(start, end, now)
    row = Maintenance(
        title=mask_text(_text(title, "the title", TITLE_LIMIT, _CONTROL)),
        message=mask_text(
            _text(message, "the message", MESSAGE_LIMIT, _CONTROL_BUT_NEWLINE, blank=True)
        ),
        components=names,
        starts_at=start,
        ends_at=end,
        state="scheduled",
        created_at=now,
        created_by=actor,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    _audit(session, "maintenance.schedule", row, actor, clock)
    return row


def start(*, session: Session, maintenance_id: int, actor: str, clock: Clock) -> Maintenance:
    """Begin the work now, before its window opens (within the window it already is)."""
    row = _open_one(session, maintenance_id, clock.now(), allowed=("scheduled",), to="start")
    row.state, row.started_at, row.updated_at = "in_progress", clock.now(), clock.now()
    _audit(session, "maintenance.start", row, actor, clock)
    return row


def complete(*, session: Session, maintenance_id: int, actor: str, clock: Clock) -> Maintenance:
    """The work is done: checks of its components open incidents again from now."""
    row = _open_one(session, maintenance_id, clock.now(), allowed=("in_progress",), to="complete")
    row.state, row.ended_at, row.updated_at = "completed", clock.now(), clock.now()
    _audit(session, "maintenance.complete", row, actor, clock)
    return row


def cancel(*, session: Session, maintenance_id: int, actor: str, clock: Clock) -> Maintenance:
    """Call off work that has not started; the row stays, marked cancelled."""
    row = _open_one(session, maintenance_id, clock.now(), allowed=("scheduled",), to="cancel")
    row.state, row.ended_at, row.updated_at = "cancelled", clock.now(), clock.now()
    _audit(session, "maintenance.cancel", row, actor, clock)
    return row


def maintenances(session: Session, *, now: dt.datetime, ended: bool = False) -> list[Maintenance]:
    """Upcoming and under way (with `ended`, every one), soonest first."""
    rows = session.scalars(select(Maintenance).order_by(Maintenance.starts_at, Maintenance.id))
    return [r for r in rows if ended or phase(r, now) in ("scheduled", "in_progress")]


def in_progress(session: Session, *, now: dt.datetime) -> list[Maintenance]:
    """The maintenances under way at `now`, read with the window index."""
    query = select(Maintenance).where(
        Maintenance.state.in_(("scheduled", "in_progress")), Maintenance.ends_at > now
    )
    return [r for r in session.scalars(query) if phase(r, now) == "in_progress"]


def checks_in_maintenance(
    session: Session, *, status: StatusConfig, now: dt.datetime
) -> dict[str, int]:
    """Each check of a component under maintenance at `now`, and that maintenance's id."""
    found: dict[str, int] = {}
    for row in in_progress(session, now=now):
        for name in row.components:
            component = status.component(name)
            for check in component.checks if component else []:
                found.setdefault(check, row.id)
    return found


@dataclass(frozen=True)
class Probe:
    """What changes whenever any maintenance does: the public view's cache compares it."""

    count: int
    changed: dt.datetime | None


def probe(session: Session) -> Probe:
    count, changed = session.execute(
        select(func.count(), func.max(Maintenance.updated_at)).select_from(Maintenance)
    ).one()
    return Probe(int(count), changed)


def _components(status: StatusConfig, given: Sequence[str]) -> list[str]:
    names: list[str] = []
    for text in given:
        component = status.component(text.strip())
        if component is None:
            known = [c.name for c in status.components]
            if not known:
                raise MaintenanceError("no public components are configured (status.components)")
            hint = did_you_mean(text, known)
            raise MaintenanceError(
                f"no public component named {shown(text)}{hint} (known: {', '.join(known)})"
            )
        if component.name in names:
            raise MaintenanceError(f"component {shown(component.name)} is listed twice")
        names.append(component.name)
    if not names:
        raise MaintenanceError("name at least one public component")
    return names


def _window(start: dt.datetime, end: dt.datetime, now: dt.datetime) -> None:
    if end <= start:
        raise MaintenanceError(
            f"the maintenance must end after it starts ({_when(end)} is not after {_when(start)})"
        )
    if end <= now:
        raise MaintenanceError(f"the maintenance would end at {_when(end)}, before now")
    if end - start > LONGEST:
        raise MaintenanceError(
            f"the window is {format_duration(end - start)} long; at most"
            f" {format_duration(LONGEST)} (schedule longer work as several windows)"
        )
    if start - now > AHEAD:
        raise MaintenanceError(f"the maintenance starts more than {AHEAD.days} days from now")


def _text(
    value: str, what: str, limit: int, control: re.Pattern[str], *, blank: bool = False
) -> str:
    text = value.strip()
    if not text and not blank:
        raise MaintenanceError(f"{what} must not be empty")
    if len(text) > limit:
        raise MaintenanceError(f"{what} is {len(text):,} characters long; at most {limit:,}")
    bad = control.search(text)
    if bad:
        raise MaintenanceError(
            f"{what} holds a control character ({bad.group()!a} at {bad.start() + 1});"
            " customers read it: use plain text"
        )
    return text


def _open_one(
    session: Session, maintenance_id: int, now: dt.datetime, *, allowed: tuple[Phase, ...], to: str
) -> Maintenance:
    row = session.get(Maintenance, maintenance_id, with_for_update=True)
    if row is None:
        raise MaintenanceError(f"no maintenance #{maintenance_id}")
    current = phase(row, now)
    if current not in allowed:
        raise MaintenanceError(
            f"maintenance #{row.id} is {current.replace('_', ' ')}: it cannot {to}"
        )
    return row


def _audit(session: Session, action: str, row: Maintenance, actor: str, clock: Clock) -> None:
    details = {
        "id": row.id,
        "state": row.state,
        "components": list(row.components),
        "from": row.starts_at.isoformat(),
        "to": row.ends_at.isoformat(),
    }
    audit.record(
        session,
        action=action,
        target=f"maintenance #{row.id}",
        outcome="ok",
        actor=actor,
        details=details,
        clock=clock,
    )


def _when(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="seconds")
