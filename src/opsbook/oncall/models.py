"""On-call tables: overrides, and each paged person's rate-limit window. Schedules, people
and escalation policies live in opsbook.yaml."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from opsbook.store.models import Base
from opsbook.store.types import UTCDateTime


class Override(Base):
    """`person` covers the whole of `schedule` over [starts_at, ends_at). Removing one
    keeps the row (removed_at/removed_by), so the schedule shown for a past night says
    what was in force then; the audit log has both events."""

    __tablename__ = "oncall_overrides"
    __table_args__ = (Index("ix_oncall_overrides_schedule_ends_at", "schedule", "ends_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    schedule: Mapped[str] = mapped_column(String(200))
    person: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(200))
    removed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    removed_by: Mapped[str | None] = mapped_column(String(200))


class PagingWindow(Base):
    """One person's rate-limit window: opened by a page that went out at `opened_at`;
    pages to them before it closes are `folded` (a JSON list of what each said) and go
    out as one digest when it does. The row is also the lock two `opsbook serve`
    processes take (SELECT ... FOR UPDATE) before deciding to page that person."""

    __tablename__ = "paging_windows"

    person: Mapped[str] = mapped_column(String(200), primary_key=True)
    opened_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    folded: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class ReceiptCheck(Base):
    """One `opsbook oncall check`: a test page sent to the person on call through the
    outbox (`messages`: the outbox ids, one per channel), and who said they got it. The
    seed's on-call preparation, "test alert delivery", written down when it happened."""

    __tablename__ = "oncall_checks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    schedule: Mapped[str] = mapped_column(String(200))
    person: Mapped[str] = mapped_column(String(200))
    channels: Mapped[list[str]] = mapped_column(JSON, default=list)
    messages: Mapped[list[int]] = mapped_column(JSON, default=list)
    sent_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    sent_by: Mapped[str] = mapped_column(String(200))
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    confirmed_by: Mapped[str | None] = mapped_column(String(200))
