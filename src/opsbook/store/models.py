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

    Rows are never updated, deleted or replaced (database triggers refuse it); an action
    that has a start and an end writes two rows that share `ref`. Each row is sealed into a
    hash chain (`seq`, `prev_hash`, `hash`; see `opsbook.store.chain`), so a change made by
    someone who can get past the triggers is still found by `opsbook audit verify`.
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
    # Position in the chain: 1, 2, 3... with no gaps, unlike `id` (a PostgreSQL sequence
    # skips the values of rolled-back inserts), so a missing row shows as a gap here.
    seq: Mapped[int] = mapped_column(Integer, unique=True, index=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
