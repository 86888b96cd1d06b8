"""Who is on call when: rotation arithmetic, restriction windows, layers and overrides.

Nothing here reads the clock or the store; every function takes its instants (aware, UTC)
and returns them, so the daylight-saving rules (wallclock.py) are tested by feeding in
the two changes of the year.

How a schedule answers "who at t":
1. A cover (an override) holding t wins; of several, the newest (highest id).
2. Else the last listed layer that has someone at t: its rotation's person, if t is in
   one of its `restrict` windows (or it has none).
3. Else nobody: a gap, returned as a Shift whose person is None, never left out.

Calendar rotations (daily, weekly, every 3d, every 2w) hand off at the hand-off's wall-
clock time, so a weekly shift spanning a change of the clocks lasts 167 or 169 hours.
Elapsed-time rotations (every 12h, every 36h) hand off exactly that long apart, so their
wall-clock hand-off moves by the change.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import pairwise
from zoneinfo import ZoneInfo

from opsbook.config.oncall import Layer, Person, Schedule, Window
from opsbook.oncall.wallclock import instant, wall

# Where counting starts for a layer with no date of its own: a Monday, so a weekly
# rotation with no weekday hands off on Mondays. `start:` picks who goes first.
EPOCH = dt.date(2024, 1, 1)
_DAY = dt.timedelta(days=1)

Span = tuple[dt.datetime, dt.datetime]


@dataclass(frozen=True)
class Shift:
    """`person` is on call over [start, end), from `layer` or an override. A person of
    None is a gap: nobody is on call, and callers must say so."""

    person: Person | None
    start: dt.datetime
    end: dt.datetime
    layer: str | None
    override: bool = False
    override_id: int | None = None


@dataclass(frozen=True)
class Cover:
    """An override: `person` takes the whole schedule over [start, end)."""

    id: int
    person: Person
    start: dt.datetime
    end: dt.datetime


@dataclass(frozen=True)
class _Piece:
    start: dt.datetime
    end: dt.datetime
    user: str


class LayerClock:
    """One layer's hand-offs in one zone: hand-off k starts the shift of users[k % n]."""

    def __init__(self, layer: Layer, zone: ZoneInfo) -> None:
        self.layer, self.zone = layer, zone
        self.days = layer.length.days
        self.anchor = _anchor(layer, zone)  # naive wall-clock time of hand-off 0
        self.anchor_instant = instant(self.anchor, zone)

    def handoff(self, k: int) -> dt.datetime:
        if self.days is None:
            return self.anchor_instant + k * self.layer.length.length
        return instant(self.anchor + dt.timedelta(days=k * self.days), self.zone)

    def index_at(self, moment: dt.datetime) -> int:
        """The k whose shift holds `moment`."""
        if self.days is None:
            return (moment - self.anchor_instant) // self.layer.length.length
        k = (wall(moment, self.zone) - self.anchor) // dt.timedelta(days=self.days)
        # The wall-clock guess is off by one at most, near a hand-off in a changed hour.
        while self.handoff(k) > moment:
            k -= 1
        while self.handoff(k + 1) <= moment:
            k += 1
        return k

    def shifts(self, start: dt.datetime, end: dt.datetime) -> Iterator[_Piece]:
        """The rotation's shifts over [start, end), cut to it."""
        k = self.index_at(start)
        users = self.layer.users
        while (begins := self.handoff(k)) < end:
            ends = self.handoff(k + 1)
            yield _Piece(max(begins, start), min(ends, end), users[k % len(users)])
            k += 1


def _anchor(layer: Layer, zone: ZoneInfo) -> dt.datetime:
    handoff = layer.handoff
    if handoff.at is not None:
        return wall(handoff.at, zone) if handoff.at.tzinfo else handoff.at
    first = layer.start or EPOCH
    if handoff.weekday is not None:
        first += dt.timedelta(days=(handoff.weekday - first.weekday()) % 7)
    return dt.datetime.combine(first, handoff.time)


