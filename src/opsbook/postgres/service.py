"""The target database's operations: one function each, whichever door asks.

`opsbook db ...` (cli.py) and runbook steps (actions.py) are adapters over these
functions, so an operation behaves the same from both. Each takes keyword-only, typed
inputs and an explicit connection, store, clock and actor. A destructive operation comes
in two halves: a read-only plan, refused with a `PostgresError` before anything changes,
and the act on that plan, which writes the audit log here and nowhere else. The mechanics
live beside this module: who may be ended (remediation), how rows move (archive), how
views refresh (views), how migrations apply (migrations), what the vitals are
(diagnostics).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import psycopg

from opsbook.config import Config
from opsbook.config.secrets import mask_text
from opsbook.postgres import diagnostics, migrations, queries, views, workload
from opsbook.postgres.archive import ArchiveError
from opsbook.postgres.changes import Who
from opsbook.postgres.changes_archive import ArchivalPlan, Archived, plan_archive, run_archive
from opsbook.postgres.changes_migrations import (
    BackupCatalog,
    BackupRequired,
    MigrationPlan,
    MigrationsApplied,
    apply_migrations,
    plan_migrations,
)
from opsbook.postgres.changes_sessions import (
    Ended,
    MissingSessions,
    SessionPlan,
    UnknownIncident,
    end_sessions,
    plan_kill,
    plan_terminate_idle,
)
from opsbook.postgres.changes_views import (
    RefreshPlan,
    ViewsRefreshed,
    plan_refresh,
    refresh_views,
)
from opsbook.postgres.diagnostics import ActiveQuery, PoolUse, StatusReport
from opsbook.postgres.errors import PostgresError, Unreachable
from opsbook.postgres.locks import LockSession, blocking_tree
from opsbook.postgres.migrations import MigrationError, MigrationFailed
from opsbook.postgres.remediation import Protected, Session
from opsbook.postgres.rights import Visibility
from opsbook.postgres.rights import visibility as read_visibility
from opsbook.postgres.views import MaterializedView, Refreshed, ViewError
from opsbook.store import Store
from opsbook.store.audit import entries as audit_entries

# The postgres domain's public API: what the doors and other domains call.
__all__ = [
    "INDEX_KINDS",
    "ActiveQuery",
    "ArchivalPlan",
    "ArchiveError",
    "Archived",
    "BackupCatalog",
    "BackupRequired",
    "Connection",
    "Ended",
    "Grouping",
    "IndexKind",
    "LockSession",
    "MaterializedView",
    "MigrationError",
    "MigrationFailed",
    "MigrationPlan",
    "MigrationsApplied",
    "MissingSessions",
    "PoolUse",
    "PostgresError",
    "Protected",
    "RefreshPlan",
    "Refreshed",
    "Session",
    "SessionPlan",
    "Sizes",
    "StatusReport",
    "UnknownIncident",
    "Unreachable",
    "ViewError",
    "ViewListing",
    "ViewsRefreshed",
    "Visibility",
    "Who",
    "apply_migrations",
    "blocked_queries",
    "connect",
    "connections",
    "end_sessions",
    "indexes",
    "list_views",
    "migration_status",
    "plan_archive",
    "plan_kill",
    "plan_migrations",
    "plan_refresh",
    "plan_terminate_idle",
    "refresh_views",
    "run_archive",
    "sequences",
    "sizes",
    "slow_queries",
    "status",
    "visibility",
]

Connection = psycopg.Connection[Any]


def connect(url: str) -> Connection:
    """opsbook's connection to the target database; Unreachable, password masked, if refused."""
    try:
        return queries.connect(url)
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise Unreachable(
            f"cannot connect to the target database: {mask_text(first, [url])}"
        ) from None


# --- reading ---------------------------------------------------------------------------------

Grouping = Literal["state", "user", "application", "client"]
IndexKind = Literal["unused", "duplicate", "invalid"]
INDEX_KINDS: tuple[IndexKind, ...] = ("unused", "duplicate", "invalid")


