"""Human durations (`30s`, `10m`, `4h`, `7d`, `1y`, `1h30m`, `500ms`) as timedelta."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer
from pydantic_core import PydanticCustomError

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


def parse_duration(text: str) -> dt.timedelta:
    """Parse `1h30m` style text; raise ValueError with a hint on anything else."""
    compact = text.strip().replace(" ", "")
    if not compact:
        raise ValueError(f"{text!r} is not a duration ({HINT})")
    if compact == "0":
        return dt.timedelta(0)
    total = dt.timedelta(0)
    pos = 0
    for match in _PART.finditer(compact):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(compact) or pos == 0:
        raise ValueError(f"{text!r} is not a duration ({HINT})")
    return total


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
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        # A bare number is ambiguous (seconds? minutes?): refuse rather than guess.
        raise _fail(f"{value} has no unit; write {value}s, {value}m or {value}h")
    if isinstance(value, str):
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise _fail(str(exc)) from None
    raise _fail(f"{value!r} is not a duration ({HINT})")


Duration = Annotated[
    dt.timedelta,
    BeforeValidator(_coerce),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
]
