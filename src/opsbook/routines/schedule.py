"""When a routine's slots fall.

- A slot is a wall-clock time in the routine's time zone (`weekly monday 09:00` in
  Europe/Berlin is 09:00 on the clocks in Berlin, summer or winter), computed by cronsim
  on naive wall-clock times and turned into an instant by `oncall.wallclock.instant`:
  one set of daylight-saving rules for hand-offs and routines alike (GoAlert's).
- Spring forward: a slot in the gap (02:30 in America/New_York on 2026-03-08) runs at the
  first instant after the gap (03:00 EDT), once.
- Fall back: a slot in the overlap (01:30 on 2026-11-01) runs once, at its first
  occurrence (01:30 EDT); the repeated hour does not run it again. Debian's cron does
  the same for jobs at a fixed time (its "wildcard" jobs differ; routines have none).
- A slot missed while opsbook was down runs ONCE when it comes back, for the latest slot
  passed; the run records that slot, that it was late, and how many earlier slots it
  stands for (`Due.missed`). Never once per missed slot: a week of downtime is one
  weekly checklist, not seven daily ones.
- Slots before a routine was first seen are not owed (routines/models.RoutineSeen).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from cronsim import CronSim

from opsbook.config import Config
from opsbook.config.routines import Routine
from opsbook.oncall.wallclock import instant, wall

_MINUTE = dt.timedelta(minutes=1)
# Missed slots counted one by one up to here (a `* * * * *` routine down for a year would
# be half a million); past it the count says "at least".
MAX_COUNTED = 10_000


@dataclass(frozen=True)
class Slot:
    at: dt.datetime  # the instant it runs, UTC
    local: dt.datetime  # the wall-clock time it was written for, naive, in its zone


@dataclass(frozen=True)
class Due:
    slot: Slot
    missed: int  # earlier slots since the last run folded into this one


def zone_of(routine: Routine, config: Config) -> ZoneInfo:
    """The routine's zone, else the file's `timezone` (UTC unless set)."""
    return ZoneInfo(routine.timezone or config.timezone)


def next_slot(expression: str, zone: ZoneInfo, after: dt.datetime) -> Slot:
    """The first slot strictly after the instant `after`."""
    for local in CronSim(expression, wall(after, zone)):
        at = instant(local, zone)
        if at > after:  # a slot in a repeated hour maps before `after`: it already ran
            return Slot(at, local)
    raise AssertionError("cronsim stops only past year 9999")  # pragma: no cover


def latest_slot(expression: str, zone: ZoneInfo, now: dt.datetime) -> Slot:
    """The last slot at or before `now`."""
    start = wall(now, zone).replace(second=0, microsecond=0) + _MINUTE
    for local in CronSim(expression, start, reverse=True):
        at = instant(local, zone)
        if at <= now:  # a slot in a gap maps after it: not yet
            return Slot(at, local)
    raise AssertionError("cronsim stops only before year 1")  # pragma: no cover


def due(expression: str, zone: ZoneInfo, *, after: dt.datetime, now: dt.datetime) -> Due | None:
    """The slot to run now: the latest in (after, now], or None when none has passed."""
    latest = latest_slot(expression, zone, now)
    if latest.at <= after:
        return None
    return Due(latest, _count_between(expression, zone, after, latest.at))


def _count_between(expression: str, zone: ZoneInfo, after: dt.datetime, until: dt.datetime) -> int:
    """Slots strictly between two instants (a gap's slots merged into one), up to the cap."""
    count, previous = 0, after
    for local in CronSim(expression, wall(after, zone)):
        at = instant(local, zone)
        if at >= until or count >= MAX_COUNTED:
            return count
        if at > previous:
            count, previous = count + 1, at
    return count  # pragma: no cover
