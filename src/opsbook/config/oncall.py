"""The `oncall:` section of opsbook.yaml: people and their contacts, schedules in a named
time zone, and each schedule's layers of rotations.

Times of day, weekdays and rotations are parsed here, once, into small typed values, so
the rotation arithmetic (`oncall/schedules.py`) never reads text. Whatever names a layer
lists must be people (checked with the whole file in view, `oncall_issues`, so the error
points at the very name).

A YAML note: `handoff: 17:00` unquoted is the number 1020 to YAML 1.1 (base 60); times
of day must be quoted, and the error says so.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import zoneinfo
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from opsbook.config.durations import format_duration, parse_duration
from opsbook.config.errors import ConfigIssue, shown
from opsbook.config.explain import did_you_mean, duplicate_names
from opsbook.config.source import Located

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DAY = dt.timedelta(days=1)
WEEK = dt.timedelta(weeks=1)
# Shorter would page a different person every few minutes; longer than a year is not a
# rotation. Both keep `--weeks` of shifts a list of hundreds, not millions.
SHORTEST_SHIFT = dt.timedelta(hours=1)
LONGEST_SHIFT = dt.timedelta(days=365)
_TIME = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _fail(message: str) -> PydanticCustomError:
    # The message is final text: braces a user wrote stay as written.
    return PydanticCustomError("oncall", message)


def _not_text(value: Any, example: str) -> PydanticCustomError:
    if isinstance(value, int) and not isinstance(value, bool):
        if 0 <= value < 24 * 60:  # YAML 1.1 reads 17:00 unquoted as 17*60+0
            hours, minutes = divmod(value, 60)
            return _fail(
                f"{hours}:{minutes:02d} unquoted is the number {value} to YAML:"
                f" write it in quotes, '{hours:02d}:{minutes:02d}'"
            )
        return _fail(f"{shown(value)} is a number, not text like {example!r}")
    return _fail(f"{shown(value)} is not text (write it like {example!r})")


def weekday_number(word: str) -> int | None:
    """`Monday`, `mon` or `MON` -> 0; None for anything else."""
    folded = word.strip().lower()
    for number, name in enumerate(WEEKDAYS):
        if folded in (name, name[:3]):
            return number
    return None


def time_of_day(text: str, *, allow_24: bool = False) -> dt.time | None:
    """`09:00` -> 09:00; `24:00` (the end of a day) as 00:00 when allowed; else None."""
    if allow_24 and text.strip() == "24:00":
        return dt.time(0)
    match = _TIME.fullmatch(text.strip())
    return dt.time(int(match.group(1)), int(match.group(2))) if match else None


# --- names and contacts -------------------------------------------------------------------


def _storable(name: str) -> str:
    # PostgreSQL text cannot hold NUL, and an override stores the name it covers with.
    if "\x00" in name:
        raise _fail(f"{shown(name)} holds a NUL character")
    return name


Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_storable),
]


def _pattern(regex: str, what: str, example: str) -> AfterValidator:
    compiled = re.compile(regex)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise _fail(f"{shown(value)} is not {what} (like {example})")
        return value

    return AfterValidator(check)


_EMAIL = r"[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{1,63}"
Email = Annotated[str, _pattern(_EMAIL, "an email address", "alice@example.com")]
Phone = Annotated[str, _pattern(r"\+?[0-9][0-9 ().-]{2,30}", "a phone number", "+1 555 0100")]
SlackUserId = Annotated[str, _pattern(r"[UW][A-Z0-9]{2,20}", "a Slack user id", "U024BE7LH")]
PagerDutyUserId = Annotated[str, _pattern(r"P[A-Z0-9]{2,20}", "a PagerDuty user id", "PXPGF42")]


class Contacts(_Model):
    """Where a person is reached; each channel reads the one it speaks."""

    email: Email | None = None
    phone: Phone | None = None
    slack_user_id: SlackUserId | None = None
    pagerduty_user_id: PagerDutyUserId | None = None


class Person(_Model):
    name: Name
    contacts: Contacts = Contacts()


# --- rotations, hand-offs, restrictions ---------------------------------------------------


@dataclass(frozen=True)
class Rotation:
    """How long a shift is. `days` set: a calendar rotation, its hand-offs at the same
    wall-clock time every `days` days. `days` None: an elapsed-time rotation (`every
    12h`), its hand-offs exactly `length` apart whatever the clocks on the wall do."""

    length: dt.timedelta
    days: int | None

    def __str__(self) -> str:
        if self.days == 1:
            return "daily"
        if self.days == 7:
            return "weekly"
        return f"every {format_duration(self.length)}"


def parse_rotation(value: Any) -> Rotation:
    if isinstance(value, Rotation):
        return value
    if not isinstance(value, str):
        raise _not_text(value, "weekly")
    word = value.strip().lower()
    if word in ("daily", "weekly"):
        return Rotation(DAY if word == "daily" else WEEK, 1 if word == "daily" else 7)
    if not word.startswith("every "):
        raise _fail(f"{shown(value)} is not a rotation (use daily, weekly, or every 12h / 2w)")
    return shift_length(word.removeprefix("every "))


def shift_length(value: Any) -> Rotation:
    if isinstance(value, Rotation):
        return value
    if not isinstance(value, str):
        raise _not_text(value, "12h")
    try:
        length = parse_duration(value, minimum=SHORTEST_SHIFT)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    if length > LONGEST_SHIFT:
        raise _fail(f"{shown(value)} is longer than a year, the longest shift opsbook takes")
    whole_days = length % DAY == dt.timedelta(0)
    return Rotation(length, length // DAY if whole_days else None)


RotationField = Annotated[
    Rotation, BeforeValidator(parse_rotation), PlainSerializer(str, when_used="json")
]
ShiftLengthField = Annotated[
    Rotation, BeforeValidator(shift_length), PlainSerializer(str, when_used="json")
]


@dataclass(frozen=True)
class Handoff:
    """When shifts change hands: a time of day, on a weekday for a rotation counted in
    weeks, or a first hand-off `at` a date and time (naive: the schedule's wall clock)."""

    time: dt.time
    weekday: int | None = None
    at: dt.datetime | None = None

    def __str__(self) -> str:
        if self.at is not None:
            return self.at.isoformat(" ", "minutes")
        clock = self.time.strftime("%H:%M")
        return f"{WEEKDAYS[self.weekday].title()} {clock}" if self.weekday is not None else clock


_HANDOFF_HINT = "use 'Monday 09:00', '09:00' or '2026-01-05 09:00'"


def parse_handoff(value: Any) -> Handoff:
    if isinstance(value, Handoff):
        return value
    if isinstance(value, dt.datetime):  # YAML read `2026-01-05 09:00:00` itself
        return Handoff(value.timetz().replace(tzinfo=None), at=value)
    if not isinstance(value, str):
        raise _not_text(value, "Monday 09:00")
    words = value.split()
    if len(words) == 2 and (day := weekday_number(words[0])) is not None:
        clock = time_of_day(words[1])
        if clock is None:
            raise _fail(f"{shown(words[1])} is not a time of day (00:00 to 23:59)")
        return Handoff(clock, weekday=day)
    if len(words) == 1 and (clock := time_of_day(words[0])) is not None:
        return Handoff(clock)
    try:
        at = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise _fail(f"{shown(value)} is not a hand-off ({_HANDOFF_HINT})") from None
    return Handoff(at.time(), at=at)


HandoffField = Annotated[
    Handoff, BeforeValidator(parse_handoff), PlainSerializer(str, when_used="json")
]

_DAY_SETS = {
    "daily": frozenset(range(7)),
    "everyday": frozenset(range(7)),
    "weekdays": frozenset(range(5)),
    "weekends": frozenset({5, 6}),
}


@dataclass(frozen=True)
class Window:
    """A weekly window a layer is in force in: on `days` (0 Monday), from `start` to `end`
    on the schedule's wall clock; an `end` at or before `start` is on the next day."""

    days: frozenset[int]
    start: dt.time
    end: dt.time
    text: str

    def __str__(self) -> str:
        return self.text


def _days(text: str) -> frozenset[int]:
    folded = text.lower().replace(" ", "")
    if folded in _DAY_SETS:
        return _DAY_SETS[folded]
    days: set[int] = set()
    for part in folded.split(","):
        first, _, last = part.partition("-")
        a, b = weekday_number(first), weekday_number(last) if last else weekday_number(first)
        if a is None or b is None:
            raise _fail(f"{shown(text)} names no days (use weekdays, weekends, daily, Mon-Fri)")
        days.update((a + i) % 7 for i in range((b - a) % 7 + 1))
    return frozenset(days)


def parse_window(value: Any) -> Window:
    if isinstance(value, Window):
        return value
    if not isinstance(value, str):
        raise _not_text(value, "weekdays 09:00-17:00")
    days, _, hours = value.strip().rpartition(" ")
    start_text, _, end_text = hours.partition("-")
    start, end = time_of_day(start_text), time_of_day(end_text, allow_24=True)
    if not days or start is None or end is None:
        raise _fail(f"{shown(value)} is not a window (use 'weekdays 09:00-17:00')")
    if start == end and end_text.strip() != "24:00":
        raise _fail(f"{shown(value)} starts and ends at once (use 00:00-24:00 for whole days)")
    return Window(_days(days), start, end, " ".join(value.split()))


WindowField = Annotated[Window, BeforeValidator(parse_window), PlainSerializer(str)]


class Layer(_Model):
    """One rotation. Layers listed later override earlier ones while they have someone
    on call (within `restrict`, when given)."""

    name: Name | None = None
    users: list[Name] = Field(min_length=1, max_length=500)
    rotation: RotationField | None = None
    shift_length: ShiftLengthField | None = None
    handoff: HandoffField = Handoff(dt.time(9))
    start: dt.date | None = None
    restrict: list[WindowField] = Field(default=[], max_length=100)

    @model_validator(mode="after")
    def _one_length(self) -> Layer:
        if self.rotation is not None and self.shift_length is not None:
            raise ValueError("rotation and shift_length both say how long a shift is: keep one")
        if self.rotation is None and self.shift_length is None:
            raise ValueError("missing rotation (daily, weekly, every 12h) or shift_length")
        if self.handoff.at is not None and self.start is not None:
            raise ValueError("handoff gives a date and so does start: keep one")
        weeks = self.length.days is not None and self.length.days % 7 == 0
        if self.handoff.weekday is not None and not weeks:
            raise ValueError(
                f"handoff {self.handoff} names a weekday, but {self.length} shifts are not"
                " whole weeks (write the time alone, like '09:00')"
            )
        return self

    @property
    def length(self) -> Rotation:
        length = self.rotation or self.shift_length
        assert length is not None  # _one_length
        return length


@functools.cache
def known_zones() -> frozenset[str]:
    """The IANA names this machine's tz database has (read once: a directory walk)."""
    return frozenset(zoneinfo.available_timezones() | {"UTC"})


class Schedule(_Model):
    name: Name
    timezone: str
    layers: list[Layer] = Field(min_length=1, max_length=50)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        if name not in known_zones():
            hint = did_you_mean(name, sorted(known_zones()))
            raise _fail(f"{shown(name)} is not an IANA time zone{hint or ' (like Europe/Berlin)'}")
        return name

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.timezone)

    def layer_name(self, index: int) -> str:
        return self.layers[index].name or f"layer {index + 1}"


