"""Deploy records: one row per `opsbook deploy verify`, its stages kept beside it.

`kind` leaves room for what follows a verify: a rollback is a deploy of an older commit,
recorded as a row of its own (kind "rollback") with the same stages, so "the last good
commit in production" is one query whichever way it got there."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from opsbook.store.models import Base
from opsbook.store.types import UTCDateTime


class Deploy(Base):
    __tablename__ = "deploys"
    __table_args__ = (
        Index("ix_deploys_env_verdict_ended_at", "env", "verdict", "ended_at"),
        Index("ux_deploys_running", "running", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(20), default="verify")
    commit: Mapped[str] = mapped_column(String(64))
    env: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(Text)
    verdict: Mapped[str] = mapped_column(String(20))  # passed, failed; rolling back
    failed_stage: Mapped[str | None] = mapped_column(String(20))
    # [{"name", "outcome", "started_at", "ended_at", "saw", "details"}] in the order run.
    stages: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # A rollback: the env while it runs (unique: one at a time; NULL once finished, and
    # NULLs never collide), the provider's deployment put back, why, and from which commit.
    running: Mapped[str | None] = mapped_column(String(20))
    deployment: Mapped[str | None] = mapped_column(Text)
    from_commit: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)


class DeployCheck(Base):
    """One `opsbook deploy check`: the seed's pre-deployment items, each passed, failed,
    confirmed by a person or skipped, and the verdict over them."""

    __tablename__ = "deploy_checks"
    __table_args__ = (Index("ix_deploy_checks_env_commit", "env", "commit"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    commit: Mapped[str] = mapped_column(String(64))
    env: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(200))
    verdict: Mapped[str] = mapped_column(String(20))  # running, passed, failed
    # [{"name", "title", "outcome", "saw", "by", "details"}] in the seed's order.
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
