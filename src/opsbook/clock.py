"""Injected time, so that every deadline and SLA clock can be tested without sleeping."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import Awaitable, Callable
from typing import Protocol


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current time, timezone-aware (UTC)."""
        ...


class SystemClock:
    """The wall clock; the only place opsbook reads real time."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)


class FrozenClock:
    """A clock that moves only when told to: tests drive time with `advance`."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        self._now = start or dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        if self._now.tzinfo is None:
            raise ValueError("FrozenClock needs a timezone-aware start time")
        self._lock = threading.Lock()

    def now(self) -> dt.datetime:
        with self._lock:
            return self._now

    def advance(self, delta: dt.timedelta) -> dt.datetime:
        with self._lock:
            self._now += delta
            return self._now

    def set(self, when: dt.datetime) -> None:
        with self._lock:
            self._now = when


SYSTEM_CLOCK: Clock = SystemClock()

# Waiting between polls, in seconds: what a loop that polls on a clock is handed.
Sleep = Callable[[float], Awaitable[None]]


def sleeper(clock: Clock) -> Sleep:
    """How to wait on `clock`: a FrozenClock moves on by the time asked at once, so a
    five-minute poll runs in a test without sleeping; any other clock really waits."""
    if not isinstance(clock, FrozenClock):
        return asyncio.sleep
    frozen = clock

    async def advance(seconds: float) -> None:
        frozen.advance(dt.timedelta(seconds=seconds))
        await asyncio.sleep(0)

    return advance
