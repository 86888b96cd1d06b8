"""The daylight-saving rules, on both changes of 2026 in three zones (one of them a
half-hour zone in the southern hemisphere), and in zones that never change:

- a hand-off at a wall-clock time that does not exist happens at the first instant after
  the gap; one at a time that exists twice happens at the first occurrence;
- calendar rotations keep their wall-clock ends (a week is 167 or 169 hours long then);
- elapsed-time rotations (`every 12h`) stay exactly 12 hours long, so their hand-off
  moves on the wall clock.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from opsbook.oncall.wallclock import instant, parse_moment
from tests.oncall.factories import hours, local, oncall, rows, shifts_of

# zone, spring-forward day, fall-back day, a time that is skipped on the first and where
# the wall clock lands instead, a time that happens twice on the second and its offset
# the first time.
CHANGES = [
    ("America/New_York", "2026-03-08", "2026-11-01", "03:00-0400", "01:30", "-0400"),
    ("Europe/Berlin", "2026-03-29", "2026-10-25", "03:00+0200", "02:30", "+0200"),
    ("Australia/Adelaide", "2026-10-04", "2026-04-05", "03:00+1030", "02:30", "+1030"),
]


def _day(text: str, zone: str) -> tuple[dt.datetime, dt.datetime]:
    """The wall-clock day `text` in `zone`, with a day either side."""
    start = local(f"{text} 00:00", zone) - dt.timedelta(days=1)
    return start, start + dt.timedelta(days=3)


@pytest.mark.parametrize(("zone", "spring", "_fall", "lands", "_twice", "_offset"), CHANGES)
def test_a_hand_off_in_the_spring_gap_happens_when_the_gap_ends(
    zone: str, spring: str, _fall: str, lands: str, _twice: str, _offset: str
) -> None:
    config = oncall(
        {"users": ["alice", "bob"], "rotation": "daily", "handoff": "02:30"}, timezone=zone
    )
    found = shifts_of(config, *_day(spring, zone))
    handoffs = [start for _, start, _ in rows(found, zone)[1:]]
    assert f"{spring} {lands}" in handoffs
    # The shifts either side of that hand-off lose the skipped hour between them.
    moved = next(
        s
        for s in found
        if s.start == instant(dt.datetime.fromisoformat(f"{spring} 03:00"), ZoneInfo(zone))
    )
    before = found[found.index(moved) - 1]
    assert hours(before) + hours(moved) == 47


@pytest.mark.parametrize(("zone", "_spring", "fall", "_lands", "twice", "offset"), CHANGES)
def test_a_hand_off_at_a_time_that_happens_twice_takes_the_first(
    zone: str, _spring: str, fall: str, _lands: str, twice: str, offset: str
) -> None:
    config = oncall(
        {"users": ["alice", "bob"], "rotation": "daily", "handoff": twice}, timezone=zone
    )
    found = shifts_of(config, *_day(fall, zone))
    assert f"{fall} {twice}{offset}" in [start for _, start, _ in rows(found, zone)]
    # ...so the shift that starts there holds the repeated hour: 25 hours to the next.
    first = next(s for s in found if rows([s], zone)[0][1] == f"{fall} {twice}{offset}")
    assert hours(first) == 25


@pytest.mark.parametrize(("zone", "spring", "fall", "_lands", "_twice", "_offset"), CHANGES)
def test_a_weekly_shift_across_a_change_keeps_its_wall_clock_ends(
    zone: str, spring: str, fall: str, _lands: str, _twice: str, _offset: str
) -> None:
    config = oncall(
        {"users": ["alice", "bob"], "rotation": "weekly", "handoff": "Sunday 09:00"}, timezone=zone
    )
    for day, length in ((spring, 167), (fall, 169)):
        ends = local(f"{day} 09:00", zone)
        week = ends - dt.timedelta(days=7)
        [shift] = shifts_of(config, week.astimezone(dt.UTC), ends.astimezone(dt.UTC))
        assert hours(shift) == length
        assert rows([shift], zone)[0][1][11:16] == rows([shift], zone)[0][2][11:16] == "09:00"


@pytest.mark.parametrize(("zone", "spring", "fall", "_lands", "_twice", "_offset"), CHANGES)
def test_an_elapsed_rotation_stays_twelve_hours_and_moves_on_the_wall(
    zone: str, spring: str, fall: str, _lands: str, _twice: str, _offset: str
) -> None:
    config = oncall(
        {
            "users": ["alice", "bob"],
            "rotation": "every 12h",
            "handoff": "07:00",
            "start": "2026-01-01",
        },
        timezone=zone,
    )
    for day in (spring, fall):
        start, end = _day(day, zone)
        found = shifts_of(config, start, end)
        assert {hours(s) for s in found[1:-1]} == {12}
        walls = {s.start.astimezone(ZoneInfo(zone)).strftime("%H:%M") for s in found[1:]}
        assert len(walls) == 4  # 07:00/19:00 before the change, 06:00/18:00 or 08:00/20:00 after


@pytest.mark.parametrize("zone", ["UTC", "Asia/Tokyo", "Asia/Kolkata"])
def test_without_daylight_saving_every_week_is_168_hours(zone: str) -> None:
    config = oncall(
        {"users": ["alice", "bob"], "rotation": "weekly", "handoff": "Monday 09:00"}, timezone=zone
    )
    start = local("2026-01-05 09:00", zone)
    found = shifts_of(config, start, start + dt.timedelta(weeks=52))
    assert {hours(s) for s in found} == {168} and len(found) == 52


def test_a_restriction_window_across_the_change_keeps_its_wall_clock_ends() -> None:
    zone = "America/New_York"
    config = oncall(
        {"users": ["alice"], "rotation": "weekly", "restrict": ["Sun 00:00-06:00"]}, timezone=zone
    )
    spring = [s for s in shifts_of(config, *_day("2026-03-08", zone)) if s.person]
    fall = [s for s in shifts_of(config, *_day("2026-11-01", zone)) if s.person]
    assert [hours(s) for s in spring + fall] == [5, 7]
    assert rows(spring, zone) == [("alice", "2026-03-08 00:00-0500", "2026-03-08 06:00-0400")]


@pytest.mark.parametrize(
    ("typed", "zone", "expected"),
    [
        ("2026-03-08 02:30", "America/New_York", "2026-03-08T07:00:00+00:00"),  # skipped
        ("2026-11-01 01:30", "America/New_York", "2026-11-01T05:30:00+00:00"),  # twice: first
        ("2026-10-25 02:30", "Europe/Berlin", "2026-10-25T00:30:00+00:00"),
        ("2026-03-08 09:00 Europe/Berlin", "America/New_York", "2026-03-08T08:00:00+00:00"),
        ("2026-03-08T09:00Z", "America/New_York", "2026-03-08T09:00:00+00:00"),
        ("2026-03-08T09:00:00+05:30", "Europe/Berlin", "2026-03-08T03:30:00+00:00"),
        ("now", "Europe/Berlin", "2026-01-01T00:00:00+00:00"),
    ],
)
def test_a_typed_time_is_read_by_the_same_rules(typed: str, zone: str, expected: str) -> None:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert parse_moment(typed, zone=ZoneInfo(zone), now=now).isoformat() == expected


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        ("tomorrow", "is not a time"),
        ("2026-13-01 09:00", "is not a time"),
        ("9999-12-31T23:59+00:00", "more than 100 years from now"),
        ("0001-01-01T00:00+14:00", "more than 100 years from now"),
        ("2026-03-08 09:00 Mars/Olympus", "is not a time"),
        ("$(rm -rf /); 2026", "is not a time"),
        ("9" * 5000, "is not a time"),
    ],
)
def test_a_typed_time_that_is_not_one_is_refused(typed: str, said: str) -> None:
    with pytest.raises(ValueError, match=said):
        parse_moment(typed, zone=ZoneInfo("UTC"), now=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
