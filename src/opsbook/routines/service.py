"""Running routines: claim a slot, run its runbook through the engine, keep the outcome.

The claim is the only exclusive decision, and it is made in the database: one short
transaction inserts (routine, slot) with ON CONFLICT DO NOTHING, and whoever inserted the
row runs the slot. No lock is held while the runbook runs, so a weekly checklist that
waits days for a person blocks nothing. Two `opsbook serve` processes on one store both
tick; the second finds the row and moves on.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from opsbook.clock import Clock
from opsbook.config import Config
from opsbook.config.explain import did_you_mean
from opsbook.config.routines import Routine
from opsbook.routines import schedule
from opsbook.routines.models import RoutineRun, RoutineSeen
from opsbook.runbooks import loader
from opsbook.runbooks.actions import Registry
from opsbook.runbooks.engine import Engine, Interaction, Reporter
from opsbook.store import Store
from opsbook.store.audit import audited

SCHEDULER = "opsbook serve (schedule)"


class RoutineError(ValueError):
    """A routine that is not configured, or a slot already run."""


@dataclass(frozen=True)
class Started:
    """What one routine run came to: its row, its runbook run (None when the runbook could
    not start, `error` says why) and the runbook run's outcome."""

    id: int
    routine: str
    slot_at: dt.datetime
    late: bool
    missed: int
    run_id: int | None
    outcome: str
    error: str | None = None


@dataclass(frozen=True)
class Claim:
    """The slot a process means to run, and how it came due."""

    routine: str
    slot_at: dt.datetime
    trigger: str  # schedule, manual
    late: bool
    missed: int
    actor: str


def configured(config: Config, name: str) -> Routine:
    routines = config.maintenance.routines
    if name not in routines:
        hint = did_you_mean(name, sorted(routines))
        known = ", ".join(sorted(routines)) or "none (maintenance.routines is empty)"
        raise RoutineError(f"no routine {name!r}{hint}; configured: {known}")
    return routines[name]


def tick(store: Store, config: Config, registry: Registry, *, clock: Clock) -> list[Started]:
    """Run every routine whose slot has passed since its last scheduled run (or since it
    was first seen), once for the latest such slot."""
    started = []
    for name, routine in config.maintenance.routines.items():
        now = clock.now()
        with store.session() as session:
            after = _scheduled_after(session, name, now)
        due = schedule.due(
            routine.expression, schedule.zone_of(routine, config), after=after, now=now
        )
        if due is None:
            continue
        late = now - due.slot.at > config.maintenance.late_after
        claim = Claim(name, due.slot.at, "schedule", late, due.missed, SCHEDULER)
        result = _claim_and_run(store, config, registry, claim, clock=clock)
        if result is not None:
            started.append(result)
    return started


def run_now(
    store: Store,
    config: Config,
    registry: Registry,
    *,
    name: str,
    clock: Clock,
    actor: str,
    yes: bool = False,
    reporter: Callable[[int], Reporter] | None = None,
) -> Started:
    """Run a routine now (`maintenance run`): recorded as a scheduled run is, its slot now."""
    configured(config, name)
    claim = Claim(name, clock.now(), "manual", False, 0, actor)
    result = _claim_and_run(store, config, registry, claim, clock=clock, yes=yes, reporter=reporter)
    if result is None:
        raise RoutineError(f"routine {name} already ran for this instant; nothing was run")
    return result


def _scheduled_after(session: Session, name: str, now: dt.datetime) -> dt.datetime:
    """The instant after which slots are owed: the last scheduled slot run, else the first
    time any scheduler saw the routine (recorded now if never)."""
    _insert_ignoring_conflict(session, RoutineSeen, {"name": name, "since": now}, ["name"])
    since = session.scalar(select(RoutineSeen.since).where(RoutineSeen.name == name))
    last = session.scalar(
        select(func.max(RoutineRun.slot_at)).where(
            RoutineRun.routine == name, RoutineRun.trigger == "schedule"
        )
    )
    assert since is not None
    return max(since, last) if last is not None else since


def _insert_ignoring_conflict(
    session: Session, table: type[Any], values: dict[str, Any], keys: list[str]
) -> int | None:
    """INSERT .. ON CONFLICT DO NOTHING; the new row's id, or None when it existed."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table).values(**values).on_conflict_do_nothing(index_elements=keys)
    primary = table.__table__.primary_key.columns[0]
    inserted: int | None = session.scalar(statement.returning(primary))
    return inserted


def _claim(store: Store, claim: Claim, *, clock: Clock) -> int | None:
    """Take the slot in one short transaction; None when another process has it."""
    values = {
        **dataclasses.asdict(claim),
        "claimed_at": clock.now(),
        "claimed_by": f"{socket.gethostname()}:{os.getpid()}",
    }
    with store.session() as session:
        claimed = _insert_ignoring_conflict(session, RoutineRun, values, ["routine", "slot_at"])
    return claimed


def _claim_and_run(
    store: Store,
    config: Config,
    registry: Registry,
    claim: Claim,
    *,
    clock: Clock,
    yes: bool = False,
    reporter: Callable[[int], Reporter] | None = None,
) -> Started | None:
    claim_id = _claim(store, claim, clock=clock)
    if claim_id is None:
        return None
    details = {
        "slot": claim.slot_at.isoformat(),
        "trigger": claim.trigger,
        "late": claim.late,
        "missed": claim.missed,
    }
    with audited(
        store,
        action="maintenance.run",
        target=f"routine {claim.routine}",
        actor=claim.actor,
        details=details,
        clock=clock,
    ) as handle:
        engine = Engine(
            store=store, config=config, registry=registry, clock=clock, actor=claim.actor
        )
        run_id, outcome, error = _run_runbook(
            engine, config, claim_id, claim.routine, Interaction(yes=yes), reporter
        )
        handle.details.update(run=run_id, outcome=outcome)
        handle.outcome = "ok" if outcome in ("succeeded", "waiting") else outcome
    return Started(
        claim_id, claim.routine, claim.slot_at, claim.late, claim.missed, run_id, outcome, error
    )


def _run_runbook(
    engine: Engine,
    config: Config,
    claim_id: int,
    name: str,
    interaction: Interaction,
    reporter: Callable[[int], Reporter] | None,
) -> tuple[int | None, str, str | None]:
    """The routine's runbook through the engine: manual steps wait for a person (the run
    is `waiting`), findings are the steps' outcomes. A runbook that cannot be read is
    recorded on the claim as its error: the slot counts as run, and says why it did not."""
    runbook_name = config.maintenance.routines[name].runbook
    try:
        source = loader.find(config, runbook_name)
        runbook = loader.load_runbook(source.path, registry=engine.registry)
    except (KeyError, loader.RunbookError) as exc:
        error = str(exc.args[0]) if isinstance(exc, KeyError) else f"runbook {runbook_name}: {exc}"
        with engine.store.session() as session:
            row = session.get(RoutineRun, claim_id)
            assert row is not None
            row.error = error
        return None, "failed", error
    if reporter is not None:
        engine.reporter = reporter(len(runbook.steps))
    run_id = engine.start(runbook, source=str(source.path), params={}, incident_id=None)
    with engine.store.session() as session:
        row = session.get(RoutineRun, claim_id)
        assert row is not None
        row.run_id = run_id
    return run_id, engine.execute(run_id, runbook, interaction, {}), None
