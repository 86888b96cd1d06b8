"""One rollback of an env at a time, without a lock held across network calls.

The rollback's record is written first, marked "rolling back" with `running` set to the
env; `running` is unique (NULLs never collide), so a second insert for the env fails in
the database whichever process tries. The record is finished (running back to NULL) or
removed after the network work. A record left marked by a killed process is taken for
dead after `deploy.lock_for` and closed as failed, so the env is not locked for ever."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from opsbook.clock import Clock
from opsbook.config.durations import format_duration
from opsbook.deploy.models import Deploy
from opsbook.store import Store

ROLLING_BACK = "rolling back"


class Busy(RuntimeError):
    """Another rollback of the env is running."""


def claim(store: Store, row: Deploy, *, lock_for: dt.timedelta, clock: Clock) -> int:
    """Write `row` marked running; Busy when another holds the env (one stale holder,
    older than `lock_for`, is closed as failed first)."""
    for _ in range(2):
        try:
            with store.session() as session:
                fresh = Deploy(**{c: getattr(row, c) for c in _COLUMNS})
                fresh.running, fresh.verdict = row.env, ROLLING_BACK
                session.add(fresh)
                session.flush()
                return fresh.id
        except IntegrityError:
            holder = _holder(store, row.env)
            if holder is None:
                continue
            if clock.now() - holder.started_at < lock_for:
                raise Busy(
                    f"rollback #{holder.id} of {row.env} (by {holder.actor}, since"
                    f" {holder.started_at:%Y-%m-%d %H:%M} UTC) is still running: one at a time"
                    f" (a rollback marked running for {format_duration(lock_for)} is taken for"
                    " dead)"
                ) from None
            _close_stale(store, holder.id, row.env, clock)
    raise Busy(f"another rollback of {row.env} started at the same moment")


_COLUMNS = (
    "kind",
    "commit",
    "env",
    "actor",
    "url",
    "stages",
    "started_at",
    "ended_at",
    "deployment",
    "from_commit",
    "reason",
)


def _holder(store: Store, env: str) -> Deploy | None:
    with store.reading() as session:
        found = session.scalar(select(Deploy).where(Deploy.running == env))
        if found is not None:
            session.expunge(found)
        return found


def _close_stale(store: Store, deploy_id: int, env: str, clock: Clock) -> None:
    stale = {"name": "promote", "outcome": "failed", "saw": "abandoned: its process ended"}
    with store.session() as session:
        session.execute(
            update(Deploy)
            .where(Deploy.id == deploy_id, Deploy.running == env)
            .values(
                running=None,
                verdict="failed",
                failed_stage="promote",
                stages=[{**stale, "started_at": None, "ended_at": clock.now().isoformat()}],
                ended_at=clock.now(),
            )
        )


def finish(
    store: Store,
    deploy_id: int,
    *,
    verdict: str,
    failed_stage: str | None,
    stages: list[dict[str, object]],
    clock: Clock,
) -> dt.datetime:
    ended = clock.now()
    with store.session() as session:
        session.execute(
            update(Deploy)
            .where(Deploy.id == deploy_id)
            .values(
                running=None,
                verdict=verdict,
                failed_stage=failed_stage,
                stages=stages,
                ended_at=ended,
            )
        )
    return ended


def release(store: Store, deploy_id: int) -> None:
    """Remove a marked record the provider never acted on: nothing was rolled back."""
    with store.session() as session:
        session.execute(
            delete(Deploy).where(Deploy.id == deploy_id, Deploy.verdict == ROLLING_BACK)
        )
