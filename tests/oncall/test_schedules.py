"""Rotation arithmetic: weekly, daily and custom lengths, restriction windows, layers,
overrides, and gaps (nobody on call) that are returned, never dropped."""

from __future__ import annotations

import datetime as dt
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opsbook.config.oncall import Person
from opsbook.oncall.schedules import Cover, LayerClock
from tests.oncall.factories import hours, local, oncall, rows, shifts_of

UTC = "UTC"


def test_weekly_rotation_hands_off_on_monday_at_nine_in_turn() -> None:
    config = oncall(
        {
            "users": ["alice", "bob", "carol"],
            "rotation": "weekly",
            "handoff": "Monday 09:00",
            "start": "2026-01-05",
        }
    )
    found = shifts_of(config, local("2026-01-05 09:00", UTC), local("2026-01-26 09:00", UTC))
    assert rows(found, UTC) == [
        ("alice", "2026-01-05 09:00+0000", "2026-01-12 09:00+0000"),
        ("bob", "2026-01-12 09:00+0000", "2026-01-19 09:00+0000"),
        ("carol", "2026-01-19 09:00+0000", "2026-01-26 09:00+0000"),
    ]
    # The order carries on both ways: the week after carol is alice's again, and so was
    # the week before the start.
    before = shifts_of(config, local("2025-12-30 00:00", UTC), local("2025-12-31 00:00", UTC))
    after = shifts_of(config, local("2026-01-27 00:00", UTC), local("2026-01-28 00:00", UTC))
    assert [s.person.name for s in before + after if s.person] == ["carol", "alice"]


def test_weekly_rotation_without_a_start_hands_off_on_the_weekday_given() -> None:
    config = oncall({"users": ["alice", "bob"], "rotation": "weekly", "handoff": "Wed 18:30"})
    found = shifts_of(config, local("2026-02-01 00:00", UTC), local("2026-02-15 00:00", UTC))
    handoffs = [s.start for s in found[1:]]
    assert [(h.strftime("%A %H:%M")) for h in handoffs] == ["Wednesday 18:30"] * 2
    assert [hours(s) for s in found[1:-1]] == [168]


def test_daily_rotation_and_a_custom_length() -> None:
    daily = oncall(
        {"users": ["alice", "bob"], "rotation": "daily", "handoff": "08:00", "start": "2026-01-01"}
    )
    found = shifts_of(daily, local("2026-01-01 08:00", UTC), local("2026-01-04 08:00", UTC))
    assert [s.person.name for s in found if s.person] == ["alice", "bob", "alice"]
    assert {hours(s) for s in found} == {24}
    three_days = oncall(
        {"users": ["alice", "bob"], "shift_length": "3d", "handoff": "2026-01-01 08:00"}
    )
    found = shifts_of(three_days, local("2026-01-01 08:00", UTC), local("2026-01-10 08:00", UTC))
    assert rows(found, UTC) == [
        ("alice", "2026-01-01 08:00+0000", "2026-01-04 08:00+0000"),
        ("bob", "2026-01-04 08:00+0000", "2026-01-07 08:00+0000"),
        ("alice", "2026-01-07 08:00+0000", "2026-01-10 08:00+0000"),
    ]


def test_every_twelve_hours() -> None:
    config = oncall(
        {
            "users": ["alice", "bob"],
            "rotation": "every 12h",
            "handoff": "07:00",
            "start": "2026-01-01",
        }
    )
    found = shifts_of(config, local("2026-01-01 07:00", UTC), local("2026-01-02 19:00", UTC))
    assert [s.person.name for s in found if s.person] == ["alice", "bob", "alice"]
    assert [s.start.hour for s in found] == [7, 19, 7]


def test_one_person_shifts_merge_into_one() -> None:
    config = oncall({"users": ["alice"], "rotation": "daily"})
    found = shifts_of(config, local("2026-01-01 00:00", UTC), local("2026-01-08 00:00", UTC))
    assert rows(found, UTC) == [("alice", "2026-01-01 00:00+0000", "2026-01-08 00:00+0000")]


def test_a_restricted_layer_leaves_gaps_that_are_returned_as_nobody() -> None:
    config = oncall(
        {"users": ["alice"], "rotation": "weekly", "restrict": ["weekdays 09:00-17:00"]}
    )
    found = shifts_of(config, local("2026-01-09 00:00", UTC), local("2026-01-12 12:00", UTC))
    assert rows(found, UTC) == [
        ("NOBODY", "2026-01-09 00:00+0000", "2026-01-09 09:00+0000"),
        ("alice", "2026-01-09 09:00+0000", "2026-01-09 17:00+0000"),  # a Friday
        ("NOBODY", "2026-01-09 17:00+0000", "2026-01-12 09:00+0000"),
        ("alice", "2026-01-12 09:00+0000", "2026-01-12 12:00+0000"),
    ]
    assert [s.layer for s in found] == [None, "layer 1", None, "layer 1"]


def test_a_window_past_midnight_belongs_to_the_day_it_starts() -> None:
    config = oncall({"users": ["alice"], "rotation": "weekly", "restrict": ["Fri 22:00-06:00"]})
    found = shifts_of(config, local("2026-01-09 00:00", UTC), local("2026-01-11 00:00", UTC))
    assert [r for r in rows(found, UTC) if r[0] == "alice"] == [
        ("alice", "2026-01-09 22:00+0000", "2026-01-10 06:00+0000")
    ]


