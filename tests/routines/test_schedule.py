"""Slots on the wall clock of a named zone, across both daylight-saving changes of 2026
(Europe/Berlin: 29 March and 25 October; America/New_York: 8 March and 1 November)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from opsbook.config.routines import words_to_cron
from opsbook.routines.schedule import due, latest_slot, next_slot

BERLIN, NEW_YORK = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC)


def slots(words: str, zone: ZoneInfo, after: dt.datetime, count: int) -> list[dt.datetime]:
    found, cron = [], words_to_cron(words)
    for _ in range(count):
        after = next_slot(cron, zone, after).at
        found.append(after)
    return found


def test_weekly_monday_0900_in_berlin_keeps_the_local_time_across_both_changes() -> None:
    spring = slots("weekly monday 09:00", BERLIN, utc(2026, 3, 20), 2)
    assert spring == [utc(2026, 3, 23, 8), utc(2026, 3, 30, 7)]  # CET, then CEST
    autumn = slots("weekly monday 09:00", BERLIN, utc(2026, 10, 16), 2)
    assert autumn == [utc(2026, 10, 19, 7), utc(2026, 10, 26, 8)]  # CEST, then CET


def test_monthly_first_friday_0900_in_new_york() -> None:
    spring = slots("monthly first friday 09:00", NEW_YORK, utc(2026, 3, 1), 2)
    assert spring == [utc(2026, 3, 6, 14), utc(2026, 4, 3, 13)]  # EST, then EDT
    autumn = slots("monthly first friday 09:00", NEW_YORK, utc(2026, 9, 30), 2)
    assert autumn == [utc(2026, 10, 2, 13), utc(2026, 11, 6, 14)]  # EDT, then EST


def test_quarterly_first_monday_1000_in_berlin() -> None:
    year = slots("quarterly first monday 10:00", BERLIN, utc(2026, 1, 1), 5)
    assert year == [
        utc(2026, 1, 5, 9),
        utc(2026, 4, 6, 8),
        utc(2026, 7, 6, 8),
        utc(2026, 10, 5, 8),
        utc(2027, 1, 4, 9),
    ]


@pytest.mark.parametrize(
    ("zone", "day", "gap_end"),
    [
        (NEW_YORK, dt.date(2026, 3, 8), utc(2026, 3, 8, 7)),
        (BERLIN, dt.date(2026, 3, 29), utc(2026, 3, 29, 1)),
    ],
)
def test_a_0230_slot_on_a_spring_forward_day_runs_once_when_the_gap_ends(
    zone: ZoneInfo, day: dt.date, gap_end: dt.datetime
) -> None:
    before = dt.datetime.combine(day, dt.time(0), tzinfo=zone).astimezone(dt.UTC)
    first, second = slots("daily 02:30", zone, before, 2)
    assert first == gap_end  # 03:00 local, the first instant after the gap
    assert second.astimezone(zone).replace(tzinfo=None) == dt.datetime.combine(
        day + dt.timedelta(days=1), dt.time(2, 30)
    )


def test_a_0130_slot_on_a_fall_back_day_runs_once_at_its_first_occurrence() -> None:
    first, second = slots("daily 01:30", NEW_YORK, utc(2026, 11, 1, 4), 2)
    assert first == utc(2026, 11, 1, 5, 30)  # 01:30 EDT
    assert second == utc(2026, 11, 2, 6, 30)  # not 01:30 EST on 1 November (06:30Z)
    # Looking from inside the repeated hour, the slot has already been: it is the latest.
    assert latest_slot("30 1 * * *", NEW_YORK, utc(2026, 11, 1, 6, 40)).at == first
    assert due("30 1 * * *", NEW_YORK, after=first, now=utc(2026, 11, 1, 6, 40)) is None


def test_berlin_0230_on_the_fall_back_day_is_the_summer_one() -> None:
    first, second = slots("daily 02:30", BERLIN, utc(2026, 10, 24, 23), 2)
    assert (first, second) == (utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30))


def test_three_weeks_missed_is_one_run_for_the_latest_slot() -> None:
    cron = words_to_cron("weekly monday 09:00")
    found = due(cron, BERLIN, after=utc(2026, 3, 1), now=utc(2026, 3, 19, 12))
    assert found is not None
    assert (found.slot.at, found.missed) == (utc(2026, 3, 16, 8), 2)