def status(*, conn: Connection, config: Config) -> StatusReport:
    """The vitals, judged against the config's thresholds and disk quota."""
    return diagnostics.status(
        conn,
        thresholds=diagnostics.Thresholds.from_config(config),
        disk_quota=config.database.disk_quota,
    )


def pool_use(*, conn: Connection, config: Config) -> PoolUse:
    """How full the connection pool is, against the config's thresholds."""
    return diagnostics.pool_use(conn, thresholds=diagnostics.Thresholds.from_config(config))


def connections(*, conn: Connection, by: Grouping) -> list[dict[str, Any]]:
    """Client connections counted by state, user, application or client address."""
    return queries.rows(conn, "connections_by", {"group": by})


def slow_queries(
    *, conn: Connection, min_duration: dt.timedelta, limit: int = 10
) -> list[ActiveQuery]:
    """Active queries running at least `min_duration`, longest first."""
    return diagnostics.active_queries(conn, min_seconds=min_duration.total_seconds(), limit=limit)


def top_statements(*, conn: Connection, limit: int = 10) -> workload.Workload:
    """The statements that cost most since pg_stat_statements was reset (a quarter's
    review), or how to enable the extension when it is not there."""
    return workload.top_statements(conn, limit=limit)


def blocked_queries(*, conn: Connection) -> list[LockSession]:
    """Sessions in a lock wait as a tree: each root blocker, then the sessions waiting on
    it, depth first, with the lock each waits for and holds."""
    return blocking_tree(conn)


def visibility(*, conn: Connection) -> Visibility:
    """Whether this role reads other roles' sessions in full, and the line that says what
    to grant when it does not."""
    return read_visibility(conn)


@dataclass(frozen=True)
class Sizes:
    """The database's size and its largest relations (`table_sizes.sql` rows)."""

    database: str
    database_bytes: int
    relations: list[dict[str, Any]]


def sizes(*, conn: Connection, limit: int = 20, tables_only: bool = False) -> Sizes:
    """The database's size, then its largest tables and materialized views."""
    server = queries.one(conn, "server_info")
    found = queries.rows(conn, "table_sizes", {"limit": limit})
    if tables_only:
        found = [r for r in found if r["kind"] == "table"]
    return Sizes(server["database"], server["database_bytes"], found)


def indexes(
    *, conn: Connection, kinds: Sequence[IndexKind] = INDEX_KINDS
) -> dict[str, list[dict[str, Any]]]:
    """Indexes worth a look, by kind: never scanned, covered by another, left invalid."""
    return {kind: queries.rows(conn, f"{kind}_indexes") for kind in kinds}


def sequences(*, conn: Connection) -> list[dict[str, Any]]:
    """Sequences and the share of their range used."""
    return queries.rows(conn, "sequences")


def migration_status(*, conn: Connection, directory: Path) -> migrations.Status:
    """Applied against pending migrations of `directory`."""
    return migrations.status(conn, directory)


@dataclass(frozen=True)
class ViewListing:
    """A materialized view, whether it can refresh without blocking readers, and when
    opsbook last refreshed it."""

    schema: str
    name: str
    bytes: int
    populated: bool
    unique_index: bool
    last_refresh: dt.datetime | None
    concurrently: bool


def list_views(*, conn: Connection, store: Store) -> list[ViewListing]:
    """Every materialized view with its last refresh by opsbook."""
    # PostgreSQL does not record when a view was refreshed; opsbook's audit log does.
    with store.session() as session:
        refreshes = audit_entries(session, limit=1000, action="db.view.refresh")
    last: dict[str, dt.datetime] = {}
    for entry in refreshes:  # newest first
        if entry.outcome == "ok":
            last.setdefault(entry.target, entry.at)
    return [
        ViewListing(
            view.schema,
            view.name,
            view.bytes,
            view.populated,
            view.unique_index,
            last.get(view.qualified),
            view.why_not_concurrently is None,
        )
        for view in views.listing(conn)
    ]