def test_a_higher_layer_overrides_a_lower_one_only_while_it_has_someone() -> None:
    config = oncall(
        {
            "name": "nights",
            "users": ["alice", "bob"],
            "rotation": "weekly",
            "handoff": "Monday 09:00",
            "start": "2026-01-05",
        },
        {
            "name": "office",
            "users": ["carol"],
            "rotation": "daily",
            "restrict": ["Mon-Fri 09:00-17:00"],
        },
    )
    found = shifts_of(config, local("2026-01-09 08:00", UTC), local("2026-01-12 10:00", UTC))
    assert [(s.person.name if s.person else None, s.layer) for s in found] == [
        ("alice", "nights"),
        ("carol", "office"),
        ("alice", "nights"),
        ("carol", "office"),  # Monday 09:00: the office layer wins over bob's hand-off
    ]
    assert found[2].end == local("2026-01-12 09:00", UTC)


def test_the_newest_override_wins_where_overrides_meet() -> None:
    config = oncall({"users": ["alice"], "rotation": "weekly"})
    start, end = local("2026-01-01 00:00", UTC), local("2026-01-02 00:00", UTC)
    covers = [
        Cover(
            1, Person(name="bob"), local("2026-01-01 06:00", UTC), local("2026-01-01 18:00", UTC)
        ),
        Cover(
            2, Person(name="carol"), local("2026-01-01 12:00", UTC), local("2026-01-01 14:00", UTC)
        ),
    ]
    found = shifts_of(config, start, end, covers)
    assert rows(found, UTC) == [
        ("alice", "2026-01-01 00:00+0000", "2026-01-01 06:00+0000"),
        ("bob", "2026-01-01 06:00+0000", "2026-01-01 12:00+0000"),
        ("carol", "2026-01-01 12:00+0000", "2026-01-01 14:00+0000"),
        ("bob", "2026-01-01 14:00+0000", "2026-01-01 18:00+0000"),
        ("alice", "2026-01-01 18:00+0000", "2026-01-02 00:00+0000"),
    ]
    assert [(s.override, s.override_id) for s in found] == [
        (False, None),
        (True, 1),
        (True, 2),
        (True, 1),
        (False, None),
    ]


def test_an_override_fills_a_gap() -> None:
    config = oncall(
        {"users": ["alice"], "rotation": "weekly", "restrict": ["weekends 00:00-24:00"]}
    )
    start = local("2026-01-05 00:00", UTC)  # a Monday
    cover = Cover(7, Person(name="dave"), start, start + dt.timedelta(hours=8))
    found = shifts_of(config, start, start + dt.timedelta(days=1), [cover])
    assert rows(found, UTC) == [
        ("dave", "2026-01-05 00:00+0000", "2026-01-05 08:00+0000"),
        ("NOBODY", "2026-01-05 08:00+0000", "2026-01-06 00:00+0000"),
    ]


@pytest.mark.parametrize("at", ["2026-01-05 08:59", "2026-01-05 09:00", "2026-01-12 08:59:59"])
def test_index_at_agrees_with_the_hand_offs(at: str) -> None:
    config = oncall({"users": ["alice", "bob"], "rotation": "weekly", "handoff": "Monday 09:00"})
    clock = LayerClock(config.schedules[0].layers[0], config.schedules[0].zone)
    moment = local(at, UTC)
    k = clock.index_at(moment)
    assert clock.handoff(k) <= moment < clock.handoff(k + 1)


def test_a_year_long_shift_far_ahead_stays_in_the_calendar() -> None:
    config = oncall({"users": ["alice", "bob"], "shift_length": "365d"})
    found = shifts_of(config, local("2100-01-01 00:00", UTC), local("2100-01-29 00:00", UTC))
    assert len(found) == 1 and found[0].person is not None


ZONES = ["UTC", "America/New_York", "Europe/Berlin", "Australia/Adelaide", "Asia/Kolkata"]
LENGTHS = ["daily", "weekly", "every 12h", "every 5h", "every 3d", "every 2w"]


@settings(max_examples=60, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    rotation=st.sampled_from(LENGTHS),
    minutes=st.integers(0, 24 * 60 - 1),
    offset=st.integers(0, 3 * 365 * 24 * 60),
    span=st.integers(1, 6 * 7 * 24 * 60),
    restricted=st.booleans(),
)
def test_shifts_tile_the_range_exactly(
    zone: str, rotation: str, minutes: int, offset: int, span: int, restricted: bool
) -> None:
    """Whatever the zone, rotation and range: the shifts (gaps included) follow each other
    without a hole or an overlap from start to end, and no two neighbours are the same."""
    layer = {
        "users": ["alice", "bob", "carol"],
        "rotation": rotation,
        "handoff": f"{minutes // 60:02d}:{minutes % 60:02d}",
        "restrict": ["weekdays 08:00-18:00", "Sun 22:00-02:30"] if restricted else [],
    }
    config = oncall(layer, timezone=zone)
    start = dt.datetime(2025, 1, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=offset)
    end = start + dt.timedelta(minutes=span)
    found = shifts_of(config, start, end)
    assert found[0].start == start and found[-1].end == end
    assert all(a.end == b.start for a, b in pairwise(found))
    assert all(s.start < s.end for s in found)
    assert restricted or all(s.person is not None for s in found)
    assert all((a.person, a.layer) != (b.person, b.layer) for a, b in pairwise(found))
