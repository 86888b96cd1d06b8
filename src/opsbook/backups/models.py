"""The backup catalog: one row per backup attempt, in opsbook's store.

A row is written `running` before pg_dump starts and becomes `complete` only after the
manifest is on disk and the `.partial` folder has been renamed; a failure marks it
`failed`. A process killed mid-dump leaves its row `running` with its pid and host, so a
later prune can tell it was abandoned. `kind` is `database` (a pg_dump of the target) or
`files` (a folder of the app's files, backups.files_store; `files` counts them).
`verified_at` is set by `backup verify` when everything matched (`verified_deep`: by a
restore into a scratch database), and cleared when a verify finds a difference. `source`
is the database's place (`host:port/dbname`, targets.identity), which the migrations gate
compares with its own target; for a files backup, its folder.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from opsbook.store.models import Base
from opsbook.store.types import UTCDateTime


class Backup(Base):
    __tablename__ = "backups"
    __table_args__ = (Index("ix_backups_state_started_at", "state", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    state: Mapped[str] = mapped_column(String(20))  # running, complete, failed
    kind: Mapped[str] = mapped_column(String(20), default="database", server_default="database")
    label: Mapped[str | None] = mapped_column(String(200))
    database: Mapped[str] = mapped_column(Text)
    path: Mapped[str] = mapped_column(Text)  # the final folder (absolute)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    server_version: Mapped[str | None] = mapped_column(String(50))
    pg_dump_version: Mapped[str | None] = mapped_column(String(50))
    compression: Mapped[str] = mapped_column(String(20))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    tables: Mapped[int | None] = mapped_column(Integer)
    rows: Mapped[int | None] = mapped_column(BigInteger)
    files: Mapped[int | None] = mapped_column(Integer)
    checksums: Mapped[bool] = mapped_column(Boolean, default=False)
    manifest_sha256: Mapped[str | None] = mapped_column(String(64))
    verified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    verified_deep: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    host: Mapped[str] = mapped_column(String(255))
    error: Mapped[str | None] = mapped_column(Text)


class Drill(Base):
    """One `opsbook drill`: which backup went where, how long each stage took, the RTO it
    measured, and what it found (the reports on disk say the same at more length)."""

    __tablename__ = "drills"
    __table_args__ = (Index("ix_drills_started_at", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    backup_id: Mapped[int] = mapped_column(Integer)
    took_backup: Mapped[bool] = mapped_column(Boolean)  # or used an existing one
    source: Mapped[str | None] = mapped_column(Text)  # targets.identity
    target: Mapped[str] = mapped_column(Text)  # the scratch database's name or --target, masked
    verdict: Mapped[str] = mapped_column(String(20))  # passed, failed
    rto_seconds: Mapped[float | None] = mapped_column(Float)
    # [{"name", "outcome", "seconds", "saw"}] in the order run.
    stages: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    problems: Mapped[list[str]] = mapped_column(JSON, default=list)
    report: Mapped[str] = mapped_column(Text)  # the Markdown report's path
    incident_id: Mapped[int | None] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(200))
