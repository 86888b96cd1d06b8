"""Run checks concurrently, each bounded by its timeout; one crashing check never stops
the others."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from opsbook.clock import Clock
from opsbook.config import Config
from opsbook.config.checks import CheckBase
from opsbook.config.secrets import mask_text, mask_value
from opsbook.store import Store
from opsbook.watch.checks import (
    backup,
    command,
    dns,
    http,
    postgres,
    prometheus,
    statuspage,
    tls,
    version,
    webhook,
)
from opsbook.watch.probe import ProbeContext, new_session
from opsbook.watch.result import CheckResult

Runner = Callable[[Any, ProbeContext], Awaitable[CheckResult]]
KINDS: dict[str, Runner] = {
    "http": http.run,
    "version": version.run,
    "webhook": webhook.run,
    "statuspage": statuspage.run,
    "tls": tls.run,
    "dns": dns.run,
    "postgres": postgres.run,
    "backup": backup.run,
    "prometheus": prometheus.run,
    "command": command.run,
}
GRACE = 2.0  # seconds past a check's own timeout before the runner gives up on it


async def run_one(check: CheckBase, ctx: ProbeContext) -> CheckResult:
    """Run one check within its timeout; a timeout or a crash is a result, never raised."""
    kind = getattr(check, "kind")  # noqa: B009 - every concrete check has one
    try:
        result = await asyncio.wait_for(
            KINDS[kind](check, ctx), check.timeout.total_seconds() + GRACE
        )
    except TimeoutError:
        result = CheckResult(
            check.name,
            kind,
            "down",
            f"no result within {check.timeout.total_seconds():g}s",
            ctx.clock.now(),
        )
    except Exception as exc:  # a bug in one check must not blind the others
        result = CheckResult(
            check.name,
            kind,
            "error",
            f"the check itself failed: {type(exc).__name__}: {exc}",
            ctx.clock.now(),
        )
    # A check reports what it saw: a URL with its password, a command's output. Masked
    # here, the one door every result passes, before status, logs or the store see it.
    result.summary = mask_text(result.summary)
    result.details = mask_value(result.details)
    result.component, result.severity, result.runbook = (
        check.component,
        check.severity,
        check.runbook,
    )
    return result


async def run_checks(
    config: Config,
    checks: Sequence[CheckBase],
    *,
    clock: Clock,
    concurrency: int = 100,
    store: Store | None = None,
) -> list[CheckResult]:
    """Run the checks once, at most `concurrency` at a time, in the order given."""
    gate = asyncio.Semaphore(concurrency)
    async with new_session(limit=concurrency) as session:
        ctx = ProbeContext(session=session, config=config, clock=clock, store=store)

        async def guarded(check: CheckBase) -> CheckResult:
            async with gate:
                return await run_one(check, ctx)

        return list(await asyncio.gather(*(guarded(c) for c in checks)))
