"""`backup` checks: the newest verified backup's age, read from the catalog in opsbook's
own store (pgBackRest has no such alarm: its issue #1918). Degraded past `max_age`, down
when no backup has been verified (issue #15: a backup not yet shown to restore is not
counted); the summary then says how many wait for `backup verify`."""

from __future__ import annotations

import asyncio
import datetime as dt

from opsbook.backups import service
from opsbook.config.durations import format_duration
from opsbook.config.models import BackupCheck
from opsbook.store import open_store
from opsbook.watch.probe import ProbeContext
from opsbook.watch.result import CheckResult


def _newest(ctx: ProbeContext) -> tuple[dt.datetime, int] | int:
    """The newest verified backup's end and id; else how many complete ones are unverified."""
    config = ctx.config
    store = open_store(config.store.url.reveal(), base_dir=config.base_dir, upgrade=False)
    try:
        with store.reading() as session:
            newest = service.newest_complete(session=session, verified=True)
            if newest is None:
                return service.count_unverified(session=session)
            return (newest.ended_at or newest.started_at, newest.id)
    finally:
        store.close()


def _none_verified(unverified: int) -> str:
    if unverified == 0:
        return "no verified backup (none at all): opsbook backup create, then backup verify ID"
    return (
        f"no verified backup ({unverified} unverified): opsbook backup verify ID"
        " (opsbook backup list shows them)"
    )


async def run(check: BackupCheck, ctx: ProbeContext) -> CheckResult:
    now = ctx.clock.now()
    max_age = check.max_age or ctx.config.backups.max_age
    newest = await asyncio.to_thread(_newest, ctx)
    if isinstance(newest, int):
        return CheckResult(check.name, "backup", "down", _none_verified(newest), now)
    ended, backup_id = newest
    age = max(now - ended, dt.timedelta(0))
    shown = format_duration(dt.timedelta(seconds=round(age.total_seconds())))
    metrics = {"backup_age_seconds": age.total_seconds()}
    details: dict[str, object] = {"backup": backup_id, "ended_at": ended.isoformat()}
    if age > max_age:
        summary = (
            f"newest verified backup ({backup_id}) is {shown} old, over {format_duration(max_age)}"
        )
        return CheckResult(
            check.name, "backup", "degraded", summary, now, metrics=metrics, details=details
        )
    summary = f"newest verified backup ({backup_id}) is {shown} old"
    return CheckResult(check.name, "backup", "ok", summary, now, metrics=metrics, details=details)
