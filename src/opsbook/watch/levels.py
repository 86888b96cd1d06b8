"""Windows and thresholds as pure arithmetic: one number for a window of samples, and the
level it reaches. Apart from rules.py (which stores samples and raises alerts) so that a
domain judging numbers of its own (deploy verify's watch stage) needs nothing of alerts.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import Literal, Protocol

Level = Literal["warn", "crit"]


def aggregate(kind: str, values: Sequence[tuple[dt.datetime, float]]) -> float | None:
    """One number for a window of (time, value) samples in time order; None when empty
    (and for a rate over a single instant)."""
    if not values:
        return None
    numbers = [v for _, v in values]
    if kind == "avg":
        return sum(numbers) / len(numbers)
    if kind == "max":
        return max(numbers)
    if kind == "min":
        return min(numbers)
    if kind == "last":
        return numbers[-1]
    if kind == "p95":
        ordered = sorted(numbers)
        return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]
    if kind == "rate":
        (t0, v0), (t1, v1) = values[0], values[-1]
        seconds = (t1 - t0).total_seconds()
        return (v1 - v0) / seconds if seconds > 0 else None
    raise ValueError(f"unknown aggregation {kind!r}")


class Thresholds(Protocol):
    """What `level_of` reads: an alert rule's thresholds, or a check's."""

    @property
    def warn(self) -> float | None: ...
    @property
    def crit(self) -> float | None: ...
    @property
    def direction(self) -> Literal["above", "below"]: ...


def level_of(rule: Thresholds, value: float | None) -> Level | None:
    """crit past the crit threshold, else warn past the warn one (in the rule's direction)."""
    if value is None:
        return None

    def beyond(limit: float | None) -> bool:
        if limit is None:
            return False
        return value > limit if rule.direction == "above" else value < limit

    if beyond(rule.crit):
        return "crit"
    if beyond(rule.warn):
        return "warn"
    return None
