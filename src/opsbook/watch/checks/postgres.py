"""`postgres` checks: the vitals behind the threshold table, through the database-care
package's own diagnostics (not a second copy of its SQL)."""

from __future__ import annotations

import asyncio

import psycopg

from opsbook.config.checks import PostgresCheck
from opsbook.config.secrets import mask_text
from opsbook.postgres import diagnostics
from opsbook.postgres.queries import connect
from opsbook.watch.probe import ProbeContext
from opsbook.watch.result import CheckResult, State

_STATE: dict[str, State] = {"ok": "ok", "info": "ok", "warn": "degraded", "crit": "down"}


def _vitals(url: str, ctx: ProbeContext, timeout: float) -> diagnostics.StatusReport:
    with connect(url) as conn:
        conn.execute(
            "select set_config('statement_timeout', %s, false)", (f"{int(timeout * 1000)}ms",)
        )
        return diagnostics.status(
            conn,
            thresholds=diagnostics.Thresholds.from_config(ctx.config),
            disk_quota=ctx.config.database.disk_quota,
        )


async def run(check: PostgresCheck, ctx: ProbeContext) -> CheckResult:
    now = ctx.clock.now()
    target = check.database_url or ctx.config.database.url
    if target is None:
        return CheckResult(
            check.name,
            "postgres",
            "error",
            "no database: set database.url or the check's database_url",
            now,
        )
    url = target.reveal()
    timeout = check.timeout.total_seconds()
    try:
        report = await asyncio.wait_for(asyncio.to_thread(_vitals, url, ctx, timeout), timeout)
    except TimeoutError:
        return CheckResult(
            check.name, "postgres", "down", f"database did not answer within {timeout:g}s", now
        )
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return CheckResult(
            check.name,
            "postgres",
            "down",
            f"cannot reach the database: {mask_text(first, [url])}",
            now,
        )
    server, states = report.server, report.connections
    usable = max(server["max_connections"] - server["reserved_connections"], 1)
    metrics = {
        "db_connections_used": states["total"] / usable,
        "db_active_connections": float(states["active"]),
        "db_longest_query_seconds": max((q["seconds"] for q in report.long_queries), default=0.0),
        "db_replication_lag_seconds": max(
            (r["replay_lag_seconds"] for r in report.replicas), default=0.0
        ),
    }
    if ctx.config.database.disk_quota:
        metrics["db_disk_used"] = server["database_bytes"] / ctx.config.database.disk_quota
    worst = [f for f in report.findings if f.state == report.worst]
    state = _STATE[report.worst]
    summary = (
        "database healthy"
        if state == "ok"
        else "; ".join(f"{f.check}: {f.value} ({f.reason})" for f in worst)
    )
    details: dict[str, object] = {"findings": {f.check: f.state for f in report.findings}}
    rights = report.visibility
    if rights is not None and rights.notice:
        # Counts still include other roles' sessions; say once what else stays hidden.
        summary += f"; {rights.notice}"
        details["sees_all_sessions"] = False
    return CheckResult(
        check.name, "postgres", state, summary, now, metrics=metrics, details=details
    )
