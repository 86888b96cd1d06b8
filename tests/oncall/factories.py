"""Small builders for on-call tests: a schedule from a few keyword arguments, and the
shifts of a range read back as (who, local start, local end) rows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from opsbook.config.oncall import OncallConfig, Schedule
from opsbook.oncall.schedules import Cover, Shift, resolve

PEOPLE = ("alice", "bob", "carol", "dave")


def oncall(*layers: dict[str, Any], timezone: str = "UTC", name: str = "primary") -> OncallConfig:
    return OncallConfig.model_validate(
        {
            "people": [{"name": person} for person in PEOPLE],
            "schedules": [{"name": name, "timezone": timezone, "layers": list(layers)}],
        }
    )


def local(text: str, timezone: str) -> dt.datetime:
    """`2026-03-08 09:00` on the wall in `timezone`, as an aware time (fold 0)."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(timezone))


def shifts_of(
    config: OncallConfig,
    start: dt.datetime,
    end: dt.datetime,
    covers: Sequence[Cover] = (),
) -> list[Shift]:
    schedule: Schedule = config.schedules[0]
    return resolve(schedule, {p.name: p for p in config.people}, covers, start, end)


def rows(shifts: Sequence[Shift], timezone: str) -> list[tuple[str, str, str]]:
    """(who, start, end) with times on the schedule's wall clock, offset included."""
    zone = ZoneInfo(timezone)

    def show(moment: dt.datetime) -> str:
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M%z")

    return [(s.person.name if s.person else "NOBODY", show(s.start), show(s.end)) for s in shifts]


def hours(shift: Shift) -> float:
    return (shift.end - shift.start) / dt.timedelta(hours=1)
