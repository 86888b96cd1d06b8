"""`backup` checks: the newest verified backup's age, read from the catalog in opsbook's
own store and judged by backups.freshness (the weekly routine's `backup.status` step
judges the same way)."""

from __future__ import annotations

import asyncio

from opsbook.backups import freshness
from opsbook.config.checks import BackupCheck
from opsbook.store import open_store
from opsbook.watch.probe import ProbeContext
from opsbook.watch.result import CheckResult


def _judge(check: BackupCheck, ctx: ProbeContext) -> freshness.Freshness:
    config = ctx.config
    store = open_store(config.store.url.reveal(), base_dir=config.base_dir, upgrade=False)
    try:
        with store.reading() as session:
            return freshness.judge(
                session=session,
                now=ctx.clock.now(),
                max_age=check.max_age or config.backups.max_age,
                database=freshness.configured_database(config),
            )
    finally:
        store.close()


async def run(check: BackupCheck, ctx: ProbeContext) -> CheckResult:
    now = ctx.clock.now()
    judged = await asyncio.to_thread(_judge, check, ctx)
    if judged.age is None or judged.ended_at is None:
        return CheckResult(check.name, "backup", judged.state, judged.summary, now)
    return CheckResult(
        check.name,
        "backup",
        judged.state,
        judged.summary,
        now,
        metrics={"backup_age_seconds": judged.age.total_seconds()},
        details={"backup": judged.backup_id, "ended_at": judged.ended_at.isoformat()},
    )
