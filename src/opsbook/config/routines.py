"""The `maintenance:` section: routines (a runbook on a schedule), the dependency-audit
commands of the monthly work, and the API keys to rotate.

A schedule is written in words (`weekly monday 09:00`, `monthly first friday 09:00`,
`quarterly first monday 10:00`, `daily 06:30`) or as a five-field cron expression; the
words are turned into cron here, so one evaluator (cronsim) computes every slot. cronsim,
not croniter: it is small, pure Python with no dependencies, ships its type hints
(mypy --strict needs no stubs), validates an expression that can never fire (`0 0 30 2
*`) when it is read, and explains an expression in words for `maintenance routines`.
Which instant a slot stands for on a daylight-saving day is `routines/schedule.py`'s.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated

from cronsim import CronSim, CronSimError
from pydantic import AfterValidator, Field, StringConstraints, field_validator, model_validator

from opsbook.config.base import Model
from opsbook.config.durations import Duration, Interval, Timeout, at_least
from opsbook.config.errors import shown
from opsbook.config.status import iana_zone

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_DAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
_NTH = {"first": "#1", "second": "#2", "third": "#3", "fourth": "#4", "last": "L"}
_CRON_LENGTH = 100
_WORDS_HINT = (
    "use daily 09:00, weekly monday 09:00, monthly first friday 09:00, "
    "quarterly first monday 10:00, or cron: '0 9 * * 1'"
)


def _name(value: str) -> str:
    """Routine and key names appear in commands, logs and audit targets: plain words only."""
    if not _NAME.match(value):
        raise ValueError(
            f"{shown(value)} is not a name: use lowercase letters, digits, - and _ "
            "(at most 64, starting with a letter or digit)"
        )
    return value


Name = Annotated[str, AfterValidator(_name)]
# A runbook's name as runbooks/model.py allows it; whether it exists is checked against
# the runbook folders once the file is read (routines/check.py).
RunbookName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,199}$")]
_Argument = Annotated[str, StringConstraints(min_length=1, max_length=4096, pattern=r"^[^\x00]*$")]
Argv = Annotated[list[_Argument], Field(min_length=1, max_length=100)]


def _clock_time(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", text)
    if not match:
        raise ValueError(f"{shown(text)} is not a time of day (use 09:00)")
    return int(match.group(1)), int(match.group(2))


def _weekday(text: str) -> int:
    for number, day in enumerate(_DAYS):
        if text in (day, day[:3]):
            return number
    raise ValueError(f"{shown(text)} is not a day of the week (use monday)")


def _nth_weekday(nth: str, day: str) -> str:
    if nth not in _NTH:
        raise ValueError(f"{shown(nth)} is not first, second, third, fourth or last")
    return f"{_weekday(day)}{_NTH[nth]}"


def words_to_cron(text: str) -> str:
    """`weekly monday 09:00` -> `0 9 * * 1`; ValueError naming the text for anything else."""
    words = text.lower().split()
    try:
        if len(words) == 2 and words[0] == "daily":
            hour, minute = _clock_time(words[1])
            return f"{minute} {hour} * * *"
        if len(words) == 3 and words[0] == "weekly":
            hour, minute = _clock_time(words[2])
            return f"{minute} {hour} * * {_weekday(words[1])}"
        if len(words) == 4 and words[0] in ("monthly", "quarterly"):
            hour, minute = _clock_time(words[3])
            months = "*" if words[0] == "monthly" else "1,4,7,10"
            return f"{minute} {hour} * {months} {_nth_weekday(words[1], words[2])}"
    except ValueError as exc:
        raise ValueError(f"schedule {shown(text)}: {exc}") from None
    raise ValueError(f"{shown(text)} is not a schedule ({_WORDS_HINT})")


def check_cron(expression: str) -> str:
    """A five-field cron expression cronsim accepts and that can fire, or ValueError."""
    if len(expression) > _CRON_LENGTH or not re.fullmatch(r"[ -~]*", expression):
        raise ValueError(f"{shown(expression)} is not a cron expression (printable, 100 at most)")
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(
            f"{shown(expression)} has {len(fields)} fields; cron has 5: "
            "minute hour day-of-month month day-of-week"
        )
    try:
        CronSim(" ".join(fields), dt.datetime(2000, 1, 1))
    except CronSimError as exc:
        raise ValueError(f"{shown(expression)} is not a cron expression: {exc}") from None
    return " ".join(fields)


class Routine(Model):
    """One runbook on one schedule, in one time zone (else the file's `timezone`)."""

    runbook: RunbookName
    schedule: Annotated[str, StringConstraints(max_length=200)] | None = None
    cron: Annotated[str, StringConstraints(max_length=_CRON_LENGTH)] | None = None
    timezone: Annotated[str, AfterValidator(iana_zone)] | None = None

    @field_validator("schedule")
    @classmethod
    def _words(cls, text: str | None) -> str | None:
        if text is not None:
            words_to_cron(text)
        return text

    @field_validator("cron")
    @classmethod
    def _cron(cls, text: str | None) -> str | None:
        return None if text is None else check_cron(text)

    @model_validator(mode="after")
    def _one_schedule(self) -> Routine:
        if (self.schedule is None) == (self.cron is None):
            raise ValueError(f"give schedule or cron, one of them ({_WORDS_HINT})")
        return self

    @property
    def expression(self) -> str:
        """The cron expression every slot is computed from."""
        return self.cron if self.cron is not None else words_to_cron(self.schedule or "")

    @property
    def in_words(self) -> str:
        if self.schedule is not None:
            return self.schedule
        return CronSim(self.expression, dt.datetime(2000, 1, 1)).explain()


class RotatedKey(Model):
    """An API key to rotate every `every` (the seed: Stripe, Vapi, OpenAI, monthly work)."""

    every: Annotated[Duration, at_least(dt.timedelta(days=1))] = dt.timedelta(days=90)


class MaintenanceConfig(Model):
    routines: dict[Name, Routine] = Field(default={}, max_length=100)
    # How often `opsbook serve` looks for a routine's slot, and after how long past its
    # slot a run says it was late (opsbook was down, or busy with another routine).
    tick: Interval = dt.timedelta(seconds=30)
    late_after: Interval = dt.timedelta(minutes=10)
    # The monthly "Run security audit": argument lists (never shell text), each run with
    # `audit_timeout`; a non-zero exit is a finding.
    audit_commands: list[Argv] = Field(default=[], max_length=20)
    audit_timeout: Timeout = dt.timedelta(minutes=10)
    keys: dict[Name, RotatedKey] = Field(default={}, max_length=100)
