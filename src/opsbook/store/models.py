"""opsbook's own state: the tables every domain shares. Domains add theirs beside it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from opsbook.store.types import UTCDateTime


class Base(DeclarativeBase):
    pass


class AuditEntry(Base):
    """One line of the append-only audit log: who did what to which target, and how it went.

    Rows are never updated or deleted (database triggers refuse it); an action that
    has a start and an end writes two rows that share `ref`.
    """

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(200), index=True)
    target: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(50))
    ref: Mapped[str | None] = mapped_column(String(64), index=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