class OncallConfig(_Model):
    people: list[Person] = Field(default=[], max_length=10_000)
    schedules: list[Schedule] = Field(default=[], max_length=1000)

    def person(self, name: str) -> Person | None:
        return next((p for p in self.people if p.name == name), None)

    def schedule(self, name: str) -> Schedule | None:
        return next((s for s in self.schedules if s.name == name), None)


def oncall_issues(doc: Located, oncall: OncallConfig) -> list[ConfigIssue]:
    """What spans the section: names given twice, and layers listing someone who is not
    among `people` (the issue points at the name in the list)."""
    issues = duplicate_names(doc, ("oncall", "people"), [p.name for p in oncall.people])
    issues += duplicate_names(doc, ("oncall", "schedules"), [s.name for s in oncall.schedules])
    people = [p.name for p in oncall.people]
    for s, schedule in enumerate(oncall.schedules):
        layers = ("oncall", "schedules", s, "layers")
        issues += duplicate_names(
            doc, layers, [schedule.layer_name(i) for i in range(len(schedule.layers))]
        )
        for i, layer in enumerate(schedule.layers):
            for u, user in enumerate(layer.users):
                if user not in people:
                    hint = did_you_mean(user, people)
                    issues.append(
                        doc.issue((*layers, i, "users", u), f"no person named {shown(user)}{hint}")
                    )
    return issues


__all__ = [
    "Handoff",
    "Layer",
    "OncallConfig",
    "Person",
    "Rotation",
    "Schedule",
    "Window",
]
