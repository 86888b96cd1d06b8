"""Moving the rows of an archive plan: the batch statements and the loop that paces them.

Old rows are usually scattered through the table (by id, not by age), so taking them
oldest first reads and dirties a different page for nearly every row. The first pass
therefore sweeps the table in physical order, a range of pages per batch, so each page
is read and written once; a second pass takes whatever the sweep could not (rows the
app held locked, or moved behind it) oldest first, until none is left.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from opsbook.postgres import queries
from opsbook.postgres.archive import ArchivePlan, ArchiveResult, StillLocked


def batch_statement(plan: ArchivePlan, *, sweep: bool = False) -> sql.Composed:
    """The one statement that moves a batch (and its referencing rows) to the archive.

    `sweep` takes the old rows of a range of pages (%(lo)s to %(hi)s, as TIDs) rather
    than the oldest rows; either way at most %(limit)s, skipping rows locked by others.
    """
    key = sql.SQL(", ").join(map(sql.Identifier, plan.key))
    values = {"key": key, "src": plan.source.ident, "col": sql.Identifier(plan.column)}
    if sweep:
        pick = sql.SQL(
            "batch as (select ctid from {src} where ctid >= %(lo)s::tid and ctid < %(hi)s::tid"
            " and {col} < %(cutoff)s limit %(limit)s for update skip locked)"
        )
        # The row's own qualifier again: a TID names a row only while this batch holds it.
        match = sql.SQL("ctid = any(array(select ctid from batch)) and {col} < %(cutoff)s")
    else:
        pick = sql.SQL(
            "batch as (select {key} from {src} where {col} < %(cutoff)s order by {col}"
            " limit %(limit)s for update skip locked)"
        )
        match = sql.SQL("({key}) in (select {key} from batch)")
    parts = [
        pick.format(**values),
        sql.SQL("moved as (delete from {src} where {match} returning *)").format(
            src=plan.source.ident, match=match.format(**values)
        ),
    ]
    for i, ref in enumerate(plan.referencing):
        # Keyed on the rows actually moved, by the columns the foreign key points at.
        parts.append(
            sql.SQL(
                "ref_{i} as (delete from {ref} where ({fk}) in (select {to} from moved)"
                " returning *), ref_{i}_kept as (insert into {archive} select * from ref_{i})"
            ).format(
                i=sql.SQL(str(i)),
                ref=ref.table.ident,
                fk=sql.SQL(", ").join(map(sql.Identifier, ref.columns)),
                to=sql.SQL(", ").join(map(sql.Identifier, ref.referenced)),
                archive=ref.archive.ident,
            )
        )
    return sql.SQL("with {} insert into {} select * from moved").format(
        sql.SQL(", ").join(parts), plan.archive.ident
    )


def remaining(conn: psycopg.Connection[Any], plan: ArchivePlan) -> int:
    """Rows older than the plan's cutoff still in the source table."""
    row = conn.execute(
        sql.SQL("select count(*) from {} where {} < %s").format(
            plan.source.ident, sql.Identifier(plan.column)
        ),
        (plan.cutoff,),
    ).fetchone()
    return int(row[0]) if row else 0


@dataclass(frozen=True)
class Pacing:
    batch: int = 5000
    lock_timeout: dt.timedelta = dt.timedelta(seconds=2)
    max_replication_lag: dt.timedelta = dt.timedelta(seconds=10)
    max_lock_waiters: int = 5
    pause: dt.timedelta = dt.timedelta(0)
    wait_step: float = 1.0
    max_empty_rounds: int = 30


# A sweep batch's page range is at most this many pages (8 GB of 8 kB pages).
MAX_SWEEP_PAGES = 1 << 20
LAST_PAGE = (1 << 32) - 1  # a TID's block number is 32 bits