def windows(
    restrict: Sequence[Window], zone: ZoneInfo, start: dt.datetime, end: dt.datetime
) -> list[Span]:
    """The restriction windows over [start, end), merged and cut to it. A window's ends
    are wall-clock times, read by the same rules as hand-offs."""
    spans: list[Span] = []
    day = wall(start, zone).date() - _DAY  # yesterday's window may run past midnight
    while day <= wall(end, zone).date():
        for window in restrict:
            if day.weekday() in window.days:
                closes = day + _DAY if window.end <= window.start else day
                spans.append(
                    (
                        instant(dt.datetime.combine(day, window.start), zone),
                        instant(dt.datetime.combine(closes, window.end), zone),
                    )
                )
        day += _DAY
    return _clip(_merge(spans), start, end)


def _merge(spans: list[Span]) -> list[Span]:
    merged: list[Span] = []
    for begins, ends in sorted(spans):
        if merged and begins <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(ends, merged[-1][1]))
        else:
            merged.append((begins, ends))
    return merged


def _clip(spans: list[Span], start: dt.datetime, end: dt.datetime) -> list[Span]:
    return [(max(s, start), min(e, end)) for s, e in spans if e > start and s < end]


def layer_pieces(
    layer: Layer, zone: ZoneInfo, start: dt.datetime, end: dt.datetime
) -> list[_Piece]:
    """Who this layer has on call over [start, end), inside its windows; in order."""
    pieces = list(LayerClock(layer, zone).shifts(start, end))
    if not layer.restrict:
        return pieces
    kept = []
    for span_start, span_end in windows(layer.restrict, zone, start, end):
        for piece in pieces:
            begins, ends = max(piece.start, span_start), min(piece.end, span_end)
            if begins < ends:
                kept.append(_Piece(begins, ends, piece.user))
    return sorted(kept, key=lambda p: p.start)


def resolve(
    schedule: Schedule,
    people: Mapping[str, Person],
    covers: Sequence[Cover],
    start: dt.datetime,
    end: dt.datetime,
) -> list[Shift]:
    """The schedule over [start, end) as consecutive shifts, gaps included (person None)."""
    zone = schedule.zone
    layers = [layer_pieces(layer, zone, start, end) for layer in schedule.layers]
    edges = {start, end}
    for pieces in layers:
        edges.update(edge for piece in pieces for edge in (piece.start, piece.end))
    for cover in covers:
        edges.update(edge for edge in (cover.start, cover.end) if start < edge < end)
    newest_first = sorted(covers, key=lambda c: c.id, reverse=True)
    starts = [[piece.start for piece in pieces] for pieces in layers]
    result: list[Shift] = []
    for begins, ends in pairwise(sorted(edges)):
        shift = _at(begins, ends, schedule, people, newest_first, layers, starts)
        last = result[-1] if result else None
        if last and (last.person, last.layer, last.override_id) == (
            shift.person,
            shift.layer,
            shift.override_id,
        ):
            result[-1] = replace(last, end=ends)
        else:
            result.append(shift)
    return result


def _at(
    begins: dt.datetime,
    ends: dt.datetime,
    schedule: Schedule,
    people: Mapping[str, Person],
    covers: Sequence[Cover],
    layers: Sequence[Sequence[_Piece]],
    starts: Sequence[Sequence[dt.datetime]],
) -> Shift:
    """Who holds [begins, ends), a span no edge cuts: a cover, the top layer, or nobody."""
    for cover in covers:
        if cover.start <= begins < cover.end:
            return Shift(cover.person, begins, ends, None, True, cover.id)
    for index in reversed(range(len(layers))):
        found = bisect.bisect_right(starts[index], begins) - 1
        if found >= 0 and layers[index][found].end > begins:
            user = layers[index][found].user
            person = people.get(user) or Person(name=user)
            return Shift(person, begins, ends, schedule.layer_name(index))
    return Shift(None, begins, ends, None)
