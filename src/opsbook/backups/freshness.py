"""How fresh the newest verified backup is: the seed's weekly "Verify backup completion",
judged once here for the `backup` check (every interval, in serve) and the `backup.status`
runbook action (the weekly routine). Only a verified backup counts (issue #15: a backup
not yet shown to restore is not known to be one); when none is, the summary says how many
wait for `backup verify`. pgBackRest has no such alarm (its issue #1918). Only backups of
the configured database (database.url, compared as the catalog records a backup's place)
count: a verified backup of a scratch or staging database says nothing of production's."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.orm import Session

from opsbook.backups import service, targets
from opsbook.config import Config
from opsbook.config.durations import format_duration

Level = Literal["ok", "degraded", "down"]  # a check result's states


@dataclass(frozen=True)
class Freshness:
    state: Level
    summary: str
    backup_id: int | None = None
    ended_at: dt.datetime | None = None
    age: dt.timedelta | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "summary": self.summary,
            "backup": self.backup_id,
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "age_seconds": self.age.total_seconds() if self.age is not None else None,
        }


def judge(
    *, session: Session, now: dt.datetime, max_age: dt.timedelta, database: str | None
) -> Freshness:
    """Ok while the newest verified backup of `database` (targets.identity; None: of any)
    is at most `max_age` old, degraded past it, down when none has been verified."""
    newest = service.newest_complete(session=session, verified=True, database=database)
    if newest is None:
        waiting = service.count_unverified(session=session, database=database)
        return Freshness("down", _none_verified(waiting))
    ended = newest.ended_at or newest.started_at
    age = max(now - ended, dt.timedelta(0))
    shown = format_duration(dt.timedelta(seconds=round(age.total_seconds())))
    summary = f"newest verified backup ({newest.id}) is {shown} old"
    state: Level = "ok"
    if age > max_age:
        summary += f", over {format_duration(max_age)}"
        state = "degraded"
    return Freshness(state, summary, newest.id, ended, age)


def configured_database(config: Config) -> str | None:
    """The place of database.url as the catalog records a backup's source."""
    url = config.database.url
    return targets.parse(url.reveal(), what="database.url").identity if url else None


def _none_verified(unverified: int) -> str:
    if unverified == 0:
        return "no verified backup (none at all): opsbook backup create, then backup verify ID"
    return (
        f"no verified backup ({unverified} unverified): opsbook backup verify ID"
        " (opsbook backup list shows them)"
    )
