"""The one table the status page keeps: scheduled maintenances. Components are config."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from opsbook.store.models import Base
from opsbook.store.types import UTCDateTime


class Maintenance(Base):
    """Planned work on public components over [starts_at, ends_at).

    `state` is what a person said (scheduled, in_progress, completed, cancelled); whether a
    scheduled one is under way is read from its window at the moment asked, so nothing has
    to wake up to start it. Rows are never deleted: a cancelled one stays, marked."""

    __tablename__ = "status_maintenances"
    __table_args__ = (Index("ix_status_maintenances_state_ends_at", "state", "ends_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(Text)
    message: Mapped[str] = mapped_column(Text, default="")
    components: Mapped[list[str]] = mapped_column(JSON, default=list)
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(20))
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
