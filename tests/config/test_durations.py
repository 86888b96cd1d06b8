import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opsbook.config.durations import (
    MAX_DURATION,
    DurationOutOfRange,
    format_duration,
    parse_duration,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", dt.timedelta(seconds=30)),
        ("10m", dt.timedelta(minutes=10)),
        ("4h", dt.timedelta(hours=4)),
        ("7d", dt.timedelta(days=7)),
        ("1y", dt.timedelta(days=365)),
        ("2w", dt.timedelta(weeks=2)),
        ("1h30m", dt.timedelta(minutes=90)),
        ("500ms", dt.timedelta(milliseconds=500)),
        ("1.5h", dt.timedelta(minutes=90)),
        ("0", dt.timedelta(0)),
    ],
)
def test_parses_the_units_the_runbook_uses(text: str, expected: dt.timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["fast", "", "10", "5 minutes", "m5", "1h30", "-5s", "1x"])
def test_refuses_anything_else_with_a_hint(text: str) -> None:
    with pytest.raises(ValueError, match=r"is not a duration \(use 30s, 5m, 1h\)"):
        parse_duration(text)


@given(st.integers(min_value=0, max_value=10**10))
def test_format_then_parse_round_trips(millis: int) -> None:
    value = dt.timedelta(milliseconds=millis)
    assert parse_duration(format_duration(value)) == value


def test_formats_compactly() -> None:
    assert format_duration(dt.timedelta(seconds=90)) == "1m30s"
    assert format_duration(dt.timedelta(0)) == "0s"
    assert format_duration(dt.timedelta(hours=24)) == "1d"


@pytest.mark.parametrize(
    "text",
    ["99999999999y", "99999y", "2000000y", "100y1ms", "1y" * 101, "9" * 500 + "y", "5000000w"],
)
def test_refuses_more_than_100_years_naming_the_value(text: str) -> None:
    with pytest.raises(DurationOutOfRange, match=r"is longer than 100y, the longest opsbook takes"):
        parse_duration(text)


def test_100_years_is_the_longest_and_fits_the_calendar_from_now() -> None:
    assert parse_duration("100y") == MAX_DURATION
    now = dt.datetime.now(dt.UTC)
    assert (now - MAX_DURATION).year > dt.MINYEAR
    assert (now + MAX_DURATION).year < dt.MAXYEAR


def test_a_long_value_is_cut_short_in_the_message() -> None:
    with pytest.raises(DurationOutOfRange) as caught:
        parse_duration("9" * 500 + "y")
    assert len(str(caught.value)) < 100


def test_a_minimum_refuses_shorter_durations_naming_it() -> None:
    assert parse_duration("1s", minimum=dt.timedelta(seconds=1)) == dt.timedelta(seconds=1)
    for text in ("0s", "0", "999ms"):
        with pytest.raises(DurationOutOfRange, match=r"is too short: it must be at least 1s"):
            parse_duration(text, minimum=dt.timedelta(seconds=1))
