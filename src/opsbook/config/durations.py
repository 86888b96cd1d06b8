"""Human durations (`30s`, `10m`, `4h`, `7d`, `1y`, `1h30m`, `500ms`) as timedelta.

Every duration opsbook takes, from opsbook.yaml, a runbook or a command-line option,
goes through `parse_duration` and `check_range`, so one bound holds everywhere: at most
100 years, which keeps `now + d` and `now - d` inside the calendar, and a per-use
minimum where zero means nothing (an interval, a timeout, a window).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, PlainSerializer
from pydantic_core import PydanticCustomError

from opsbook.config.errors import shown

_UNITS: dict[str, dt.timedelta] = {
    "ms": dt.timedelta(milliseconds=1),
    "s": dt.timedelta(seconds=1),
    "m": dt.timedelta(minutes=1),
    "h": dt.timedelta(hours=1),
    "d": dt.timedelta(days=1),
    "w": dt.timedelta(weeks=1),
    # A year is 365 days: retention and archival ages are counted in days, not calendar years.
    "y": dt.timedelta(days=365),
}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
HINT = "use 30s, 5m, 1h"
ZERO = dt.timedelta(0)
# Longer than any retention or archival age a team needs, and far enough from
# datetime's limits (years 1 and 9999) that adding it to or taking it from now is safe.
MAX_DURATION = 100 * _UNITS["y"]


class DurationOutOfRange(ValueError):
    """A well-formed duration that is too long, or too short for where it is used."""


def _too_long(written: str) -> DurationOutOfRange:
    return DurationOutOfRange(f"{written} is longer than 100y, the longest opsbook takes")


def check_range(
    value: dt.timedelta, *, minimum: dt.timedelta = ZERO, text: str | None = None
) -> dt.timedelta:
    """`value` itself, or DurationOutOfRange naming it (as written, when `text` is given)."""
    written = shown(text if text is not None else format_duration(value))
    if value > MAX_DURATION:
        raise _too_long(written)
    if value < minimum:
        raise DurationOutOfRange(
            f"{written} is too short: it must be at least {format_duration(minimum)}"
        )
    return value


def parse_duration(text: str, *, minimum: dt.timedelta = ZERO) -> dt.timedelta:
    """Parse `1h30m` style text; raise ValueError with a hint on anything else.

    Out of range (see check_range) raises DurationOutOfRange, a ValueError, before any
    timedelta is built: `99999999999y` is refused, not an OverflowError.
    """
    compact = text.strip().replace(" ", "")
    if not compact:
        raise ValueError(f"{shown(text)} is not a duration ({HINT})")
    parts: list[tuple[float, dt.timedelta]] = []
    pos = 0
    for match in _PART.finditer(compact):
        if match.start() != pos:
            break
        parts.append((float(match.group(1)), _UNITS[match.group(2)]))
        pos = match.end()
    if compact != "0" and (pos != len(compact) or pos == 0):
        raise ValueError(f"{shown(text)} is not a duration ({HINT})")
    # As float seconds first: 1e300 years (or inf) is a float, never a timedelta.
    if sum(count * unit.total_seconds() for count, unit in parts) > MAX_DURATION.total_seconds():
        raise _too_long(shown(text))
    total = sum((count * unit for count, unit in parts), ZERO)
    return check_range(total, minimum=minimum, text=text)


def format_duration(value: dt.timedelta) -> str:
    """The shortest exact spelling of a duration, e.g. `90s` -> `1m30s`."""
    ms = round(value.total_seconds() * 1000)
    if ms == 0:
        return "0s"
    sign = "-" if ms < 0 else ""
    ms = abs(ms)
    parts = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        count, ms = divmod(ms, size)
        if count:
            parts.append(f"{count}{unit}")
    if ms:
        parts.append(f"{ms}ms")
    return sign + "".join(parts)


def _fail(message: str) -> PydanticCustomError:
    # Final text with no context: pydantic leaves braces from user input as they are.
    return PydanticCustomError("duration", message)


def _coerce(value: Any) -> dt.timedelta:
    if isinstance(value, dt.timedelta):
        try:
            return check_range(value)
        except DurationOutOfRange as exc:
            raise _fail(str(exc)) from None
    if isinstance(value, int | float) and not isinstance(value, bool):
        # A bare number is ambiguous (seconds? minutes?): refuse rather than guess.
        raise _fail(f"{value} has no unit; write {value}s, {value}m or {value}h")
    if isinstance(value, str):
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise _fail(str(exc)) from None
    raise _fail(f"{value!r} is not a duration ({HINT})")


def at_least(minimum: dt.timedelta) -> AfterValidator:
    """Annotated metadata for a Duration field where anything shorter means nothing."""

    def check(value: dt.timedelta) -> dt.timedelta:
        try:
            return check_range(value, minimum=minimum)
        except DurationOutOfRange as exc:
            raise _fail(str(exc)) from None

    return AfterValidator(check)


Duration = Annotated[
    dt.timedelta,
    BeforeValidator(_coerce),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
]
# How often something happens, or over how long it is measured: zero would mean
# "continuously" (a check run in a tight loop) or "over nothing".
Interval = Annotated[Duration, at_least(dt.timedelta(seconds=1))]
# How long to wait for an answer: zero would fail everything, or mean "no limit" to
# the libraries underneath (aiohttp, PostgreSQL's lock_timeout).
Timeout = Annotated[Duration, at_least(dt.timedelta(milliseconds=1))]
