"""Wall-clock times in a named zone, turned into instants by one set of daylight-saving
rules (GoAlert's, written down in the README):

- A wall-clock time that does not exist (spring forward: 02:30 in America/New_York on
  2026-03-08) stands for the first instant after the gap (03:00 local).
- A wall-clock time that exists twice (fall back: 01:30 on 2026-11-01) stands for its
  FIRST occurrence (01:30 EDT, not 01:30 EST).

Hand-offs, restriction windows and times typed without an offset all go through
`instant`, so one rule holds for all of them.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from opsbook.config.durations import MAX_DURATION
from opsbook.config.errors import shown
from opsbook.config.oncall import known_zones

_SECOND = dt.timedelta(seconds=1)


def instant(local: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """The UTC instant the naive wall-clock time `local` in `zone` stands for."""
    first = local.replace(tzinfo=zone, fold=0).astimezone(dt.UTC)
    if wall(first, zone) == local:
        return first  # it exists; fold=0 is the first of two when it exists twice
    return _end_of_gap(local, zone)


def wall(moment: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """The naive wall-clock time in `zone` at the aware `moment`."""
    return moment.astimezone(zone).replace(tzinfo=None)


def _end_of_gap(local: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """The instant the clocks jumped over `local`. Read with the offset after the change
    (fold=1) `local` falls before it, with the offset before (fold=0) after it (PEP 495);
    the change itself is found by halving that span to the second (tz data changes
    offsets on whole seconds)."""
    low = local.replace(tzinfo=zone, fold=1).astimezone(dt.UTC)
    high = local.replace(tzinfo=zone, fold=0).astimezone(dt.UTC)
    low, high = min(low, high), max(low, high)
    after = high.astimezone(zone).utcoffset()
    while high - low > _SECOND:
        middle = low + (high - low) // 2
        if middle.astimezone(zone).utcoffset() == after:
            high = middle
        else:
            low = middle
    return high


def parse_moment(text: str, *, zone: ZoneInfo, now: dt.datetime) -> dt.datetime:
    """A time a person typed: `now`, ISO 8601 with an offset (`2026-03-08T09:00Z`,
    `...+01:00`), or a wall-clock time in `zone` or in a zone named after it
    (`2026-03-08 09:00 Europe/Berlin`). Within 100 years of now, like every duration.
    ValueError naming the text for anything else."""
    words = text.strip().rsplit(" ", 1)
    if len(words) == 2 and words[1] in known_zones():
        text, zone = words[0], ZoneInfo(words[1])
    if text.strip().lower() == "now":
        return now
    try:
        parsed = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{shown(text)} is not a time (use now, 2026-03-08 09:00, 2026-03-08T14:00Z,"
            " or 2026-03-08 09:00 Europe/Berlin)"
        ) from None
    try:
        moment = instant(parsed, zone) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)
    except OverflowError:  # year 1 or 9999 moved by an offset leaves the calendar
        moment = dt.datetime.max.replace(tzinfo=dt.UTC)
    if abs(moment - now) > MAX_DURATION:
        raise ValueError(f"{shown(text)} is more than 100 years from now")
    return moment
