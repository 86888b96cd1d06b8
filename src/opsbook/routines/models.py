"""What the schedules keep: when each routine was first seen, every slot claimed (and the
run that served it), and when each API key was last rotated.

A run's findings are its runbook run's steps (runbooks/records.py), joined by `run_id`:
a person marking a step done there shows here at once, nothing copied to drift."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from opsbook.store.models import Base
from opsbook.store.types import UTCDateTime


class RoutineSeen(Base):
    """The first time a scheduler saw a routine: slots before it are not owed (a routine
    added on a Thursday does not run last Monday's work), slots after it are, even if
    opsbook was down at the time."""

    __tablename__ = "maintenance_routines"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    since: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class RoutineRun(Base):
    """One slot of one routine, claimed by exactly one process: the unique key is the
    claim (INSERT .. ON CONFLICT DO NOTHING), so two serve processes never run it twice."""

    __tablename__ = "maintenance_runs"
    __table_args__ = (UniqueConstraint("routine", "slot_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    routine: Mapped[str] = mapped_column(String(64), index=True)
    slot_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    trigger: Mapped[str] = mapped_column(String(20))  # schedule, manual
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    # Earlier slots that passed while opsbook was down and were folded into this run.
    missed: Mapped[int] = mapped_column(Integer, default=0)
    claimed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str] = mapped_column(String(200))
    actor: Mapped[str] = mapped_column(String(200))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runbook_runs.id"))
    # Why no runbook run could start (the runbook is gone or does not validate).
    error: Mapped[str | None] = mapped_column(Text)


class KeyRotation(Base):
    __tablename__ = "maintenance_key_rotations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(64), index=True)
    rotated_on: Mapped[dt.date] = mapped_column(Date)
    actor: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
