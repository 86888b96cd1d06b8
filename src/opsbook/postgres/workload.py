"""What the database spent its time on over a period: `pg_stat_statements`' totals.

`slow_queries.sql` shows what runs now; the seed's quarterly "review and optimize slow
queries" means the quarter's, which only the extension keeps. When it is not there the
answer says how to turn it on instead of failing the review.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from opsbook.postgres import queries

# Supabase preloads the library; the extension itself is enabled per database.
ENABLE = (
    "pg_stat_statements is not installed in this database. On Supabase: Dashboard >"
    " Database > Extensions > pg_stat_statements > Enable (or run"
    " `create extension pg_stat_statements with schema extensions;`). Elsewhere add it to"
    " shared_preload_libraries, restart, then create the extension."
)
NOT_LOADED = (
    "pg_stat_statements is installed but its library is not loaded: add it to"
    " shared_preload_libraries and restart the server (Supabase loads it already)."
)


@dataclass(frozen=True)
class Workload:
    """The costliest statements, and since when they were counted (None: unknown), or
    why there are none to show (`missing`)."""

    statements: list[dict[str, Any]] = field(default_factory=list)
    since: str | None = None
    missing: str | None = None


def _schema(conn: psycopg.Connection[Any]) -> str | None:
    row = conn.execute(
        "select n.nspname from pg_extension e join pg_namespace n on n.oid = e.extnamespace"
        " where e.extname = 'pg_stat_statements'"
    ).fetchone()
    return str(row[0]) if row else None


def top_statements(conn: psycopg.Connection[Any], *, limit: int) -> Workload:
    """The `limit` statements with the most total execution time in this database."""
    schema = _schema(conn)
    if schema is None:
        return Workload(missing=ENABLE)
    stats = sql.Identifier(schema, "pg_stat_statements")
    text = sql.SQL(queries.sql("statement_totals")).format(stats=stats)
    try:
        with conn.transaction(), conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
            cur.execute(text, {"limit": limit})
            found = [queries.values(r) for r in cur.fetchall()]
            since = _since(conn, schema)
    except psycopg.errors.ObjectNotInPrerequisiteState:
        return Workload(missing=NOT_LOADED)
    return Workload(found, since)


def _since(conn: psycopg.Connection[Any], schema: str) -> str | None:
    """When the counting began (PostgreSQL 14+ keeps it in pg_stat_statements_info)."""
    if conn.info.server_version < 140000:
        return None
    info = sql.SQL("select stats_reset from {}").format(
        sql.Identifier(schema, "pg_stat_statements_info")
    )
    row = conn.execute(info).fetchone()
    return queries.plain(row[0]) if row and row[0] else None
