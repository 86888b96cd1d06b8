"""How late checks start against their schedule, kept for /metrics.

The scheduler records each run's start lag (when it started, by the injected clock, minus
when it was due); a scrape reads a copy. Kept as fixed buckets rather than samples, since
serve runs for months and at 1,000 checks/s a list would grow by 86 million a day.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

# Seconds: a healthy loop starts within a tick (0.1 s); past an interval it skips runs.
BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


@dataclass(frozen=True)
class LagFigures:
    """A consistent copy: cumulative counts per upper bound (the last is +Inf)."""

    buckets: tuple[tuple[float, int], ...]
    count: int
    total: float
    last_round: float | None  # the largest lag among the checks of the latest round


class LagMeter:
    """Written from the scheduler's event loop, read from a scrape's thread."""

    def __init__(self) -> None:
        self._counts = [0] * (len(BUCKETS) + 1)
        self._total = 0.0
        self._round = -1
        self._last_round: float | None = None
        self._lock = threading.Lock()

    def observe(self, lag: float, *, round_number: int) -> None:
        """One check of launch round `round_number` started `lag` seconds after it was due
        (negative when early: jitter and clocks; counted as on time)."""
        lag = max(lag, 0.0)
        slot = next((i for i, bound in enumerate(BUCKETS) if lag <= bound), len(BUCKETS))
        with self._lock:
            self._counts[slot] += 1
            self._total += lag
            if round_number > self._round:
                self._round, self._last_round = round_number, lag
            elif round_number == self._round:
                self._last_round = max(self._last_round or 0.0, lag)

    def figures(self) -> LagFigures:
        with self._lock:
            counts, total, last = list(self._counts), self._total, self._last_round
        cumulative, running = [], 0
        for bound, count in zip((*BUCKETS, float("inf")), counts, strict=True):
            running += count
            cumulative.append((bound, running))
        return LagFigures(tuple(cumulative), running, total, last)
