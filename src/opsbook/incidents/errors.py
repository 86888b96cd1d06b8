"""How an incident operation says no, and the input checks every operation shares.

An operation does all it was asked or raises one of these before the caller's transaction
commits, so a refusal changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from opsbook.config.models import SEVERITY_NAMES
from opsbook.incidents.lifecycle import Status

UPDATE_STATUSES = ("acknowledged", "investigating", "identified", "monitoring")


class IncidentError(ValueError):
    """Bad input or a move the lifecycle forbids; nothing was changed.

    The message is in the domain's words. Where it tells the caller to give an input or to
    use another operation, it writes that name in braces (`{force}`, `{root_cause}`,
    `{resolve}`) and lists it in `names`: `str()` shows the bare name, and each door says
    it in its own words through `worded()` (`--force` on the command line, `force: true`
    in a runbook step). A message with names holds no outside text, so a brace in a title
    can never be taken for one.
    """

    def __init__(self, message: str, *, names: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.template = message
        self.names = tuple(names)

    def __str__(self) -> str:
        return self.worded(lambda name: name)

    def worded(self, word: Callable[[str], str]) -> str:
        """The message with each name said the way `word` says it."""
        text = self.template
        for name in self.names:
            text = text.replace("{" + name + "}", word(name))
        return text


class IncidentNotFound(IncidentError):
    """No incident (or no action item of it) has that number."""


class NoIncident(IncidentNotFound):
    """No incident has that number: a door says where the numbers are listed."""


class IllegalMove(IncidentError):
    """The lifecycle does not allow this move from where the incident stands."""


def parse_severity(value: str) -> str:
    """`p1`, ` P1 ` -> `P1`; anything but P0-P3 is refused."""
    severity = value.strip().upper()
    if severity not in SEVERITY_NAMES:
        raise IncidentError(f"unknown severity {value!r} (use P0, P1, P2 or P3)")
    return severity


def parse_status(value: str) -> Status:
    """A status by name, any case."""
    try:
        return Status(value.strip().lower())
    except ValueError:
        raise IncidentError(
            f"{value!r} is not a status; use {', '.join(UPDATE_STATUSES)}"
        ) from None


def required(value: str | None, what: str, *, names: Sequence[str] = ()) -> str:
    """`value` stripped; blank text is refused, since an empty note or title says nothing."""
    text = (value or "").strip()
    if not text:
        raise IncidentError(f"{what} must not be empty", names=names)
    return text
