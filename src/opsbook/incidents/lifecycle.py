"""Incident statuses and the moves between them.

Forward moves may skip steps (a responder can find the cause the moment they look);
backward moves exist only where real incidents go back: a fix that did not hold sends
monitoring back to investigating or identified, and a resolved incident can be reopened.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"


ORDER = list(Status)

_BACKWARD: dict[Status, set[Status]] = {
    Status.IDENTIFIED: {Status.INVESTIGATING},
    Status.MONITORING: {Status.INVESTIGATING, Status.IDENTIFIED},
    Status.RESOLVED: {Status.INVESTIGATING},  # reopen
}


def allowed_moves(current: Status) -> list[Status]:
    """Where an incident can go from `current`, in lifecycle order."""
    if current is Status.RESOLVED:
        return sorted(_BACKWARD[current], key=ORDER.index)
    forward = ORDER[ORDER.index(current) + 1 :]
    return sorted(set(forward) | _BACKWARD.get(current, set()), key=ORDER.index)


def can_move(current: Status, target: Status) -> bool:
    """Whether the lifecycle allows `current` -> `target`."""
    return target in allowed_moves(current)


def public_status(status: Status) -> str:
    """Statuspage's words: investigating, identified, monitoring, resolved."""
    if status in (Status.OPEN, Status.ACKNOWLEDGED, Status.INVESTIGATING):
        return "investigating"
    return status.value


def is_open(status: Status) -> bool:
    """Anything not resolved is open."""
    return status is not Status.RESOLVED
