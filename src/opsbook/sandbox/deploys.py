"""A deploy of the sandbox: another version served in place, optionally broken.

`health` breaks the health endpoint at once (a build that cannot reach its database);
`errors` fails a share of page requests only after a short bake on the sandbox's clock,
as a bad deploy often looks: the smoke test passes, the error rate climbs a minute later.
That is what `opsbook deploy verify` must catch at its watch stage."""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from typing import Any, Literal

from opsbook.bodies import shown
from opsbook.clock import Clock
from opsbook.sandbox.faults import FaultValueError, commit_of

Broken = Literal["health", "errors"]
BROKEN: tuple[Broken, ...] = ("health", "errors")
BAKE = dt.timedelta(minutes=1)
ERROR_SHARE = 0.5


@dataclass(frozen=True)
class Deployed:
    commit: str
    broken: Broken | None
    at: dt.datetime


def parse(body: Any) -> tuple[str, Broken | None]:
    """`{"commit": SHA, "broken": null|"health"|"errors"}`, or FaultValueError naming the
    value that is wrong."""
    if not isinstance(body, dict):
        raise FaultValueError('body must be {"commit": ..., "broken": ...}')
    broken = body.get("broken")
    if broken is not None and broken not in BROKEN:
        raise FaultValueError(f"broken {shown(broken)} is not one of {', '.join(BROKEN)}")
    return commit_of(body.get("commit")), broken


class Deployment:
    """What the sandbox serves now; a new deploy replaces the last one, breakage and all."""

    def __init__(self, commit: str, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._now = Deployed(commit, None, clock.now())

    def deploy(self, commit: str, broken: Broken | None) -> Deployed:
        with self._lock:
            self._now = Deployed(commit, broken, self._clock.now())
            return self._now

    @property
    def current(self) -> Deployed:
        with self._lock:
            return self._now

    def health_broken(self) -> bool:
        return self.current.broken == "health"

    def error_share(self) -> float:
        """The share of page requests that fail: ERROR_SHARE once an `errors` deploy has
        baked for BAKE, else none."""
        now = self.current
        baked = self._clock.now() - now.at >= BAKE
        return ERROR_SHARE if now.broken == "errors" and baked else 0.0
