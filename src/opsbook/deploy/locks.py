"""One rollback of an env at a time, without a lock held across network calls.

The rollback's record is written first, marked "rolling back" with `running` set to the
env; `running` is unique (NULLs never collide), so a second insert for the env fails in
the database whichever process tries. The record is finished (running back to NULL) or
removed after the network work, in a `finally`, so a Ctrl-C finishes it too.

While it runs, the holder's Heartbeat moves the record's `ended_at` (its "so far") on
every quarter of `deploy.lock_for`; a record whose `ended_at` is older than `lock_for` is
a holder that died (SIGKILL, a lost machine), and only that one is closed as failed so a
new rollback may start. A live holder is never taken over, however long its provider
takes. Every write of the holder's (beat, finish) requires that it still holds the env,
so a holder that was taken over (its clock stalled past `lock_for`) learns so, and says
so, instead of reporting a verdict over the new holder's."""

from __future__ import annotations

import datetime as dt
import threading

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

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
            if clock.now() - holder.ended_at < lock_for:
                raise Busy(
                    f"rollback #{holder.id} of {row.env} (by {holder.actor}, since"
                    f" {holder.started_at:%Y-%m-%d %H:%M} UTC) is still running: one at a time"
                    f" (a rollback not heard from for {format_duration(lock_for)} is taken for"
                    " dead)"
                ) from None
            close(store, holder.id, row.env, clock, saw="abandoned: its process ended")
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


def close(store: Store, deploy_id: int, env: str, clock: Clock, *, saw: str) -> None:
    """Close a held record as failed at `promote` (nothing when it is no longer held)."""
    stale = {"name": "promote", "outcome": "failed", "saw": saw}
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


class TakenOver(RuntimeError):
    """This run no longer holds the env: another rollback closed it as dead."""


def finish(
    store: Store,
    deploy_id: int,
    env: str,
    *,
    verdict: str,
    failed_stage: str | None,
    stages: list[dict[str, object]],
    clock: Clock,
) -> dt.datetime:
    """Close the record with its verdict; TakenOver (nothing written) when another
    rollback took the env over meanwhile."""
    ended = clock.now()
    with store.session() as session:
        done = session.execute(
            update(Deploy)
            .where(Deploy.id == deploy_id, Deploy.running == env)
            .values(
                running=None,
                verdict=verdict,
                failed_stage=failed_stage,
                stages=stages,
                ended_at=ended,
            )
        )
    if _count(done) == 0:
        raise TakenOver(
            f"rollback #{deploy_id} of {env} was taken for dead and taken over by another"
            " rollback while it ran: its verdict was not recorded (opsbook deploy list)"
        )
    return ended


def _count(result: object) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


class Heartbeat:
    """Moves a held record's `ended_at` on every `every`, from a thread of its own so a
    busy event loop cannot starve it; `lost` once the record is no longer held."""

    def __init__(
        self, store: Store, deploy_id: int, env: str, *, every: dt.timedelta, clock: Clock
    ) -> None:
        self.store, self.deploy_id, self.env, self.clock = store, deploy_id, env, clock
        self.every = every.total_seconds()
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.every) and not self.lost:
            self.beat()

    def beat(self) -> None:
        try:
            with self.store.session() as session:
                done = session.execute(
                    update(Deploy)
                    .where(Deploy.id == self.deploy_id, Deploy.running == self.env)
                    .values(ended_at=self.clock.now())
                )
        except SQLAlchemyError:  # a busy store: the next beat tries again
            return
        self.lost = _count(done) == 0


def release(store: Store, deploy_id: int) -> None:
    """Remove a marked record the provider never acted on: nothing was rolled back."""
    with store.session() as session:
        session.execute(
            delete(Deploy).where(Deploy.id == deploy_id, Deploy.verdict == ROLLING_BACK)
        )
