"""Watch state: metric samples from checks, and alerts with their lifecycle."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from opsbook.store.models import Base
from opsbook.store.types import UTCDateTime


class Sample(Base):
    """One value of one metric from one check run: what alert rules' windows read."""

    __tablename__ = "metric_samples"
    __table_args__ = (Index("ix_metric_samples_name_at", "name", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(200))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    value: Mapped[float] = mapped_column(Float)


class Alert(Base):
    """One alert per rule and labels while open (pending or firing); the database's partial
    unique index makes a duplicate impossible, not just unlikely."""

    __tablename__ = "alerts"
    __table_args__ = (
        Index(
            "uq_alerts_open_fingerprint",
            "fingerprint",
            unique=True,
            sqlite_where=text("state != 'resolved'"),
            postgresql_where=text("state != 'resolved'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rule: Mapped[str] = mapped_column(String(200))
    fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    labels: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    source: Mapped[str] = mapped_column(String(30))
    state: Mapped[str] = mapped_column(String(20), index=True)
    level: Mapped[str] = mapped_column(String(10))
    value: Mapped[float | None] = mapped_column(Float)
    summary: Mapped[str] = mapped_column(Text)
    component: Mapped[str | None] = mapped_column(String(200))
    runbook: Mapped[str | None] = mapped_column(String(200))
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    fired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_active_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id"), index=True)
    # The Alertmanager group it came in (`groupKey`, cut to fit): its group's incident.
    group_key: Mapped[str | None] = mapped_column(String(200), index=True)
    # Ended because a person resolved its incident while it still fired: the alert that
    # follows it opens a new incident linking that one.
    detached: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class CheckState(Base):
    """The latest result of each check and its debounce counters (survive a restart)."""

    __tablename__ = "check_state"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))
    state: Mapped[str] = mapped_column(String(20))
    summary: Mapped[str] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    failing: Mapped[bool] = mapped_column(Boolean)
    failures: Mapped[int] = mapped_column(Integer)
    successes: Mapped[int] = mapped_column(Integer)
    latency_ms: Mapped[float | None] = mapped_column(Float)


class CheckHistory(Base):
    """Runs of one check summed per bucket of `every` seconds: uptime and latency over
    months without keeping every result."""

    __tablename__ = "check_history"
    __table_args__ = (Index("ix_check_history_every_bucket", "every", "bucket"),)

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    every: Mapped[int] = mapped_column(Integer, primary_key=True)
    bucket: Mapped[dt.datetime] = mapped_column(UTCDateTime, primary_key=True)
    runs: Mapped[int] = mapped_column(Integer)
    ok: Mapped[int] = mapped_column(Integer)
    degraded: Mapped[int] = mapped_column(Integer)
    down: Mapped[int] = mapped_column(Integer)
    timed: Mapped[int] = mapped_column(Integer)  # runs that measured a latency
    latency_sum: Mapped[float] = mapped_column(Float)
    latency_max: Mapped[float | None] = mapped_column(Float)


class MetricHistory(Base):
    """Samples of one metric from one source summed per bucket: count, total, low, high."""

    __tablename__ = "metric_history"
    __table_args__ = (Index("ix_metric_history_every_bucket", "every", "bucket"),)

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    source: Mapped[str] = mapped_column(String(200), primary_key=True)
    every: Mapped[int] = mapped_column(Integer, primary_key=True)
    bucket: Mapped[dt.datetime] = mapped_column(UTCDateTime, primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    total: Mapped[float] = mapped_column(Float)
    low: Mapped[float] = mapped_column(Float)
    high: Mapped[float] = mapped_column(Float)