@dataclass
class _Mover:
    """Runs batch statements one transaction each, with the pacing's waits and back-off."""

    conn: psycopg.Connection[Any]
    pacing: Pacing
    sleep: Callable[[float], None]
    progress: Callable[[int], None] | None
    note: Callable[[str], None] | None
    result: ArchiveResult = field(default_factory=ArchiveResult)
    refused: int = 0  # batches in a row whose lock was not granted

    def move(self, statement: sql.Composed, params: dict[str, Any]) -> int | None:
        """Rows moved by one batch, or None when a lock was not granted (after backing off)."""
        self.result.paused_seconds += _wait_for_calm(self.conn, self.pacing, self.sleep, self.note)
        try:
            with self.conn.transaction():
                moved = max(self.conn.execute(statement, params).rowcount, 0)
        except psycopg.errors.LockNotAvailable:
            self._refused()
            return None
        self.refused = 0
        if moved:
            self.result.moved += moved
            self.result.batches += 1
            if self.progress:
                self.progress(moved)
            if self.pacing.pause:
                self.sleep(self.pacing.pause.total_seconds())
        return moved

    def _refused(self) -> None:
        """Back off; give up once as many batches in a row were refused as the pacing
        allows empty rounds. A session that holds a table a batch writes (an idle
        transaction's lock on a referencing table) can hold it for good, and retrying
        forever would leave the run hanging without a word."""
        self.result.lock_retries += 1
        self.refused += 1
        if self.note:
            self.note("a lock was not granted within lock_timeout; backing off")
        self.sleep(self.pacing.wait_step)
        if self.refused > self.pacing.max_empty_rounds:
            raise StillLocked(
                f"moved {self.result.moved:,} rows; a lock was not granted in"
                f" {self.refused} tries in a row (another session holds a table this"
                " archival writes): run again later to finish"
            )


def run(
    conn: psycopg.Connection[Any],
    plan: ArchivePlan,
    *,
    pacing: Pacing,
    sleep: Callable[[float], None] = time.sleep,
    progress: Callable[[int], None] | None = None,
    note: Callable[[str], None] | None = None,
) -> ArchiveResult:
    """Move batches until no row older than the cutoff is left. Safe to stop at any time."""
    started = time.monotonic()
    mover = _Mover(conn, pacing, sleep, progress, note)
    conn.execute(
        "select set_config('lock_timeout', %s, false)",
        (f"{int(pacing.lock_timeout.total_seconds() * 1000)}ms",),
    )
    if plan.sweep_oid is not None and plan.candidates:
        _sweep(mover, plan, plan.sweep_oid)
    _oldest_first(mover, plan)
    mover.result.seconds = time.monotonic() - started
    return mover.result


def _sweep(mover: _Mover, plan: ArchivePlan, oid: int) -> None:
    """One pass over the pages the table had at the start, sized to about a batch each."""
    row = mover.conn.execute(
        "select pg_relation_size(%s::oid::regclass) / current_setting('block_size')::int",
        (oid,),
    ).fetchone()
    pages = int(row[0]) if row else 0
    limit = mover.pacing.batch
    step = _clamp(limit * pages // max(plan.candidates, 1))
    statement = batch_statement(plan, sweep=True)
    page = 0
    while page < pages:
        params = {"cutoff": plan.cutoff, "limit": limit, "lo": f"({page},0)"}
        moved = mover.move(statement, {**params, "hi": f"({min(page + step, LAST_PAGE)},0)"})
        if moved is None or moved >= limit:  # locked, or more there: again, smaller
            step = _clamp(step // 2)
        else:
            page += step
            # Aim at three quarters of a batch, so that a full one is the exception.
            step = _clamp(step * 2 if moved == 0 else step * limit * 3 // (4 * moved))


def _clamp(step: int) -> int:
    return min(max(step, 1), MAX_SWEEP_PAGES)


def _oldest_first(mover: _Mover, plan: ArchivePlan) -> None:
    """Oldest rows first until none is left; rows the app holds locked are waited for."""
    statement = batch_statement(plan)
    params = {"cutoff": plan.cutoff, "limit": mover.pacing.batch}
    empty_rounds = 0
    while True:
        moved = mover.move(statement, params)
        if moved is None:
            continue
        if moved:
            empty_rounds = 0
            continue
        if remaining(mover.conn, plan) == 0:
            return
        # Every remaining row is locked by the app right now: wait, do not spin.
        empty_rounds += 1
        if empty_rounds > mover.pacing.max_empty_rounds:
            raise StillLocked(
                f"moved {mover.result.moved:,} rows; the remaining old rows stayed locked by"
                " other sessions: run again later to finish"
            )
        mover.sleep(mover.pacing.wait_step)


def _wait_for_calm(
    conn: psycopg.Connection[Any],
    pacing: Pacing,
    sleep: Callable[[float], None],
    note: Callable[[str], None] | None,
) -> float:
    waited = 0.0
    while True:
        lag = queries.one(conn, "replication_lag")["seconds"]
        waiters = queries.one(conn, "lock_waiters")["waiting"]
        if lag <= pacing.max_replication_lag.total_seconds() and waiters <= pacing.max_lock_waiters:
            return waited
        if note:
            note(f"pausing: replication lag {lag:.0f}s, {waiters} sessions waiting on locks")
        sleep(pacing.wait_step)
        waited += pacing.wait_step
