"""What a person is asked before sessions end: the numbers of the plan and of the pool,
read just before asking (a runbook step's confirmation; see `Action.preview`)."""

from __future__ import annotations

from opsbook.postgres.changes_sessions import SessionPlan
from opsbook.postgres.diagnostics import PoolUse


def would_end(plan: SessionPlan, which: str, pool: PoolUse) -> str:
    """The confirmation's numbers: what ends, what is spared, how full the pool is."""
    pids = ", ".join(str(s.pid) for s in plan.targets[:20])
    more = f" and {len(plan.targets) - 20} more" if len(plan.targets) > 20 else ""
    said = f"{plan.verb} {len(plan.targets)} session(s) {which}"
    said += f" (pid {pids}{more})" if plan.targets else ""
    if plan.protected:
        said += f"; {len(plan.protected)} protected, left alone"
    if plan.unseen:
        said += f"; {len(plan.unseen)} of other roles not visible, left alone"
    return f"{said}. The pool: {pool.said()}"
