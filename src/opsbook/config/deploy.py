"""The `deploy:` section and `app.smoke_paths`: what `opsbook deploy verify` waits for,
which pages it opens, and which error rate and response time fail a deploy.

A smoke path is a page and what it must answer. Written as a bare path it must answer
200 itself: a redirect is not a page that loads (a signed-out `/dashboard` answers 307
to `/sign-in`, and following it would report the sign-in page as the dashboard). A path
that is meant to redirect says so with its status and `redirect_to`.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from opsbook.config.base import HttpStatus, Model, Threshold
from opsbook.config.checklist import ChecklistSettings
from opsbook.config.durations import Duration, Interval, format_duration
from opsbook.config.errors import shown
from opsbook.config.rollback import RollbackSettings

Environment = Literal["production", "staging"]
ENVIRONMENTS: tuple[Environment, ...] = ("production", "staging")

_PATH = re.compile(r"/[^\s\x00-\x1f\x7f]{0,1999}")


def _app_path(text: str) -> str:
    if not _PATH.fullmatch(text):
        raise ValueError(
            f"{shown(text)} is not a path on the app (it starts with / and holds no spaces)"
        )
    return text


# A path on the app, as a browser's address bar holds it.
AppPath = Annotated[str, AfterValidator(_app_path)]


class SmokePath(Model):
    """One page of the smoke test and what it must answer (redirects are not followed)."""

    path: AppPath
    status: HttpStatus | list[HttpStatus] = 200
    redirect_to: AppPath | None = None
    contains: Annotated[str, StringConstraints(min_length=1, max_length=1000)] | None = None

    @model_validator(mode="after")
    def _redirect_needs_a_redirect_status(self) -> SmokePath:
        statuses = self.status if isinstance(self.status, list) else [self.status]
        if self.redirect_to is not None and not all(300 <= s < 400 for s in statuses):
            raise ValueError("redirect_to needs a redirect status (301, 302, 303, 307, 308)")
        return self

    @property
    def statuses(self) -> list[int]:
        return self.status if isinstance(self.status, list) else [self.status]


def _smoke_path(value: Any) -> Any:
    """A bare path (how smoke_paths was first written) is that path answering 200."""
    return {"path": value} if isinstance(value, str) else value


SmokePaths = list[Annotated[SmokePath, BeforeValidator(_smoke_path)]]


class Limits(Model):
    """A warn and a crit threshold, read by watch.levels.level_of; crit fails the deploy."""

    warn: Threshold | None = None
    crit: Threshold
    direction: Literal["above", "below"] = "above"


# How long verify waits for a version or watches errors at most: longer is a typo.
LONGEST = dt.timedelta(days=1)


class DeployConfig(RollbackSettings):
    # The seed: "Deployment takes ~3 minutes"; "Monitor errors (15 minutes)".
    wait: Duration = dt.timedelta(minutes=5)
    watch: Duration = dt.timedelta(minutes=15)
    poll_every: Interval = dt.timedelta(seconds=10)
    sample_every: Interval = dt.timedelta(seconds=30)
    # The error rate and p95 are judged over the newest `window` of samples, once it
    # holds at least `min_requests` answers (one 503 in three is not a 33% error rate).
    window: Interval = dt.timedelta(minutes=5)
    min_requests: int = Field(default=20, ge=1, le=100_000)
    # The seed's Alert Thresholds: error rate >1% warning, >5% critical; API p95 >1s, >3s.
    error_rate: Limits = Limits(warn=0.01, crit=0.05)
    p95: Limits = Limits(warn=1.0, crit=3.0)
    staging_url: str | None = None
    # What `opsbook deploy check` runs for the seed's pre-deployment checklist.
    checklist: ChecklistSettings = ChecklistSettings()

    @field_validator("wait", "watch")
    @classmethod
    def _within_a_day(cls, span: dt.timedelta) -> dt.timedelta:
        if span > LONGEST:
            raise ValueError(
                f"{format_duration(span)} is longer than 1d, the longest a verify takes"
            )
        return span
