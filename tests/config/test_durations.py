import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opsbook.config.durations import format_duration, parse_duration


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
