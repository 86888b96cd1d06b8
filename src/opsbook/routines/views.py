"""What the maintenance commands and `opsbook status` read: each routine's schedule with
its next and last run, the open checklists, and past runs with their findings.

A run's state is its runbook run's, read every time (a person resuming it with `opsbook
runbook resume RUN --done STEP` closes the checklist here without anything copied)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from opsbook.config import Config
from opsbook.routines import schedule
from opsbook.routines.models import RoutineRun
from opsbook.runbooks.records import RunRecord, StepRecord


@dataclass(frozen=True)
class RoutineView:
    name: str
    runbook: str
    schedule: str
    timezone: str
    next_run: dt.datetime
    next_run_local: str
    last_run: dt.datetime | None
    last_outcome: str | None


@dataclass(frozen=True)
class OpenStep:
    id: str
    title: str
    instruction: str


@dataclass(frozen=True)
class Checklist:
    routine: str
    run_id: int
    slot_at: dt.datetime
    steps: list[OpenStep]

    @property
    def mark_done(self) -> str:
        done = " ".join(f"--done {s.id}" for s in self.steps)
        return f"opsbook runbook resume {self.run_id} {done}"


@dataclass(frozen=True)
class HistoryEntry:
    id: int
    routine: str
    slot_at: dt.datetime
    trigger: str
    late: bool
    missed: int
    actor: str
    run_id: int | None
    outcome: str
    error: str | None
    findings: list[dict[str, Any]] = field(default_factory=list)


def outcome_of(row: RoutineRun, run: RunRecord | None) -> str:
    return run.status if run is not None else ("failed" if row.error else "starting")


def overview(session: Session, config: Config, *, now: dt.datetime) -> list[RoutineView]:
    views = []
    for name, routine in config.maintenance.routines.items():
        zone = schedule.zone_of(routine, config)
        upcoming = schedule.next_slot(routine.expression, zone, now)
        last = session.execute(
            select(RoutineRun, RunRecord)
            .outerjoin(RunRecord, RunRecord.id == RoutineRun.run_id)
            .where(RoutineRun.routine == name)
            .order_by(RoutineRun.slot_at.desc(), RoutineRun.id.desc())
            .limit(1)
        ).first()
        views.append(
            RoutineView(
                name=name,
                runbook=routine.runbook,
                schedule=routine.in_words,
                timezone=zone.key,
                next_run=upcoming.at,
                next_run_local=f"{upcoming.at.astimezone(zone):%Y-%m-%d %H:%M %Z}",
                last_run=last[0].slot_at if last else None,
                last_outcome=outcome_of(last[0], last[1]) if last else None,
            )
        )
    return views


def open_checklists(session: Session) -> list[Checklist]:
    """Routine runs waiting for a person, oldest first, with the steps still to do. A run
    whose automated step found something (failed, went on) still waits for its manual
    steps: the finding does not strike them off."""
    rows = session.execute(
        select(RoutineRun, RunRecord)
        .join(RunRecord, RunRecord.id == RoutineRun.run_id)
        .where(RunRecord.status.in_(("waiting", "failed")))
        .order_by(RoutineRun.slot_at, RoutineRun.id)
    ).all()
    checklists = []
    for row, run in rows:
        titles = {s["id"]: s.get("title", s["id"]) for s in run.definition.get("steps", [])}
        steps = [
            OpenStep(s.step_id, titles.get(s.step_id, s.step_id), s.inputs.get("instruction", ""))
            for s in _steps(session, run.id)
            if s.status == "waiting"
        ]
        if steps:
            checklists.append(Checklist(row.routine, run.id, row.slot_at, steps))
    return checklists


def history(session: Session, *, routine: str | None, limit: int) -> list[HistoryEntry]:
    """Past routine runs, newest first, each with its steps' outcomes and outputs."""
    query = (
        select(RoutineRun, RunRecord)
        .outerjoin(RunRecord, RunRecord.id == RoutineRun.run_id)
        .order_by(RoutineRun.slot_at.desc(), RoutineRun.id.desc())
        .limit(limit)
    )
    if routine is not None:
        query = query.where(RoutineRun.routine == routine)
    entries = []
    for row, run in session.execute(query).all():
        findings = [
            {"step": s.step_id, "status": s.status, "error": s.error, "output": s.output}
            for s in (_steps(session, run.id) if run is not None else [])
        ]
        entries.append(
            HistoryEntry(
                id=row.id,
                routine=row.routine,
                slot_at=row.slot_at,
                trigger=row.trigger,
                late=row.late,
                missed=row.missed,
                actor=row.actor,
                run_id=row.run_id,
                outcome=outcome_of(row, run),
                error=row.error,
                findings=findings,
            )
        )
    return entries


def _steps(session: Session, run_id: int) -> list[StepRecord]:
    return list(
        session.scalars(
            select(StepRecord).where(StepRecord.run_id == run_id).order_by(StepRecord.position)
        )
    )
